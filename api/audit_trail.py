"""The auditor's reads: events across pathways (JSON pages or CSV) and one pathway's audit report
(JSON or PDF). Auditors and admins only.

``GET /audit/events`` reads the ``audit`` view (so it takes ``min_position`` like every
report); ``Accept: text/csv`` answers the whole filtered result after ``cursor`` as one CSV
file (header row, one event per line), cut at the position the view had reached when the
export began, instead of one page. ``GET /pathways/{id}/audit`` reads the pathway's own
events, re-executes them (``verify``) and checks their chain at the time of asking;
``Accept: application/pdf`` answers the same content as a printable PDF.
"""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, stream_with_context
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from cartpath.projections import audit_events, audit_pdf, audit_report

from .auth import AUDITOR, require, visible
from .conventions import POSITION_HEADERS, operation_id, refusals
from .reports import PeriodQuerySchema, report_answer, visible_centers
from .schemas import iso_datetime
from .views import engine

blp = Blueprint("audit_trail", __name__, url_prefix="/api/v1",
                description="The auditor's workbench: events across pathways, and a pathway's audit report.")
CSV, PDF = "text/csv", "application/pdf"


class AuditEventQuerySchema(PeriodQuerySchema):
    actor = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "the subject (`sub`) who recorded the event"})
    center = fields.String(validate=validate.Length(min=1, max=200))
    type = fields.String(validate=validate.OneOf(audit_events.TYPES), metadata={
        "description": "an event type, e.g. TaskCompleted, DeviationRecorded, Cancelled"})
    start = fields.String(data_key="from", metadata={"description": "recorded at or after (ISO 8601)"})
    end = fields.String(data_key="to", metadata={"description": "recorded before (ISO 8601)"})
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62), metadata={
        "description": "the `next` of the previous page (a log position); CSV: start after it"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000), metadata={
        "description": "items per page (JSON only: CSV answers every matching event)"})


class AuditActorSchema(Schema):
    sub = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    org = fields.String()


class AuditEventSchema(Schema):
    position = fields.Integer(required=True, metadata={"description": "position in the store's log"})
    pathway_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={
        "description": "the event's number in its pathway (its history `position`; usable as `as_of`)"})
    patient_ref, center, type = fields.String(required=True), fields.String(required=True), fields.String(required=True)
    at = iso_datetime(required=True, metadata={"description": "when it was recorded (the store's clock)"})
    actor = fields.Nested(AuditActorSchema, required=True, allow_none=True, metadata={
        "description": "who recorded it; null for the engine's outcomes (they follow the input before them)"})
    why = fields.String(required=True, allow_none=True, metadata={
        "description": "the reason a person gave, where the event has one"})
    summary = fields.String(required=True)


class AuditEventPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEventSchema), required=True)
    next = fields.Integer(required=True, allow_none=True, metadata={
        "description": "pass as `cursor` for the next page; null when this page is the last"})
    position = fields.Integer(required=True, metadata={"description": "the log position the view reflects"})


class AuditSignatureSchema(Schema):
    position = fields.Integer(required=True, metadata={"description": "the completion event that carries it"})
    task, role, sub = fields.String(allow_none=True), fields.String(allow_none=True), fields.String(allow_none=True)
    name = fields.String(allow_none=True, metadata={
        "description": "the signer's printed name (staff, never a patient)"})
    roles = fields.List(fields.String(), allow_none=True)
    at = iso_datetime(allow_none=True)
    meaning, sha256 = fields.String(allow_none=True), fields.String(allow_none=True)


class AuditCorrectionSchema(Schema):
    position = fields.Integer(required=True)
    task_id, task = fields.String(allow_none=True), fields.String(allow_none=True)
    field = fields.String(allow_none=True)
    original, value = fields.Raw(allow_none=True), fields.Raw(allow_none=True)
    reason = fields.String(allow_none=True)
    decided_on_corrected_data = fields.Boolean(allow_none=True)
    actor = fields.Dict(allow_none=True)
    at = iso_datetime(allow_none=True)


class ReportEventSchema(Schema):
    position = fields.Integer(required=True, metadata={"description": "the event's number in this pathway"})
    type = fields.String(required=True)
    kind = fields.String(required=True)
    at, recorded_at = iso_datetime(allow_none=True), iso_datetime(allow_none=True)
    actor = fields.Dict(required=True, allow_none=True)
    why = fields.String(required=True, allow_none=True)
    summary = fields.String(required=True)
    data = fields.Dict(required=True)


