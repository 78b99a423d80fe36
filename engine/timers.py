"""Which pathways have a timer due: a small pull-based index over the event log.

It only *suggests* pathways to look at; the Pathway aggregate itself decides
what is due, so a stale index can make the scheduler look in vain but never
fire a timer that is not there.
"""
from __future__ import annotations

import threading
import uuid
from datetime import datetime

from eventsourcing.utils import get_topic

from .follow import LogFollower
from .pathway import Pathway

_TOPICS = [get_topic(getattr(Pathway, name)) for name in ("TimerArmed", "WaitEnded", "PathwayEnded")]


class TimerIndex:
    def __init__(self, app, batch: int = 1000):
        self._log = LogFollower(app, _TOPICS, batch)
        self._due: dict[uuid.UUID, dict[str, str]] = {}
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        with self._lock:
            for _, ev in self._log.new_events():
                timers = self._due.setdefault(ev.originator_id, {})
                name = type(ev).__name__
                if name == "TimerArmed" and ev.due_at:
                    timers[ev.task_id] = ev.due_at
                elif name == "WaitEnded":
                    timers.pop(ev.task_id, None)
                elif name == "PathwayEnded":
                    timers.clear()
                if not timers:
                    self._due.pop(ev.originator_id, None)

    def due(self, now: datetime) -> list[tuple[str, uuid.UUID]]:
        """(earliest due time, pathway id) for pathways with a timer due by ``now``, earliest first."""
        self.catch_up()
        limit = now.isoformat()
        found = []
        for pathway_id, timers in self._due.items():
            earliest = min(timers.values())
            if _key(earliest) <= _key(limit):
                found.append((earliest, pathway_id))
        return sorted(found, key=lambda pair: _key(pair[0]))

    def next_due(self) -> str | None:
        self.catch_up()
        dues = [min(t.values()) for t in self._due.values() if t]
        return min(dues, key=_key) if dues else None


def _key(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
