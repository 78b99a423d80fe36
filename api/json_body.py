"""The shape a JSON request body may have, checked once before any parser builds it.

Python's ``json`` recurses once per nesting level (a body of ``[[[[...`` 100,000 deep ends in a
RecursionError, a 500 with a stack trace) and turns digits into ``int`` up to a process-wide limit
(5,000 digits raise ValueError). Neither is a fact a pathway records: nesting is capped at
``MAX_DEPTH`` and integers at ``MAX_DIGITS`` digits, both a 422 problem naming the rule.
"""
from __future__ import annotations

import json
from typing import Any

from werkzeug.exceptions import BadRequest, UnprocessableEntity

MAX_DEPTH = 32
MAX_DIGITS = 64
# digits to "0", everything else to "x": a run of MAX_DIGITS + 1 zeros is then a fast substring search
_DIGITS_ONLY = bytes.maketrans(bytes(range(256)), bytes(48 if 48 <= b <= 57 else 120 for b in range(256)))
_LONG_RUN = b"0" * (MAX_DIGITS + 1)


class BodyRefused(UnprocessableEntity):
    """422 with the offending rule as ``errors._schema`` (see errors.http_problem)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.data = {"errors": {"_schema": [message]}}


TOO_DEEP = f"the body nests arrays and objects more than {MAX_DEPTH} levels deep"
TOO_LONG = f"a number in the body has more than {MAX_DIGITS} digits"


def _constant(name: str) -> Any:
    raise BodyRefused(f"{name} is not a JSON number")


def check_depth(value: Any) -> None:
    """How deeply a parsed body nests, without recursion: a walk of its containers only."""
    level, depth = [value], 1
    while level:
        if depth > MAX_DEPTH:
            raise BodyRefused(TOO_DEEP)
        below: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            below.extend([c for c in children if type(c) is dict or type(c) is list])
        level, depth = below, depth + 1


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise BodyRefused(TOO_LONG)
    return int(text)


def check_json_body(raw: bytes) -> None:
    """Refuse a body nested deeper than MAX_DEPTH or with a number longer than MAX_DIGITS (422),
    or that is not JSON (400), before webargs and marshmallow parse it. The C parser itself stops
    at the interpreter's recursion limit (RecursionError, caught here) and at the int-string limit
    (ValueError); anything it builds is then walked once."""
    # the per-number hook only when a long run of digits is there at all (C-speed translate and search)
    hooks: dict[str, Any] = {"parse_int": _integer} if _LONG_RUN in raw.translate(_DIGITS_ONLY) else {}
    try:
        parsed = json.loads(raw, parse_constant=_constant, **hooks)
    except RecursionError:
        raise BodyRefused(TOO_DEEP) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise BodyRefused(TOO_LONG) from None
    if isinstance(parsed, (dict, list)):
        check_depth(parsed)
