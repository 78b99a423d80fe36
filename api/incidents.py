"""Incidents: pathways stopped by a step of their model that failed, and retrying that step."""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from cartpath.projections.directory import incident_item, page

from . import schemas as s
from .auth import ADMIN, AUDITOR, PROCESS_OWNER, require, sees_center, visible
from .conventions import PATHWAY_WRITE_HEADERS, consumes, operation_id, refusals
from .pathways import pathway_response
from .views import engine

READ_ROLES = (ADMIN, PROCESS_OWNER, AUDITOR)
RETRY_ROLES = (ADMIN, PROCESS_OWNER)

blp = Blueprint("incidents", __name__, url_prefix="/api/v1",
                description="A step that fails stops its own pathway only, with an incident; retry it once fixed.")


@blp.route("/incidents", methods=["GET"])
@operation_id(blp, "listIncidents")
@blp.arguments(s.IncidentQuerySchema, location="query")
@blp.response(200, s.IncidentPageSchema)
@refusals(blp, "UNPROCESSABLE_ENTITY")
def listing(query: dict[str, Any]):
    """Open incidents (admin, process_owner, auditor), of the caller's centres as for the pathway list."""
    principal = require(*READ_ROLES)
    directory = current_app.extensions["cartpath_directory"]

    def keep(entry) -> bool:
        return (entry.incident is not None and sees_center(principal, entry.center)
                and query.get("center") in (None, entry.center)
                and query.get("key") in (None, entry.definition["key"]))
    found, cursor = page(directory.pathways_after(query["after"]), keep, query["limit"])
    return {"items": [incident_item(e) for e in found], "next": cursor}


@blp.route("/pathways/<pathway_id>/incidents/<incident_id>/retry", methods=["POST"])
@consumes("json")
@operation_id(blp, "retryIncident")
@blp.arguments(s.RetrySchema)
@blp.response(200, s.PathwaySchema, headers=PATHWAY_WRITE_HEADERS,
              description="Retried: `incident` is null when the step went through, else the new incident")
@refusals(blp, "BAD_REQUEST", "NOT_FOUND", "CONFLICT", "UNPROCESSABLE_ENTITY", "UNSUPPORTED_MEDIA_TYPE")
def retry(body: dict[str, Any], pathway_id: str, incident_id: str):
    """Run the failed step again on the pathway's current definition version (admin, process_owner).
    404: no such incident on this pathway; 409: it is closed already."""
    principal = require(*RETRY_ROLES)
    app = engine()
    pathway = app.get_pathway(pathway_id)
    visible(principal, pathway)
    pathway = app.retry_incident(pathway.id, incident_id, body.get("data"), actor=principal.actor())
    return pathway_response(pathway, write=True, position=app.last_position())
