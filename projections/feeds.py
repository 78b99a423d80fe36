"""Reading the log in order for the pull feeds: the outbox (hospital -> manufacturer) and the
global event feed, filtered per caller; and whose manufacturer a pathway's order is."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from cartpath.engine.errors import UnknownPathway
from cartpath.engine.pathway import Pathway

from .log import TOPICS

OUTBOX_TOPICS = [get_topic(Pathway.MessageSent)]  # type: ignore[attr-defined]  # made by @event
PATHWAY_TOPICS = list(TOPICS)  # every event class the aggregate declares
SCAN_BATCH = 500
SCAN_BUDGET = 20_000  # notifications one request may examine for a filtered feed


def scan(app: Any, topics: list[str], after: int, limit: int, keep: Callable[[Any], bool]
         ) -> tuple[list, int | None, int]:
    """Events after ``after`` that ``keep`` accepts, up to ``limit``: (items, next cursor, last position examined)."""
    latest = app.recorder.max_notification_id() or 0
    found: list[tuple[int, Any]] = []
    position, examined = after, 0
    while position < latest:
        notes = app.recorder.select_notifications(start=position + 1, limit=SCAN_BATCH, stop=latest, topics=topics)
        for note in notes:
            ev = app.mapper.to_domain_event(note)
            position = note.id
            examined += 1
            if keep(ev):
                found.append((note.id, ev))
                if len(found) == limit:
                    return found, position if position < latest else None, position
        if len(notes) < SCAN_BATCH:
            return found, None, latest
        if examined >= SCAN_BUDGET:
            return found, position, position
    return found, None, max(position, after)


class ManufacturerOf:
    """pathway -> manufacturer org, as recorded at place_order (it never changes afterwards)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._known: dict[uuid.UUID, str] = {}
        self._lock = threading.Lock()

    def __call__(self, pathway_id: uuid.UUID) -> str | None:
        with self._lock:
            if pathway_id in self._known:
                return self._known[pathway_id]
        try:
            org = self._app.get_pathway(pathway_id).correlation.get("manufacturer")
        except UnknownPathway:
            return None
        if org:
            with self._lock:
                self._known[pathway_id] = org
        return org
