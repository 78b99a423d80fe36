"""Feeds read in log order: the outbox (hospital -> manufacturer) and the global event feed."""
from __future__ import annotations

import threading
import uuid
from typing import Any, Callable

from eventsourcing.utils import get_topic
from flask import current_app
from flask_smorest import Blueprint
from werkzeug.exceptions import Forbidden

from cartpath.engine.errors import UnknownPathway
from cartpath.engine.pathway import Pathway

from . import schemas as s
from .auth import AUDITOR, MANUFACTURER, require
from .conventions import operation_id, refusals
from .views import engine, feed_item

blp = Blueprint("feeds", __name__, url_prefix="/api/v1",
                description="Pull feeds in log order, with cursors (`after`, `next`).")
OUTBOX_TOPICS = [get_topic(Pathway.MessageSent)]
# Every event class the aggregate declares (new ones join the feed by themselves).
PATHWAY_TOPICS = [get_topic(cls) for name, cls in vars(Pathway).items()
                  if isinstance(cls, type) and issubclass(cls, Pathway.Event) and name not in ("Event", "Created")]
SCAN_BATCH = 500
SCAN_BUDGET = 20_000  # notifications one request may examine for a filtered feed


def scan(topics: list[str], after: int, limit: int, keep: Callable[[Any], bool]) -> tuple[list, int | None, int]:
    """Events after ``after`` that ``keep`` accepts, up to ``limit``: (items, next cursor, last position examined)."""
    app = engine()
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

    def __init__(self) -> None:
        self._known: dict[uuid.UUID, str] = {}
        self._lock = threading.Lock()

    def __call__(self, pathway_id: uuid.UUID) -> str | None:
        with self._lock:
            if pathway_id in self._known:
                return self._known[pathway_id]
        try:
            org = engine().get_pathway(pathway_id).correlation.get("manufacturer")
        except UnknownPathway:
            return None
        if org:
            with self._lock:
                self._known[pathway_id] = org
        return org


@blp.route("/outbox", methods=["GET"])
@operation_id(blp, "listOutbox")
@blp.arguments(s.FeedQuerySchema, location="query")
@blp.response(200, s.OutboxSchema)
@refusals(blp, "UNPROCESSABLE_ENTITY")
def outbox(query: dict[str, Any]):
    """Messages the hospital sends to the manufacturer, in order; a manufacturer sees only its orders'."""
    principal = require(MANUFACTURER, AUDITOR)
    org = None
    if not principal.reads_everything:
        if not principal.org:
            raise Forbidden("a manufacturer token must carry its `org` claim")
        org = principal.org
    owner = current_app.extensions["cartpath_manufacturers"]

    def keep(ev) -> bool:
        return org is None or owner(ev.originator_id) == org
    found, cursor, last = scan(OUTBOX_TOPICS, query["after"], query["limit"], keep)
    items = [{"position": pos, "message_id": ev.message_id, "name": ev.name, "pathway_id": str(ev.originator_id),
              "at": ev.at, "payload": ev.payload} for pos, ev in found]
    return {"items": items, "next": cursor, "last_position": last}


@blp.route("/events", methods=["GET"])
@operation_id(blp, "listEvents")
@blp.arguments(s.FeedQuerySchema, location="query")
@blp.response(200, s.EventFeedSchema)
@refusals(blp, "UNPROCESSABLE_ENTITY")
def events(query: dict[str, Any]):
    """Every pathway event of every centre, in log order (auditors, admins)."""
    require(AUDITOR)
    found, cursor, last = scan(PATHWAY_TOPICS, query["after"], query["limit"], lambda ev: True)
    return {"items": [feed_item(pos, ev) for pos, ev in found], "next": cursor, "last_position": last}
