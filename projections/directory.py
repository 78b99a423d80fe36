"""Which pathways exist and which tasks are ready: a small pull-based index over the event log.

The list endpoints (`GET /pathways`, `GET /tasks`) need to filter across
pathways without loading each one. This index follows the outcome events
(the same ones the aggregate applies to its ``ready`` set and status), in log
order, and catches up on each request, so a client that has just written
reads its write. It lives in each server process (the API's list endpoints);
the views in the database are the place for heavier reports.
"""
from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from cartpath.engine.follow import LogFollower
from cartpath.engine.pathway import Pathway

_FOLLOWED = ("Started", "TaskBecameReady", "TaskCompleted", "TaskWithdrawn", "WaitEnded", "PathwayEnded",
             "IncidentRaised", "IncidentResolved", "Migrated")


@dataclass
class PathwayEntry:
    id: uuid.UUID
    position: int
    business_key: str | None
    patient_ref: str
    center: str
    indication: str
    product: str
    definition: dict[str, Any]
    started_at: datetime
    status: str = "active"
    outcome: str | None = None
    ended_at: datetime | None = None
    ready: dict[str, int] = field(default_factory=dict)  # task uuid -> position it became ready at
    incident: dict[str, Any] | None = None  # the open incident (status "incident" while there is one)


@dataclass
class ReadyTask:
    position: int
    pathway_id: uuid.UUID
    task_id: str
    name: str
    lane: str | None
    title: str
    ready_since: datetime
    due_at: str | None = None


class Directory:
    def __init__(self, app, batch: int = 2000):
        self._app = app
        self._log = LogFollower(app, [get_topic(getattr(Pathway, name)) for name in _FOLLOWED], batch)
        self._lock = threading.Lock()
        self.pathways: dict[uuid.UUID, PathwayEntry] = {}
        self._starts: list[int] = []          # positions of Started, ascending
        self._start_ids: list[uuid.UUID] = []
        self.tasks: dict[int, ReadyTask] = {}  # by position it became ready at (ascending insertion)

    def catch_up(self) -> None:
        with self._lock:
            for position, ev in self._log.new_events():
                self._apply(position, ev)

    def _apply(self, position: int, ev) -> None:
        kind = type(ev).__name__
        pid = ev.originator_id
        if kind == "Started":
            start = ev.start
            self.pathways[pid] = PathwayEntry(
                id=pid, position=position, business_key=ev.business_key, patient_ref=start["patient_ref"],
                center=start["center"], indication=start["indication"], product=start["product"],
                definition={"key": ev.definition["key"], "version": ev.definition["version"]}, started_at=ev.at)
            self._starts.append(position)
            self._start_ids.append(pid)
            return
        entry = self.pathways.get(pid)
        if entry is None:
            return
        if kind == "TaskBecameReady":
            entry.ready[ev.task_id] = position
            self.tasks[position] = ReadyTask(position, pid, ev.task_id, ev.name, ev.lane, ev.title, ev.at, ev.due_at)
        elif kind in ("TaskCompleted", "TaskWithdrawn", "WaitEnded"):
            self.tasks.pop(entry.ready.pop(ev.task_id, -1), None)
        elif kind == "IncidentRaised":
            entry.status, entry.incident = "incident", {"incident_id": ev.incident_id, "node": ev.node,
                                                        "error_class": ev.error_class, "message": ev.message,
                                                        "at": ev.at}
        elif kind == "IncidentResolved":
            entry.status, entry.incident = "active", None
        elif kind == "Migrated":  # moved to another version: its tasks' forms are that version's
            entry.definition = {"key": ev.to["key"], "version": ev.to["version"]}
        elif kind == "PathwayEnded":
            entry.status, entry.outcome, entry.ended_at, entry.incident = "ended", ev.outcome, ev.at, None
            for pos in entry.ready.values():
                self.tasks.pop(pos, None)
            entry.ready.clear()

    def pathways_after(self, after: int) -> Iterator[PathwayEntry]:
        """Pathways in the order they started, from the one after position ``after``."""
        self.catch_up()
        with self._lock:
            i = bisect.bisect_right(self._starts, after)
            ids = self._start_ids[i:]
        for pid in ids:
            yield self.pathways[pid]

    def tasks_after(self, after: int) -> Iterator[ReadyTask]:
        self.catch_up()
        with self._lock:
            # insertion order is log order: positions only grow
            found = [task for pos, task in self.tasks.items() if pos > after]
        yield from found


def incident_item(entry: PathwayEntry) -> dict[str, Any]:
    """An open incident as the incident list shows it: which pathway, where, which process version."""
    return {"pathway_id": str(entry.id), "position": entry.position, "business_key": entry.business_key,
            "center": entry.center, "definition": entry.definition, **(entry.incident or {})}


def page(items: Iterator[Any], keep: Callable[[Any], bool], limit: int) -> tuple[list[Any], int | None]:
    """Up to ``limit`` kept items, and the cursor of the next page (None if there is none)."""
    out: list[Any] = []
    for item in items:
        if not keep(item):
            continue
        if len(out) == limit:
            return out, out[-1].position
        out.append(item)
    return out, None
