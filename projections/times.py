"""Instants in views: one text form (UTC, microseconds) so SQL ordering is time ordering.

Forms record dates (``2026-02-01``) and date-times with offsets; a date counts as
midnight UTC of that day, which is what a day-granular KPI needs.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from cartpath.engine.times import parse_instant

DAY_SECONDS = 86400.0


def parse(value: Any) -> datetime | None:
    """The engine's parser, lenient as a view must be: absent or unreadable is None, no offset is UTC."""
    if value is None or value == "":
        return None
    try:
        return parse_instant(value if isinstance(value, datetime) else str(value), naive_is_utc=True)
    except ValueError:
        return None


def utc(value: Any) -> str | None:
    """The view form of an instant (None when absent or unreadable)."""
    # Fast paths for what the engine writes (UTC isoformat, with or without microseconds):
    # the runner calls this for nearly every event.
    if type(value) is str and value.endswith("+00:00"):
        if len(value) == 32 and value[19] == ".":
            return value
        if len(value) == 25 and value[10] == "T":
            return value[:19] + ".000000+00:00"
    moment = parse(value)
    return None if moment is None else moment.isoformat(timespec="microseconds")


def days_between(start: Any, end: Any) -> float | None:
    a, b = parse(start), parse(end)
    if a is None or b is None:
        return None
    return (b - a).total_seconds() / DAY_SECONDS