class AuditReportSchema(Schema):
    pathway_id, patient_ref, center = fields.String(required=True), fields.String(required=True), fields.String()
    indication, product = fields.String(), fields.String()
    business_key, status, outcome = fields.String(allow_none=True), fields.String(), fields.String(allow_none=True)
    started_at, ended_at = iso_datetime(), iso_datetime(allow_none=True)
    definitions = fields.List(fields.Dict(), metadata={
        "description": "the process versions it ran on: key, version, sha256, since_position"})
    events = fields.List(fields.Nested(ReportEventSchema), required=True)
    signatures = fields.List(fields.Nested(AuditSignatureSchema), required=True)
    corrections = fields.List(fields.Nested(AuditCorrectionSchema), required=True)
    deviations = fields.List(fields.Dict(), required=True)
    incidents = fields.List(fields.Dict(), required=True)
    integrity = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True, metadata={
        "description": "each check run at the time of printing (verify; the hash chain): {ok, ...}"})
    integrity_ok = fields.Boolean(required=True)
    printed = fields.Dict(required=True, metadata={"description": "at, by, clock, version"})


_TEXT = {"type": "string", "description": "a header row, then one event per line (RFC 4180 quoting)"}
_BINARY = {"type": "string", "format": "binary"}




def wants(kind: str) -> bool:
    """Did the caller ask for ``kind`` (e.g. text/csv) rather than JSON?"""
    best = request.accept_mimetypes.best_match(["application/json", kind])
    return best == kind and request.accept_mimetypes[kind] > request.accept_mimetypes["application/json"]


@blp.route("/audit/events", methods=["GET"])
@operation_id(blp, "listAuditEvents")
@blp.arguments(AuditEventQuerySchema, location="query")
@blp.response(200, AuditEventPageSchema, headers=POSITION_HEADERS)
@blp.alt_response(200, schema=_TEXT, content_type=CSV, success=True,
                  description="A page of events; with `Accept: text/csv`, every matching event as CSV")
@refusals(blp, "NOT_YET", "UNPROCESSABLE_ENTITY")
def list_events(query: dict[str, Any]):
    """Pathway events across pathways, in log order (auditors, admins): who, when, why, what.
    `Accept: text/csv`: every matching event after `cursor` as one CSV file."""
    principal = require(AUDITOR)
    centers = visible_centers(principal, query.get("center"))
    filters = {"actor": query.get("actor"), "center": query.get("center"), "type_": query.get("type"),
               "start": query.get("start"), "end": query.get("end"), "centers": centers}
    if wants(CSV):
        def respond(r, upto: int) -> Response:
            rows = audit_events.every(r.store, after=query["cursor"], upto=upto, **filters)
            response = Response(stream_with_context(audit_events.csv_text(rows)), mimetype=CSV)
            response.headers["Content-Disposition"] = f'attachment; filename="cartpath-audit-events-{upto}.csv"'
            return response
        return report_answer("audit_events", query["min_position"], lambda r: {}, respond=respond)
    return report_answer("audit_events", query["min_position"], lambda r: audit_events.page(
        r.store, limit=query["limit"], after=query["cursor"], **filters))


@blp.route("/pathways/<pathway_id>/audit", methods=["GET"])
@operation_id(blp, "getPathwayAuditReport")
@blp.response(200, AuditReportSchema)
@blp.alt_response(200, schema=_BINARY, content_type=PDF, success=True,
                  description="The report; with `Accept: application/pdf`, its printable copy")
@refusals(blp, "NOT_FOUND")
def report(pathway_id: str):
    """A pathway's audit report (auditors, admins): every event with who, when, why; signatures, corrections,
    deviations, incidents; verify and the chain check run now. `Accept: application/pdf`: the same as a PDF."""
    principal = require(AUDITOR)
    app = engine()
    pathway = app.get_pathway(pathway_id)
    visible(principal, pathway)
    body = audit_report.build(app, pathway.id, printed_by=principal.sub, checks=audit_report.default_checks())
    if not wants(PDF):
        return jsonify(body)
    response = Response(audit_pdf.render(body), mimetype=PDF)
    response.headers["Content-Disposition"] = f'attachment; filename="cartpath-audit-{pathway.id}.pdf"'
    return response
