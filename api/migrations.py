"""Migrations: move running pathways from one version of their process to another (process owners)."""
from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_smorest import Blueprint

from . import schemas as s
from .auth import PROCESS_OWNER, require
from .conventions import POSITION_HEADERS, consumes, operation_id, refusals
from .views import engine, with_position

blp = Blueprint("migrations", __name__, url_prefix="/api/v1/process-definitions",
                description="Moving running pathways to another version (plan with dry_run, then apply).")


@blp.route("/<key>/migrations", methods=["POST"])
@consumes("json")
@operation_id(blp, "migratePathways")
@blp.arguments(s.MigrationRequestSchema)
@blp.response(200, s.MigrationResultSchema, headers=POSITION_HEADERS)
@refusals(blp, "BAD_REQUEST", "NOT_FOUND", "UNSUPPORTED_MEDIA_TYPE")
def migrate(body: dict[str, Any], key: str):
    """Plan (`dry_run: true`) or apply the move of running pathways of `key` from one version to another:
    each is `movable`/`migrated`, or `blocked` with the reasons; a repeat moves nothing twice."""
    principal = require(PROCESS_OWNER)
    app = engine()
    result = app.migrate_pathways(key, body["from_version"], body["to_version"], pathways=body["pathways"],
                                  center=body["center"], task_mapping=body["task_mapping"],
                                  dry_run=body["dry_run"], reason=body["reason"], actor=principal.actor())
    moved = bool(result["counts"].get("migrated"))
    return with_position(jsonify(s.MigrationResultSchema().dump(result)), app.last_position() if moved else None)
