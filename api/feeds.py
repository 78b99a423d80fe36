"""Feeds read in log order: the outbox (hospital -> manufacturer) and the global event feed."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from werkzeug.exceptions import Forbidden

from cartpath.projections.feeds import OUTBOX_TOPICS, PATHWAY_TOPICS, scan

from . import schemas as s
from .auth import AUDITOR, MANUFACTURER, require
from .conventions import operation_id, refusals
from .views import engine, feed_item

blp = Blueprint("feeds", __name__, url_prefix="/api/v1",
                description="Pull feeds in log order, with cursors (`after`, `next`).")


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
    found, cursor, last = scan(engine(), OUTBOX_TOPICS, query["after"], query["limit"], keep)
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
    found, cursor, last = scan(engine(), PATHWAY_TOPICS, query["after"], query["limit"], lambda ev: True)
    return {"items": [feed_item(pos, ev) for pos, ev in found], "next": cursor, "last_position": last}
