"""What every layer's CLI commands share: JSON output and one plain line per refusal."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from eventsourcing.persistence import PersistenceError

from .errors import CartpathError, DefinitionRejected

F = TypeVar("F", bound=Callable[..., Any])


def out(value: Any) -> None:
    """Print a command's result as JSON (ISO 8601 times, as the API writes them)."""
    click.echo(json.dumps(value, indent=2, default=iso_default, sort_keys=False))


def iso_default(value: Any) -> Any:
    """``json.dumps`` default: times as ISO 8601 with ``T`` (as the API writes them), the rest as text."""
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
        except PersistenceError as err:  # the store failed under us (e.g. PostgreSQL went away)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            click.echo(f"error: the store refused or could not be reached ({type(err).__name__}: {first})", err=True)
            sys.exit(1)
        except (ValueError, OSError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


def create_data_dir() -> None:
    """For the commands that may start a new store (serve, db init, demo): create CARTPATH_DATA_DIR
    if the store lives there and it is missing, and say so (every other command refuses it)."""
    from .settings import ensure_data_dir, uses_data_dir
    if uses_data_dir():
        created = ensure_data_dir()
        if created is not None:
            click.echo(f"cartpath: created CARTPATH_DATA_DIR {str(created)!r} (a new, empty store)", err=True)


def json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} is not valid JSON: {err.msg} at column {err.colno}") from None
