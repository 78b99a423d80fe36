"""What every layer's CLI commands share: JSON output and one plain line per refusal."""
from __future__ import annotations

import json
import sys
from functools import wraps
from typing import Any, Callable, TypeVar

import click

from .errors import CartpathError, DefinitionRejected

F = TypeVar("F", bound=Callable[..., Any])


def out(value: Any) -> None:
    """Print a command's result as JSON (ISO 8601 times, as the API writes them)."""
    click.echo(json.dumps(value, indent=2, default=_json_default, sort_keys=False))


def _json_default(value: Any) -> Any:
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


def refusals(func: F) -> F:
    """Map domain refusals to one plain line on stderr and exit status 1."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DefinitionRejected as err:
            for problem in err.problems:
                click.echo(f"{problem['file']}:{problem.get('line') or '?'}: {problem['message']}", err=True)
            click.echo(f"error: {err.detail}", err=True)
            sys.exit(1)
        except CartpathError as err:
            click.echo(f"error: {err.detail}", err=True)
            sys.exit(1)
        except (ValueError, OSError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


def json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} is not valid JSON: {err.msg} at column {err.colno}") from None
