"""Reports: the read side over HTTP (timeline, custody, worklists, KPIs, capacity, manufacturers).

Every report reads projections (never the engine). Read-your-writes: a write's
answer carries its log position (``X-Cartpath-Position``); a report given
``?min_position=`` waits briefly for its views to reach it, else answers 409
"not yet" with the position it has reached and ``Retry-After``. Each answer says
which position it reflects, in the same header and in ``position``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates
from werkzeug.exceptions import Forbidden

from cartpath.engine.errors import UnknownPathway
from cartpath.projections.as_of import reports_as_of
from cartpath.projections.reports import NotYet, Reports, parse_period
from cartpath.projections.store import ProjectionsUnavailable, ViewStore

from .auth import require_reader, sees_center
from .conventions import POSITION_HEADERS, operation_id, refusals
from .errors import PROBLEM_TYPE_BASE, problem
from .schemas import AsOfSchema, as_of_field, iso_datetime, known_lane
from .views import POSITION_HEADER, engine

blp = Blueprint("reports", __name__, url_prefix="/api/v1",
                description="Read models built from the event log: what each role looks at.")
WAIT_SECONDS = 2.0


# -- requests -----------------------------------------------------------------------------------
class ReportQuerySchema(Schema):
    min_position = fields.Integer(load_default=None, validate=validate.Range(min=0, max=2**62), metadata={
        "description": "wait (briefly) until the report reflects this log position; 409 if it does not yet"})


class PathwayReportQuerySchema(ReportQuerySchema):
    as_of = as_of_field()


class WorklistQuerySchema(ReportQuerySchema):
    center = fields.String(validate=validate.Length(min=1, max=200))
    lane = fields.String(validate=[validate.Length(min=1, max=200), known_lane])
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10_000))


class PeriodQuerySchema(ReportQuerySchema):
    """``from`` and ``to``: ISO 8601 dates or date-times (what they bound is the report's)."""

    start = fields.String(data_key="from", metadata={"description": "pathways started on or after (ISO 8601)"})
    end = fields.String(data_key="to", metadata={"description": "pathways started before (ISO 8601)"})

    @validates("start")
    def _start(self, value: str, **_: Any) -> None:
        _period(value, "from")

    @validates("end")
    def _end(self, value: str, **_: Any) -> None:
        _period(value, "to")


class KpiQuerySchema(PeriodQuerySchema):
    center = fields.String(validate=validate.Length(min=1, max=200))
    product = fields.String(validate=validate.Length(min=1, max=200))


class CapacityQuerySchema(ReportQuerySchema):
    center = fields.String(validate=validate.Length(min=1, max=200))
    weeks = fields.Integer(load_default=8, validate=validate.Range(min=1, max=52))


class ManufacturerQuerySchema(ReportQuerySchema):
    manufacturer = fields.String(validate=validate.Length(min=1, max=200))


def _period(value: str, what: str) -> None:
    try:
        parse_period(value, what)
    except ValueError as err:
        raise ValidationError(str(err)) from None


# -- answers (documented; views return them as built) ------------------------------------------------
_S, _I, _F, _B = fields.String, fields.Integer, fields.Float, fields.Boolean
_T = iso_datetime
_Obj = fields.Dict


class StepSchema(Schema):
    seq, kind, name, title, lane = _I(), _S(), _S(allow_none=True), _S(allow_none=True), _S(allow_none=True)
    actor, ready_at, done_at, how = _S(allow_none=True), _T(allow_none=True), _T(allow_none=True), _S(allow_none=True)
    open, waited_days, task_id, direction = _B(), _F(), _S(), _S()
    data = fields.Raw(allow_none=True)


class TimelineSchema(Schema):
    pathway_id, patient_ref, center, product, indication = _S(), _S(), _S(), _S(), _S()
    process, started_at, status = _Obj(), _T(), _S()
    outcome, ended_at = _S(allow_none=True), _T(allow_none=True)
    steps = fields.List(fields.Nested(StepSchema))
    position = _I()
    as_of = fields.Nested(AsOfSchema, metadata={"description": "only with ?as_of: the point shown"})


class CoiCheckSchema(Schema):
    result, expected, scanned = _S(), _S(allow_none=True), fields.List(_S())


class HandoffSchema(Schema):
    step, at, recorded_at, place, actor = _S(), _T(allow_none=True), _T(), _S(allow_none=True), _S(allow_none=True)
    coi_check = fields.Nested(CoiCheckSchema)
    order_check = _S(validate=validate.OneOf(["in_order", "out_of_order"]), metadata={
        "description": "out_of_order: this hand-off's time is before an earlier hand-off's"})
    data = fields.Raw(allow_none=True)


class QuarantineDecisionSchema(Schema):
    at, usable, assessment_ref = _T(), _B(allow_none=True), _S(allow_none=True)


class QuarantineSchema(Schema):
    at, reason, datalogger_ref = _T(), _S(allow_none=True), _S(allow_none=True)
    decision = fields.Nested(QuarantineDecisionSchema, allow_none=True, metadata={
        "description": "the manufacturer's quarantine_decision; null while awaited"})


class DispositionSchema(Schema):
    disposition = _S(validate=validate.OneOf(["destroyed", "returned_to_manufacturer", "kept"]))
    at, actor = _T(allow_none=True), _S(allow_none=True)


class DeviationSchema(Schema):
    kind = _S(metadata={"description": "thaw_to_infusion or tocilizumab_24h_limit (DeviationRecorded)"})
    task, reason, at = _S(), _S(), _T(metadata={"description": "when the completion it is about was recorded"})
    limit_minutes, actual_minutes, limit_doses, actual_doses = _I(), _I(), _I(), _I()


class CustodySchema(Schema):
    pathway_id, center = _S(), _S()
    coi, order_id, manufacturer = _S(allow_none=True), _S(allow_none=True), _S(allow_none=True)
    handoffs = fields.List(fields.Nested(HandoffSchema))
    quarantines = fields.List(fields.Nested(QuarantineSchema))
    disposition = fields.Nested(DispositionSchema, allow_none=True)
    deviations = fields.List(fields.Nested(DeviationSchema))
    chain_intact = _B(metadata={"description": "false when a COI scan mismatches, a hand-off is out of order, or a "
                                               "quarantine awaits its decision (chain_issues says which)"})
    chain_issues = fields.List(_S())
    position = _I()
    as_of = fields.Nested(AsOfSchema, metadata={"description": "only with ?as_of: the point shown"})


class WorkTaskSchema(Schema):
    id, pathway_id, task_id, name, title, lane = _S(), _S(), _S(), _S(), _S(allow_none=True), _S(allow_none=True)
    center, patient_ref, ready_since, due_at = _S(), _S(), _T(), _T(allow_none=True)
    waiting_days, overdue = _F(), _B()


class LaneLoadSchema(Schema):
    center, lane, open, overdue = _S(), _S(allow_none=True), _I(), _I()
    oldest_waiting_days = _F()


class WorklistSchema(Schema):
    now, total, limit, position = _T(), _I(), _I(), _I()
    tasks = fields.List(fields.Nested(WorkTaskSchema))
    by_lane = fields.List(fields.Nested(LaneLoadSchema))


class HistogramBinSchema(Schema):
    from_ = _I(data_key="from", attribute="from")
    to, count = _I(), _I()


class DurationSchema(Schema):
    count, median, p90, unit = _I(), _F(allow_none=True), _F(allow_none=True), _S()
    excluded = _I(metadata={"description": "durations left out because their two facts are out of order"})
    excluded_reasons = fields.Dict(keys=_S(), values=_I())
    histogram = fields.List(fields.Nested(HistogramBinSchema), metadata={
        "description": "vein_to_vein only: how many pathways per week of duration, [from, to) in days, every "
                       "week from 0 to the longest listed"})


class RateSchema(Schema):
    rate, numerator, denominator = _F(allow_none=True), _I(), _I()


class DeliverySchema(RateSchema):
    excluded = _I(metadata={"description": "released products not received because the patient died or progressed, "
                                           "or the out-of-spec product was refused"})


class DropOutCategoriesSchema(Schema):
    death, progression, manufacturing_failure = (fields.Nested(RateSchema), fields.Nested(RateSchema),
                                                 fields.Nested(RateSchema))
    no_apheresis, patient_decision = fields.Nested(RateSchema), fields.Nested(RateSchema)
    physician_decision, other = fields.Nested(RateSchema), fields.Nested(RateSchema)


class DropOutSchema(RateSchema):
    by_category = fields.Nested(DropOutCategoriesSchema)


class DeviationCountsSchema(Schema):
    thaw_to_infusion, tocilizumab_24h_limit = _I(), _I()


class DeviationsSchema(RateSchema):
    by_kind = fields.Nested(DeviationCountsSchema)


class DistributionSchema(Schema):
    count = _I()
    distribution = fields.Dict(keys=_S(), values=_I(), metadata={"description": "grade -> pathways"})
    share = fields.Dict(keys=_S(), values=_F())


class KpiSetSchema(Schema):
    """The KPIs of PATHWAY.md v2; ``definitions`` in the answer says how each is computed."""
    vein_to_vein, order_to_infusion = fields.Nested(DurationSchema), fields.Nested(DurationSchema)
    manufacturing_turnaround = fields.Nested(DurationSchema)
    first_pass_success, oos_rate = fields.Nested(RateSchema), fields.Nested(RateSchema)
    delivery_success = fields.Nested(DeliverySchema)
    drop_out = fields.Nested(DropOutSchema)
    bridging_rate = fields.Nested(RateSchema)
    crs_max_grade, icans_max_grade = fields.Nested(DistributionSchema), fields.Nested(DistributionSchema)
    icu_transfer_rate = fields.Nested(RateSchema)
    icu_length_of_stay, length_of_stay = fields.Nested(DurationSchema), fields.Nested(DurationSchema)
    readmission_rate = fields.Nested(RateSchema)
    deviations = fields.Nested(DeviationsSchema)


class KpiGroupSchema(Schema):
    center, product, pathways = _S(), _S(), _I()
    kpis = fields.Nested(KpiSetSchema)


class KpiSchema(Schema):
    filters, cohort, pathways = _Obj(), _S(), _I()
    period_end = _T(metadata={"description": "the period's end: 'to' if given and earlier than now, else now"})
    kpis = fields.Nested(KpiSetSchema)
    definitions = fields.Dict(keys=_S(), values=_S())
    by_center_product = fields.List(fields.Nested(KpiGroupSchema))
    position = _I()


class CapacityDaySchema(Schema):
    date = _S(metadata={"description": "a calendar day (UTC); a patient counts when in a bed at its end"})
    ward_expected = _F(metadata={"description": "expected ward patients: the sum of each pathway's probability"})
    ward_p90 = _I(metadata={"description": "90th percentile of the ward count (exact Poisson-binomial)"})
    icu_expected, icu_p90 = _F(), _I()
    beds, icu_beds = _I(), _I()
    p_over_capacity = _F(metadata={"description": "P(ward patients > beds); over several centres: P(any centre over)"})
    p_icu_over_capacity = _F(metadata={"description": "P(ICU patients > icu_beds)"})


class StaffHoursSchema(Schema):
    week = _S(metadata={"description": "first day of the 7-day week, counted from today"})
    lane = _S()
    hours = _F(metadata={"description": "expected staff hours: each task's probability times its configured hours"})
    by_task = fields.Dict(keys=_S(), values=_F())


class CapacitySchema(Schema):
    now, weeks, center = _T(), _I(), _S(allow_none=True)
    days = fields.List(fields.Nested(CapacityDaySchema), metadata={
        "description": "per day, the centre's (or, over several centres, the network's) beds"})
    staff_hours = fields.List(fields.Nested(StaffHoursSchema), metadata={"description": "per week and lane"})
    centers = fields.List(_Obj(), metadata={"description": "per centre: beds, icu_beds, inpatients_today, days, "
                                                           "staff_hours, forecast (v1 shape), peak..."})
    open_tasks = fields.List(_Obj())
    assumptions = _Obj(metadata={"description": "what the forecast assumes; 'figures' lists every number used with "
                                                "its source (history, reference, assumed, configured, default)"})
    position = _I()


class ManufacturersSchema(Schema):
    manufacturers, definitions, position = fields.List(_Obj()), _Obj(), _I()


# -- plumbing ----------------------------------------------------------------------------------------
def reports() -> Reports:
    found = current_app.extensions.get("cartpath_reports")
    if found is None:
        found = current_app.extensions["cartpath_reports"] = Reports(
            ViewStore.for_app(engine()), beds_env=current_app.extensions.get("cartpath_settings_env"))
    return found


def visible_centers(principal, center: str | None) -> set[str] | None:
    """The centres the caller may see (None: all); asking for another centre is refused."""
    if center is not None and not sees_center(principal, center):
        raise Forbidden(f"you are not authorised for centre {center!r}")
    return None if principal.reads_everything else set(principal.centers)


def report_answer(report: str, min_position: int | None, build: Callable[[Reports], dict[str, Any]], *,
                  respond: Callable[[Reports, int], Response] | None = None) -> Any:
    """The report's JSON once its views reflect ``min_position`` (or the refusal); ``respond``
    answers another way (e.g. CSV) from the views and the position they reached."""
    head = (engine().recorder.max_notification_id() or 0) if min_position is not None else 0
    if min_position is not None and min_position > head:
        # no write answered this position: waiting for it would never end, so it is not "retry shortly"
        return problem(422, "Unprocessable Entity", f"min_position {min_position} is beyond the log's head ({head}): "
                       "pass the X-Cartpath-Position a write answered", PROBLEM_TYPE_BASE + "validation-failed",
                       errors={"min_position": [f"beyond the log's head ({head})"]})
    r = reports()
    try:
        wait = float(current_app.config.get("CARTPATH_REPORT_WAIT_SECONDS", WAIT_SECONDS))
        position = r.ensure(report, min_position, timeout=wait)
        if respond is not None:
            response = respond(r, position)
        else:
            body = build(r)
    except NotYet as err:
        return problem(409, "Not yet", str(err), PROBLEM_TYPE_BASE + "not-yet", headers={"Retry-After": "1"},
                       position=err.reached, min_position=err.wanted)
    except ProjectionsUnavailable as err:
        return problem(503, "Service Unavailable", str(err), PROBLEM_TYPE_BASE + "projections-unavailable",
                       headers={"Retry-After": "5"})
    if respond is None:
        body["position"] = position
        response = jsonify(body)
    response.headers[POSITION_HEADER] = str(position)
    return response


_REFUSED_READS = ("NOT_YET", "UNPROCESSABLE_ENTITY")  # 409 only as "not yet", with Retry-After


def _unavailable(view):
    """503 until a projection runner has initialised the views."""
    return blp.alt_response(503, response="SERVICE_UNAVAILABLE")(view)


def _as_of(report: str, pathway_id: str, as_of: str, centers: set[str] | None):
    """A pathway report as it was at ``as_of``: rebuilt from the pathway's events, not read from the views."""
    app = engine()
    pathway = app.get_pathway(pathway_id)
    if centers is not None and pathway.center not in centers:
        raise UnknownPathway(f"pathway {pathway_id} does not exist")
    point = app.as_of_point(pathway.id, as_of)
    with reports_as_of(app, pathway.id, point.version) as past:
        if report == "timeline":
            body = past.timeline(str(pathway.id), now=point.moment, centers=centers)
        else:
            body = past.custody(str(pathway.id), centers=centers)
    # the answer reflects the whole log as it is now (cut at the pathway's version)
    position = app.recorder.max_notification_id() or 0
    response = jsonify({**body, "position": position, "as_of": point.describe()})
    response.headers[POSITION_HEADER] = str(position)
    return response


@blp.route("/pathways/<pathway_id>/timeline", methods=["GET"])
@operation_id(blp, "getPathwayTimeline")
@blp.arguments(PathwayReportQuerySchema, location="query")
@blp.response(200, TimelineSchema, headers=POSITION_HEADERS)
@refusals(blp, "NOT_FOUND", *_REFUSED_READS)
@_unavailable
def timeline(query: dict[str, Any], pathway_id: str):
    """Every step of a pathway in order: what, who (lane, user), ready, done, how long it waited.
    With `as_of`, the timeline as it was then, rebuilt from the pathway's events."""
    principal = require_reader()
    centers = visible_centers(principal, None)
    if query.get("as_of") is not None:
        return _as_of("timeline", pathway_id, query["as_of"], centers)
    now = engine().clock.now()
    return report_answer("timeline", query["min_position"], lambda r: r.timeline(pathway_id, now=now, centers=centers))


@blp.route("/pathways/<pathway_id>/custody", methods=["GET"])
@operation_id(blp, "getPathwayCustody")
@blp.arguments(PathwayReportQuerySchema, location="query")
@blp.response(200, CustodySchema, headers=POSITION_HEADERS)
@refusals(blp, "NOT_FOUND", *_REFUSED_READS)
@_unavailable
def custody(query: dict[str, Any], pathway_id: str):
    """Chain of custody: every hand-off of the product, with time, place, actor and COI check.
    With `as_of`, the chain as it was then, rebuilt from the pathway's events."""
    principal = require_reader()
    centers = visible_centers(principal, None)
    if query.get("as_of") is not None:
        return _as_of("custody", pathway_id, query["as_of"], centers)
    return report_answer("custody", query["min_position"], lambda r: r.custody(pathway_id, centers=centers))


@blp.route("/reports/worklists", methods=["GET"])
@operation_id(blp, "getWorklists")
@blp.arguments(WorklistQuerySchema, location="query")
@blp.response(200, WorklistSchema, headers=POSITION_HEADERS)
@refusals(blp, *_REFUSED_READS)
@_unavailable
def worklists(query: dict[str, Any]):
    """Ready tasks per lane and centre, oldest first, with waiting time and overdue flags."""
    principal = require_reader()
    centers = visible_centers(principal, query.get("center"))
    now = engine().clock.now()
    return report_answer("worklists", query["min_position"], lambda r: r.worklists(
        now=now, center=query.get("center"), lane=query.get("lane"), centers=centers, limit=query["limit"]))


@blp.route("/reports/kpis", methods=["GET"])
@operation_id(blp, "getKpis")
@blp.arguments(KpiQuerySchema, location="query")
@blp.response(200, KpiSchema, headers=POSITION_HEADERS)
@refusals(blp, *_REFUSED_READS)
@_unavailable
def kpis(query: dict[str, Any]):
    """The KPIs of PATHWAY.md (durations in days: count, median, p90; rates with their parts)."""
    principal = require_reader()
    centers = visible_centers(principal, query.get("center"))
    now = engine().clock.now()
    return report_answer("kpis", query["min_position"], lambda r: r.kpis(
        now=now, center=query.get("center"), product=query.get("product"), start=query.get("start"),
        end=query.get("end"),
        centers=centers))


@blp.route("/reports/capacity", methods=["GET"])
@operation_id(blp, "getCapacity")
@blp.arguments(CapacityQuerySchema, location="query")
@blp.response(200, CapacitySchema, headers=POSITION_HEADERS)
@refusals(blp, *_REFUSED_READS)
@_unavailable
def capacity(query: dict[str, Any]):
    """Inpatients today; ward and ICU occupancy per day (expected, p90, probability over the beds); staff hours
    per week and lane; open tasks per lane; every number assumed, with its source."""
    principal = require_reader()
    centers = visible_centers(principal, query.get("center"))
    now = engine().clock.now()
    return report_answer("capacity", query["min_position"], lambda r: r.capacity(
        now=now, weeks=query["weeks"], center=query.get("center"), centers=centers))


@blp.route("/reports/manufacturers", methods=["GET"])
@operation_id(blp, "getManufacturers")
@blp.arguments(ManufacturerQuerySchema, location="query")
@blp.response(200, ManufacturersSchema, headers=POSITION_HEADERS)
@refusals(blp, *_REFUSED_READS)
@_unavailable
def manufacturers(query: dict[str, Any]):
    """Orders, slots, turnaround and failure rate per manufacturer (of the caller's centres' orders)."""
    principal = require_reader()
    centers = visible_centers(principal, None)
    return report_answer("manufacturers", query["min_position"], lambda r: r.manufacturers(
        centers=centers, manufacturer=query.get("manufacturer")))
