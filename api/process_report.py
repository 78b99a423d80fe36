"""GET /reports/process-nodes: one process's nodes with how many pathways are there now and how long they
wait there (median, p90), by centre and period; what the web app's process page draws on the diagram.
Aggregates only, so process owners read it too (lane roles: their centres, as every report)."""
from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from .auth import ADMIN, AUDITOR, PROCESS_OWNER, require, staff_lanes
from .conventions import POSITION_HEADERS, operation_id, refusals
from .reports import PeriodQuerySchema, report_answer, visible_centers
from .views import engine

blp = Blueprint("process-report", __name__, url_prefix="/api/v1/reports",
                description="Where one process's pathways are, node by node (the process page's heatmap).")


class ProcessNodesQuerySchema(PeriodQuerySchema):
    key = fields.String(required=True, validate=validate.Length(min=1, max=200),
                        metadata={"description": "the process definition's key"})
    version = fields.Integer(validate=validate.Range(min=1, max=2**31),
                             metadata={"description": "one version only (default: every version of the key)"})
    center = fields.String(validate=validate.Length(min=1, max=200))


class NodeStatSchema(Schema):
    node, kind, now = fields.String(), fields.String(), fields.Integer()
    waiting_now, held = fields.Dict(), fields.Dict()


class ProcessNodesSchema(Schema):
    filters, now, pathways, definitions = fields.Dict(), fields.String(), fields.Integer(), fields.Dict()
    nodes = fields.List(fields.Nested(NodeStatSchema))
    position = fields.Integer()


@blp.route("/process-nodes", methods=["GET"])
@operation_id(blp, "getProcessNodes")
@blp.arguments(ProcessNodesQuerySchema, location="query")
@blp.response(200, ProcessNodesSchema, headers=POSITION_HEADERS)
@refusals(blp, "UNPROCESSABLE_ENTITY", "NOT_YET")
def process_nodes(query: dict[str, Any]):
    """Per BPMN node of a process: pathways there now, how long they have waited, and median/p90 of how
    long the node held the pathways that went through it (days); pathways started in the period."""
    principal = require(PROCESS_OWNER, AUDITOR, ADMIN, *staff_lanes())
    # a process owner reads every centre's aggregates; a lane role its own centres (as every report)
    owner = PROCESS_OWNER in principal.roles
    centers = None if owner else visible_centers(principal, query.get("center"))
    now = engine().clock.now()
    return report_answer("process_nodes", query["min_position"], lambda r: r.process_nodes(
        now=now, key=query["key"], version=query.get("version"), center=query.get("center"),
        start=query.get("start"), end=query.get("end"), centers=centers))
