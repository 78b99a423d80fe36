"""Time travel: which of a pathway's events make up its state "as of" an earlier point.

An auditor asks for a pathway as it was at a point given two ways, told apart by their
spelling so neither can be mistaken for the other:

- an integer is a **version**: the pathway after its first N events (N is the
  ``position`` of ``GET /pathways/{id}/history``, 1 = just started; the current
  version is the pathway's ``version``/ETag);
- an ISO 8601 date-time with an offset (``2026-03-05T12:00:00Z``) is a **moment**:
  the pathway after every event whose recorded time (``at``, the store's clock, as
  the history shows it) is at or before it. A command's events all carry its time and
  a pathway's times never go back, so these events are always a prefix of its history.

The state is then rebuilt from those events alone (no snapshot, no live view), so it
is exactly what the pathway was. A point the pathway never had is refused, naming why:
version 0 or beyond the current one, a moment before it started or ahead of the
store's clock, anything else.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidTaskData, UnknownPathway
from .replay import replay_events
from .times import parse_instant

_VERSION = re.compile(r"[0-9]{1,18}")


class InvalidAsOf(InvalidTaskData):
    """``as_of`` names no point of this pathway's history (malformed, before it, or ahead of now)."""

    code = "invalid-as-of"

    def __init__(self, detail: str):
        super().__init__(detail, {"as_of": [detail]})


@dataclass(frozen=True)
class AsOf:
    """The point resolved: the pathway's version there, the recorded time of that version's event
    (``at``), and the moment the state is shown at (``moment``: the one asked for, or ``at``),
    up to which open steps count their waiting time."""

    requested: str
    version: int
    at: datetime
    moment: datetime

    def describe(self) -> dict[str, Any]:
        return {"requested": self.requested, "version": self.version, "at": self.at, "moment": self.moment}


def parse_point(text: str) -> int | datetime:
    """A version (an integer) or a moment (ISO 8601 date-time with an offset); InvalidAsOf otherwise."""
    text = (text or "").strip()
    if _VERSION.fullmatch(text):
        return int(text)
    if "T" not in text.upper():
        raise InvalidAsOf(f"as_of must be a version (an integer, as `position` in the history) or an ISO 8601 "
                          f"date-time with an offset (e.g. 2026-03-05T12:00:00Z), not {text!r}")
    try:
        return parse_instant(text)
    except ValueError:
        raise InvalidAsOf(f"as_of {text!r} is not an ISO 8601 date-time with an offset "
                          f"(e.g. 2026-03-05T12:00:00Z), nor a version") from None


def events_as_of(events: list[Any], text: str, now: datetime) -> tuple[list[Any], AsOf]:
    """The prefix of a pathway's ``events`` (domain events, oldest first) that ``text`` names."""
    if not events:
        raise UnknownPathway("pathway has no events")
    point = parse_point(text)
    if isinstance(point, int):
        if not 1 <= point <= len(events):
            raise InvalidAsOf(f"as_of version {point} is not in this pathway's history: its versions are 1 to "
                              f"{len(events)}")
        kept = events[:point]
    else:
        if point > now:
            raise InvalidAsOf(f"as_of {text.strip()!r} is ahead of the store's clock ({now.isoformat()}): "
                              "the future has no history yet")
        kept = []
        for ev in events:
            if ev.at > point:
                break
            kept.append(ev)
        if not kept:
            raise InvalidAsOf(f"as_of {text.strip()!r} is before the pathway started "
                              f"({events[0].at.isoformat()})")
    last = kept[-1]
    return kept, AsOf(requested=text.strip(), version=last.originator_version, at=last.at,
                      moment=last.at if isinstance(point, int) else point)


def resolve(app: Any, pathway_id: uuid.UUID, text: str) -> tuple[list[Any], AsOf]:
    """The pathway's events up to ``text`` (see the module's doc), and the point resolved."""
    return events_as_of(list(app.events.get(pathway_id)), text, app.clock.now())


def pathway_as_of(app: Any, pathway_id: uuid.UUID, text: str) -> tuple[Any, AsOf]:
    """The Pathway as it was at ``text``, and the point resolved."""
    kept, point = resolve(app, pathway_id, text)
    return replay_events(None, kept), point  # from the events alone: no snapshot
