"""A pathway's timeline and custody as they were at an earlier version, rebuilt from its events.

The live views hold the present only, so a past one is built afresh: the pathway's first
N stored events, decoded as the runner decodes them (upcasters and the cipher included),
applied by the very same views into a private in-memory SQLite database, and read by the
very same report code. Nothing is taken from the live view tables, so the answer is exact
whatever the runner's lag. A pathway has a few hundred events: this costs milliseconds.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .log import EventLog
from .reports import Reports
from .store import ViewStore
from .views import Context, View
from .views.custody import CustodyView
from .views.timeline import TimelineView

MEMORY = Path(":memory:")


def pathway_events(app: Any, pathway_id: uuid.UUID, version: int) -> list[Any]:
    """The pathway's events 1..``version`` as the views see them (its version numbers as positions)."""
    stored = app.recorder.select_events(pathway_id, lte=version)
    return EventLog(app).decode([(ev.originator_version, ev.originator_id, ev.originator_version, ev.topic, ev.state)
                                 for ev in stored])


@contextmanager
def reports_as_of(app: Any, pathway_id: uuid.UUID, version: int,
                  views: tuple[type[View], ...] = (TimelineView, CustodyView)) -> Iterator[Reports]:
    """Reports over the pathway's views as they stood at ``version``; the scratch store is dropped after."""
    store = ViewStore("sqlite", path=MEMORY)
    try:
        events = pathway_events(app, pathway_id, version)
        with store.transaction() as tx:
            for cls in views:
                view = cls()
                view.create(tx)
                view.apply(tx, [ev for ev in events if ev.kind in view.kinds], Context(app))
        yield Reports(store)
    finally:
        store.close()
