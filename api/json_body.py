"""The shape a JSON request body may have, checked once before any parser builds it.

Python's ``json`` recurses once per nesting level (a body of ``[[[[...`` 100,000 deep ends in a
RecursionError, a 500 with a stack trace) and turns digits into ``int`` up to a process-wide limit
(5,000 digits raise ValueError). Neither is a fact a pathway records: nesting is capped at
``MAX_DEPTH`` and numbers at ``MAX_DIGITS`` digits, both a 422 problem naming the rule.
"""
from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.exceptions import BadRequest, UnprocessableEntity

MAX_DEPTH = 32
MAX_DIGITS = 64
# strings (with their escapes) first, so that brackets inside them do not count
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_OPENERS = frozenset(b"[{")


class BodyRefused(UnprocessableEntity):
    """422 with the offending rule as ``errors._schema`` (see errors.http_problem)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.data = {"errors": {"_schema": [message]}}


def nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in ``raw`` (a linear scan; the text need not be valid JSON)."""
    depth = deepest = 0
    for token in _TOKENS.finditer(raw):
        first = token.group()[0]
        if first in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif first != ord('"'):
            depth -= 1
    return deepest


def _number(text: str) -> Any:
    if len(text.lstrip("-").replace(".", "").split("e")[0].split("E")[0]) > MAX_DIGITS:
        raise BodyRefused(f"a number in the body has more than {MAX_DIGITS} digits")
    return float(text) if any(c in text for c in ".eE") else int(text)


def _constant(name: str) -> Any:
    raise BodyRefused(f"{name} is not a JSON number")


def check_json_body(raw: bytes) -> None:
    """Refuse a body nested deeper than MAX_DEPTH or with a number longer than MAX_DIGITS (422),
    or that is not JSON (400), before webargs and marshmallow parse it."""
    if nesting_depth(raw) > MAX_DEPTH:
        raise BodyRefused(f"the body nests arrays and objects more than {MAX_DEPTH} levels deep")
    try:
        json.loads(raw, parse_int=_number, parse_float=_number, parse_constant=_constant)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
