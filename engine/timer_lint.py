"""Deploy-time bounds of literal timer expressions (durations, dates, cycles).

A timer is work the scheduler does for ever: an unbounded or zero-interval cycle
fires on every round, a duration of 99,999 years or a date in year 10000 overflows
when it is armed, a negative one makes no sense. What can be seen in a literal is
refused at deploy, naming the element; an expression computed from data is checked
when it runs, and a failure there is an incident of that pathway.

SpiffWorkflow's own cycle parser reads the wall clock (and so refused every cycle
outside an engine run); this one reads the text only.
"""
from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_SPAN = timedelta(days=100 * 366)  # a timer (or a whole cycle) may reach a century ahead, no further
MAX_REPEATS = 10_000                  # daily for 15 years of follow-up is 5,475
_DAYS = {"years": 365.25, "months": 30.44, "weeks": 7, "days": 1}
_SECONDS = {"hours": 3600, "minutes": 60, "seconds": 1}


def string_literal(expression: str) -> str | None:
    """The text of an expression that is one string literal (``"P5D"``), else None (computed at run time)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    body = tree.body
    return body.value if isinstance(body, ast.Constant) and isinstance(body.value, str) else None


def duration_problem(text: str) -> str | None:
    """Why an ISO 8601 duration (``P2D``, ``PT1H``) cannot be a timer's, or None."""
    span, problem = _duration(text)
    if problem is None and span is not None and span > MAX_SPAN:
        problem = f"{text!r} is longer than {MAX_SPAN.days // 366} years"
    return problem


def date_problem(text: str) -> str | None:
    """Why an ISO 8601 date-time cannot be a timer's, or None."""
    moment, problem = _moment(text)
    if problem is None and moment is not None and not EARLIEST <= moment < LATEST:
        problem = f"{text!r} lies outside {EARLIEST.year}-{LATEST.year}"
    return problem


def cycle_problem(text: str) -> str | None:
    """Why an ISO 8601 repeating interval (``R5/PT1S``, ``R3/2026-01-01T08:00:00Z/P1D``) cannot be a
    timer's, or None: it must say how many times (at least 1, at most MAX_REPEATS), every part
    must parse, the interval must be longer than zero and the whole cycle within MAX_SPAN."""
    parts = text.strip().upper().split("/")
    if not parts[0].startswith("R") or len(parts) not in (2, 3):
        return f"{text!r} is not an ISO 8601 repeating interval (R<n>/<duration>, R<n>/<start>/<duration>)"
    count = parts[0][1:]
    if not count:
        return f"{text!r} repeats without end: say how many times (R<n>/...)"
    if not count.isdigit() or not 1 <= int(count) <= MAX_REPEATS:
        return f"{text!r}: the number of repetitions must lie between 1 and {MAX_REPEATS}"
    interval = None
    for part in parts[1:]:
        if part.startswith("P"):
            interval, problem = _duration(part)
        else:
            problem = date_problem(part)
        if problem is not None:
            return f"{text!r}: {problem}"
    if interval is None:
        return f"{text!r} names no interval (a duration such as PT1H)"
    if interval <= timedelta(0):
        return f"{text!r} has a zero interval: it would fire on every round"
    if interval * int(count) > MAX_SPAN:
        return f"{text!r} runs longer than {MAX_SPAN.days // 366} years"
    return None


def _duration(text: str) -> tuple[timedelta | None, str | None]:
    text = text.strip()
    if not text.upper().startswith("P"):
        return None, f"{text!r} is not an ISO 8601 duration"
    try:
        parsed = TimerEventDefinition.parse_iso_duration(text)
    except Exception:  # SpiffWorkflow raises a bare Exception for a bad duration
        return None, f"{text!r} is not an ISO 8601 duration"
    if not parsed:
        return None, f"{text!r} is not an ISO 8601 duration"
    days = sum(float(parsed.get(k, 0)) * f for k, f in _DAYS.items())
    seconds = sum(float(parsed.get(k, 0)) * f for k, f in _SECONDS.items())
    if days > MAX_SPAN.days * 2 or seconds > MAX_SPAN.total_seconds() * 2:
        return None, f"{text!r} is longer than {MAX_SPAN.days // 366} years"
    return timedelta(days=days, seconds=seconds), None


def _moment(text: str) -> tuple[datetime | None, str | None]:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, f"{text!r} is not an ISO 8601 date-time"
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), None
