"""Pathways: start, read, list, cancel, history, verify."""
from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, url_for
from flask_smorest import Blueprint

from cartpath.engine.errors import InvalidStart, UnknownDefinition
from cartpath.engine.records import history_items
from cartpath.projections.directory import page

from . import schemas as s
from .auth import CANCEL_ROLES, START_ROLES, check_center, require, require_reader, sees_center, visible
from .conventions import (
    LOCATION,
    PATHWAY_HEADERS,
    PATHWAY_WRITE_HEADERS,
    consumes,
    expected_version,
    operation_id,
    reads_if_match,
    refusals,
)
from .views import engine, pathway_view, summary, with_position

blp = Blueprint("pathways", __name__, url_prefix="/api/v1/pathways",
                description="One patient's CAR-T treatment, from eligibility to follow-up.")
def pathway_response(pathway, status: int = 200, *, write: bool = False, position: int | None = None,
                     **extra: Any):
    """The pathway view with its version as ETag; a write also says its log position."""
    # The view is built to PathwaySchema's shape (the schemathesis test holds it to that);
    # dumping it through marshmallow again would cost more than the rest of the response.
    response = jsonify({**pathway_view(engine(), pathway), **extra})
    response.status_code = status
    response.set_etag(str(pathway.version))
    return with_position(response, position) if write else response


@blp.route("", methods=["POST"])
@consumes("json")
@operation_id(blp, "startPathway")
@blp.arguments(s.StartPathwaySchema)
@blp.response(201, s.PathwaySchema, description="Started; 200 when the same business_key and body were sent before",
              headers={**PATHWAY_WRITE_HEADERS, "Location": LOCATION})
@blp.alt_response(200, schema=s.PathwaySchema, description="Already started with this business_key and body",
                  headers={**PATHWAY_WRITE_HEADERS, "Location": LOCATION})
@refusals(blp, "BAD_REQUEST", "CONFLICT", "REQUEST_ENTITY_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
def start(body: dict[str, Any]):
    """Start a pathway (coordination, hematology) in one of the caller's centres."""
    principal = require(*START_ROLES)
    check_center(principal, body["center"])
    app = engine()
    try:
        started = app.start_pathway(body["patient_ref"], body["center"], body["indication"], body["product"],
                                    business_key=body["business_key"], process_key=body["process_key"],
                                    actor=principal.actor())
    except UnknownDefinition as err:
        raise InvalidStart(err.detail, {"process_key": [err.detail]}) from None
    response = pathway_response(started.pathway, 201 if started.created else 200, write=True,
                                position=app.last_position() if started.created else None)
    response.headers["Location"] = url_for("pathways.show", pathway_id=str(started.pathway.id))
    return response


@blp.route("", methods=["GET"])
@operation_id(blp, "listPathways")
@blp.arguments(s.PathwayQuerySchema, location="query")
@blp.response(200, s.PathwayPageSchema)
@refusals(blp, "UNPROCESSABLE_ENTITY")
def listing(query: dict[str, Any]):
    """Pathways the caller may see (its centres), in the order they started."""
    principal = require_reader()
    directory = current_app.extensions["cartpath_directory"]

    def keep(entry) -> bool:
        return (sees_center(principal, entry.center)
                and query.get("center") in (None, entry.center)
                and query.get("status") in (None, entry.status)
                and query.get("outcome") in (None, entry.outcome))
    found, cursor = page(directory.pathways_after(query["after"]), keep, query["limit"])
    return {"items": [summary(e) for e in found], "next": cursor}


def _readable(pathway_id: str):
    principal = require_reader()
    pathway = engine().get_pathway(pathway_id)
    visible(principal, pathway)
    return principal, pathway


@blp.route("/<pathway_id>", methods=["GET"])
@operation_id(blp, "getPathway")
@blp.arguments(s.PathwayReadQuerySchema(), location="query")  # an instance: webargs builds a class anew per request
@blp.response(200, s.PathwaySchema, headers=PATHWAY_HEADERS)
@refusals(blp, "NOT_FOUND", "UNPROCESSABLE_ENTITY")
def show(query: dict[str, Any], pathway_id: str):
    """A pathway: status, ready tasks, what it waits for, its data; ETag = its version.
    With `as_of`, the pathway exactly as it was then, rebuilt from its events (ETag: that version)."""
    if query.get("as_of") is None:
        principal = require_reader()
        with engine().reading_pathway(pathway_id) as pathway:  # rendered while held: a live engine's copy
            visible(principal, pathway)
            return pathway_response(pathway)
    _, pathway = _readable(pathway_id)
    past, point = engine().pathway_as_of(pathway.id, query["as_of"])
    return pathway_response(past, as_of=point.describe())


@blp.route("/<pathway_id>/cancel", methods=["POST"])
@consumes("json")
@operation_id(blp, "cancelPathway")
@reads_if_match(blp)
@blp.arguments(s.CancelSchema)
@blp.response(200, s.PathwaySchema, headers=PATHWAY_WRITE_HEADERS)
@refusals(blp, "BAD_REQUEST", "NOT_FOUND", "CONFLICT", "UNSUPPORTED_MEDIA_TYPE")
def cancel(body: dict[str, Any], pathway_id: str):
    """End a pathway with a reason (coordination, hematology). If-Match: the version you read."""
    principal = require(*CANCEL_ROLES)
    app = engine()
    pathway = app.get_pathway(pathway_id)
    visible(principal, pathway)
    check_center(principal, pathway.center)
    pathway = app.cancel(pathway.id, body["reason"], body["comment"], actor=principal.actor(),
                         expected_version=expected_version(), death_date=body["death_date"],
                         death_cause=body["death_cause"])
    return pathway_response(pathway, write=True, position=app.last_position())


@blp.route("/<pathway_id>/history", methods=["GET"])
@operation_id(blp, "getPathwayHistory")
@blp.response(200, s.HistorySchema)
@refusals(blp, "NOT_FOUND")
def history(pathway_id: str):
    """Every event of the pathway, oldest first: inputs (who did what) and outcomes (what followed)."""
    _, pathway = _readable(pathway_id)
    events = engine().events.get(pathway.id)
    return {"pathway_id": str(pathway.id), "items": history_items(events)}


@blp.route("/<pathway_id>/verify", methods=["POST"])
@operation_id(blp, "verifyPathway")
@blp.response(200, s.VerificationSchema)
@refusals(blp, "NOT_FOUND")
def verify(pathway_id: str):
    """Re-execute the recorded inputs and check they give the recorded outcomes (records nothing)."""
    _, pathway = _readable(pathway_id)
    return engine().verify(pathway.id)
