"""Ready user tasks (worklists) and their completion."""
from __future__ import annotations

import time
import uuid
from typing import Any

from flask import current_app, jsonify
from flask_smorest import Blueprint
from werkzeug.exceptions import Forbidden

from cartpath.engine import signatures
from cartpath.engine.errors import UnknownTask
from cartpath.engine.records import task_view
from cartpath.projections.directory import page

from . import schemas as s
from .auth import check_center, require, require_reader, sees_center, staff_lanes, visible
from .conventions import PATHWAY_WRITE_HEADERS, consumes, expected_version, operation_id, reads_if_match, refusals
from .pathways import pathway_response
from .views import correction_view, engine, listed_task, public_task, with_position

blp = Blueprint("tasks", __name__, url_prefix="/api/v1/tasks",
                description="User tasks that are ready now, by lane; completing one moves its pathway on.")


def split_task_id(task_id: str) -> tuple[str, str]:
    """Public task ids are `<pathway_id>:<task uuid>`: the pathway is found without any index."""
    pathway_id, sep, task = task_id.partition(":")
    try:
        uuid.UUID(pathway_id)
        uuid.UUID(task)
    except ValueError:
        raise UnknownTask(f"task {task_id} does not exist (ids look like <pathway_id>:<task_id>)") from None
    return pathway_id, task


@blp.route("", methods=["GET"])
@operation_id(blp, "listTasks")
@blp.arguments(s.TaskQuerySchema, location="query")
@blp.response(200, s.TaskPageSchema)
@refusals(blp, "UNPROCESSABLE_ENTITY")
def listing(query: dict[str, Any]):
    """Ready tasks in the caller's centres, oldest first; filter by lane, centre or pathway."""
    principal = require_reader()
    directory = current_app.extensions["cartpath_directory"]
    pathway_id = query.get("pathway_id")

    def keep(task) -> bool:
        entry = directory.pathways.get(task.pathway_id)
        return (entry is not None and sees_center(principal, entry.center)
                and query.get("center") in (None, entry.center)
                and query.get("lane") in (None, task.lane)
                and pathway_id in (None, task.pathway_id))
    found, cursor = page(directory.tasks_after(query["after"]), keep, query["limit"])
    app = engine()
    return {"items": [listed_task(app, directory.pathways[t.pathway_id], t) for t in found], "next": cursor}


@blp.route("/<task_id>", methods=["GET"])
@operation_id(blp, "getTask")
@blp.response(200, s.TaskSchema)
@refusals(blp, "NOT_FOUND")
def show(task_id: str):
    """One ready task with its form; 404 once it is no longer ready."""
    principal = require_reader()
    pathway_id, task = split_task_id(task_id)
    app = engine()
    pathway = app.get_pathway(pathway_id)
    visible(principal, pathway)
    ready = pathway.ready.get(task)
    if ready is None:
        raise UnknownTask(f"task {task_id} is not ready (completed, withdrawn or never existed)")
    return public_task(task_view(pathway, ready, app.model(pathway.definition["key"], pathway.definition["version"])))


@blp.route("/<task_id>/complete", methods=["POST"])
@consumes("json")
@operation_id(blp, "completeTask")
@reads_if_match(blp)
@blp.arguments(s.CompleteTaskSchema())  # an instance: webargs builds a class anew per request
@blp.response(200, s.PathwaySchema, description="The pathway after the step", headers=PATHWAY_WRITE_HEADERS)
@refusals(blp, "BAD_REQUEST", "NOT_FOUND", "CONFLICT", "UNSUPPORTED_MEDIA_TYPE")
def complete(body: dict[str, Any], task_id: str):
    """Complete a ready task of one of the caller's lanes, in one of its centres. If-Match: pathway version."""
    principal = require(*staff_lanes())
    pathway_id, task = split_task_id(task_id)
    signers = signatures.signers_from(body, current_app.extensions["cartpath_tokens"].signing_claims, time.time())

    def authorize(pathway) -> None:
        # on the state the command decides on (the worker's live copy, or the store's when that one is
        # stale): no read ahead of the command, which cost a query per completion on PostgreSQL
        _check_staff(principal, pathway)
        ready = pathway.ready.get(task)
        _check_lane(principal, dict(ready) if ready is not None else None)
    app = engine()
    pathway = app.complete_task(pathway_id, task, body["data"], actor=principal.actor(),
                                expected_version=expected_version(), signers=signers, authorize=authorize)
    return pathway_response(pathway, write=True, position=app.last_position())


@blp.route("/<task_id>/corrections", methods=["POST"])
@consumes("json")
@operation_id(blp, "correctTask")
@reads_if_match(blp)
@blp.arguments(s.CorrectionSchema)
@blp.response(201, s.CorrectionRecordSchema, description="The correction recorded", headers=PATHWAY_WRITE_HEADERS)
@refusals(blp, "BAD_REQUEST", "NOT_FOUND", "CONFLICT", "UNSUPPORTED_MEDIA_TYPE")
def correct(body: dict[str, Any], task_id: str):
    """Correct one field of a completed task (its lane, or admin), with a reason; the original is kept,
    the pathway is not re-routed. If-Match: pathway version."""
    principal, app, pathway_id, task, _ = _staff_command(task_id)
    _check_lane(principal, app.completed_task(pathway_id, task))
    pathway = app.correct_task(pathway_id, task, body["field"], body["value"], body["reason"],
                               actor=principal.actor(), expected_version=expected_version())
    record = correction_view(pathway, pathway.corrections[-1])
    response = jsonify({**record, "pathway_id": str(pathway.id), "actor": pathway.corrections[-1]["by"],
                        "version": pathway.version})
    response.status_code = 201
    response.set_etag(str(pathway.version))
    return with_position(response, app.last_position())


def _staff_command(task_id: str):
    """The caller (staff of the pathway's centre), the engine, the pathway's id, the task's own id and
    the task if it is ready. The checks read the worker's live copy when it holds one (a load from
    the snapshot otherwise); the command then decides on the current state anyway."""
    principal = require(*staff_lanes())
    pathway_id, task = split_task_id(task_id)
    app = engine()
    with app.reading_pathway(pathway_id) as pathway:
        _check_staff(principal, pathway)
        ready = pathway.ready.get(task)
        return principal, app, pathway.id, task, dict(ready) if ready is not None else None


def _check_staff(principal, pathway) -> None:
    """The caller sees the pathway (404 otherwise) and works in its centre (403)."""
    visible(principal, pathway)
    check_center(principal, pathway.center)


def _check_lane(principal, task: dict[str, Any] | None) -> None:
    """A task is worked (and corrected) by its lane; an unknown task is the engine's to refuse."""
    if task is not None and not principal.has_any([task["lane"]] if task["lane"] else []):
        raise Forbidden(f"task {task['name']} belongs to lane {task['lane']!r}, which is not one of your roles")
