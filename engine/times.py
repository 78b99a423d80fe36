"""The one parser of instants. Every module that reads a date-time (forms, the clock,
timers, the script sandbox, replay, the demo, the projections) reads it here, so an
instant means the same everywhere: an aware datetime in UTC.

Text is ISO 8601 (a trailing ``Z`` is UTC). What has no offset is refused unless the
caller says it is UTC (``naive_is_utc``): input from people is refused, dates the model
computes with count as midnight UTC.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def parse_instant(value: Any, *, naive_is_utc: bool = False) -> datetime:
    """``value`` (ISO 8601 text, a datetime, or a date: its midnight) as an aware UTC datetime;
    ValueError if it is none of these, or has no offset and ``naive_is_utc`` is false."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"not a date or datetime: {value!r}")
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"{value!r} has no UTC offset")
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
