"""What-if simulations: synthetic patients on the deployed cart_pathway, in the background.

``POST /simulations`` (one scenario) and ``POST /simulations/compare`` (several, side by side)
answer 202 with the run's Location; ``GET /simulations/{id}`` gives its progress, then its
results; charts (PNG, SVG) and the day-by-day series (CSV) once it is done. Coordination,
haematology and admins, for their centres. Nothing is recorded in the event store.
"""
from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.exceptions import Forbidden, NotFound

from cartpath.engine.settings import configured_lanes, simulation_settings
from cartpath.projections import simulation_charts
from cartpath.projections.simulations import NothingDeployed, SimulationTooLarge, prepare, run_prepared
from cartpath.projections.store import ViewStore

from .auth import require, sees_center
from .conventions import consumes, operation_id, refusals
from .errors import PROBLEM_TYPE_BASE, problem
from .schemas import _text
from .simulation_runs import Runs, TooManyRuns
from .views import engine

blp = Blueprint("simulations", __name__, url_prefix="/api/v1",
                description="What-if simulation of a centre's beds and staff on the real engine (in memory).")
ROLES = ("coordination", "hematology")
_S, _I, _F = fields.String, fields.Integer, fields.Float


# -- requests --------------------------------------------------------------------------------------
class MixItemSchema(Schema):
    indication = _S(required=True, validate=validate.Length(min=1, max=50))
    product = _S(required=True, validate=validate.Length(min=1, max=50))
    share = _F(required=True, validate=validate.Range(min=0, max=1, min_inclusive=False))


class ArrivalsSchema(Schema):
    per_month = _F(validate=validate.Range(min=0, max=500), metadata={"description": "new pathways per month"})
    growth = _F(validate=validate.Range(min=-0.9, max=10), metadata={
        "description": "on the centre's observed rate of the last 12 months, e.g. 0.33 for +33%"})

    @validates_schema
    def _one(self, data: dict[str, Any], **_: Any) -> None:
        if "per_month" in data and "growth" in data:
            raise ValidationError("give per_month or growth, not both", "_schema")


class OverridesSchema(Schema):
    manufacturing_turnaround_days = _F(validate=validate.Range(min=1, max=180))
    length_of_stay_days = _F(validate=validate.Range(min=1, max=180))
    order_to_apheresis_days = _F(validate=validate.Range(min=0.5, max=180))
    icu_stay_days = _F(validate=validate.Range(min=0.5, max=180))
    outpatient_share = _F(validate=validate.Range(min=0, max=1), metadata={
        "description": "share of infusions given as outpatients (no ward bed for the main stay)"})
    fixed_durations = fields.Boolean(metadata={"description": "overridden durations without spread"})


def _lanes(value: dict[str, Any]) -> None:
    """The deployment's lanes (PATHWAY.md's and CARTPATH_EXTRA_LANES), read here so the CLI validates alike."""
    lanes = configured_lanes()
    unknown = sorted(set(value) - set(lanes))
    if unknown:
        raise ValidationError(f"unknown lane(s) {', '.join(unknown)}: must be one of {', '.join(lanes)}")


class SimulationRequestSchema(Schema):
    name = _S(validate=_text, metadata={"description": "the scenario's name in results and charts"})
    center = _S(required=True, validate=validate.Length(min=1, max=200))
    horizon_weeks = _I(load_default=26, validate=validate.Range(min=1, max=156))
    arrivals = fields.Nested(ArrivalsSchema, load_default=dict)
    mix = fields.List(fields.Nested(MixItemSchema), validate=validate.Length(min=1, max=20), metadata={
        "description": "indication and product mix (shares are relative); default a typical centre's"})
    beds = _I(allow_none=True, validate=validate.Range(min=0, max=10_000), metadata={
        "description": "ward beds; absent: the centre's CARTPATH_BEDS; null: unlimited"})
    icu_beds = _I(allow_none=True, validate=validate.Range(min=0, max=10_000), metadata={
        "description": "ICU beds; absent: the centre's CARTPATH_ICU_BEDS; null: unlimited"})
    staff_hours = fields.Dict(keys=_S(), values=_F(validate=validate.Range(min=0, max=100_000)), validate=_lanes,
                              metadata={"description": "configured hours per lane per week"})
    task_hours = fields.Dict(keys=_S(validate=validate.Length(min=1, max=100)),
                             values=_F(validate=validate.Range(min=0, max=100)),
                             metadata={"description": "hours of work per task (defaults: apheresis 5, thaw 1, ...)"})
    replications = _I(load_default=10, validate=validate.Range(min=1, max=100))
    seed = _I(load_default=1, validate=validate.Range(min=0, max=2**31))
    overrides = fields.Nested(OverridesSchema, load_default=dict)


class CompareRequestSchema(Schema):
    scenarios = fields.List(fields.Nested(SimulationRequestSchema), required=True,
                            validate=validate.Length(min=2, max=4))


# -- answers ---------------------------------------------------------------------------------------
class SimulationRunSchema(Schema):
    id, status, message = _S(), _S(validate=validate.OneOf(("queued", "running", "done", "failed"))), _S()
    progress = _F(metadata={"description": "0 to 1"})
    created_at, finished_at = _S(), _S(allow_none=True)
    scenarios = fields.List(_S())
    results = fields.List(fields.Dict(), allow_none=True, metadata={
        "description": "per scenario once done: daily (ward/ICU p10/p50/p90, capacity, p over capacity), "
                       "staff_weekly (hours per lane vs configured), bed_delay, vein_to_vein_days, outcomes, peak, "
                       "assumptions (every number used and where it came from)"})
    links = fields.Dict(keys=_S(), values=_S())


_BINARY = {"type": "string", "format": "binary"}
OCTET_STREAM = "application/octet-stream"


# -- plumbing --------------------------------------------------------------------------------------
def runs() -> Runs:
    found = current_app.extensions.get("cartpath_simulations")
    if found is None:
        settings = simulation_settings(dict(engine().env))
        found = current_app.extensions["cartpath_simulations"] = Runs(settings["dir"], settings["max_running"])
    return found


def _start(specs: list[dict[str, Any]], kind: str):
    principal = require(*ROLES)
    for spec in specs:
        if not sees_center(principal, spec["center"]):
            raise Forbidden(f"you are not authorised for centre {spec['center']!r}")
    app = engine()
    try:
        view_store: ViewStore | None = ViewStore.for_app(app)
    except Exception:  # noqa: BLE001 - no view store (an in-memory app): reference figures only
        view_store = None
    try:
        prepared = prepare(app, view_store, specs, now=app.clock.now())
    except (NothingDeployed, SimulationTooLarge) as err:
        return problem(422, "Unprocessable Entity", err.detail, PROBLEM_TYPE_BASE + err.code)
    workers = simulation_settings(dict(app.env))["workers"]
    owner = {"sub": principal.sub, "centers": sorted({s["center"] for s in specs})}
    try:
        record = runs().start(owner, {"kind": kind, "scenarios": [_jsonable(s) for s in specs]},
                              lambda progress: run_prepared(prepared, workers=workers, progress=progress))
    except TooManyRuns as err:
        return problem(429, "Too Many Requests", str(err), PROBLEM_TYPE_BASE + "too-many-simulations",
                       headers={"Retry-After": "30"})
    response = jsonify(_view(record))
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/simulations/{record['id']}"
    return response


def _jsonable(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in spec.items()}


def _view(record: dict[str, Any]) -> dict[str, Any]:
    base = f"/api/v1/simulations/{record['id']}"
    done = record["status"] == "done"
    return {"id": record["id"], "status": record["status"], "progress": record["progress"],
            "message": record["message"], "created_at": record["created_at"], "finished_at": record["finished_at"],
            "scenarios": [s.get("name") or "scenario" for s in record["request"]["scenarios"]],
            "results": record["results"] if done else None,
            "links": {"self": base, **({f"{chart}_{fmt}": f"{base}/charts/{chart}.{fmt}"
                                        for chart in simulation_charts.CHARTS for fmt in simulation_charts.FORMATS}
                                       | {"series_csv": f"{base}/series.csv"} if done else {})}}


def _visible(run_id: str) -> dict[str, Any]:
    principal = require(*ROLES)
    record = runs().read(run_id)
    if record is None or not all(sees_center(principal, c) for c in record["owner"]["centers"]):
        raise NotFound(f"simulation {run_id} does not exist")
    return record


def _finished(record: dict[str, Any]) -> Response | None:
    if record["status"] == "done":
        return None
    if record["status"] == "failed":
        return problem(409, "Conflict", f"the simulation failed: {record['message']}", PROBLEM_TYPE_BASE + "conflict")
    return problem(409, "Not yet", f"the simulation is {record['status']} ({record['progress']:.0%}); retry shortly",
                   PROBLEM_TYPE_BASE + "not-yet", headers={"Retry-After": "2"})


# -- endpoints -------------------------------------------------------------------------------------
# both ways to start a run answer the same: 202 with the run's URL, or one of these refusals
RUN_LOCATION = {"Location": {"description": "the run's URL", "required": True, "schema": {"type": "string"}}}
START_REFUSALS = ("BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE", "UNPROCESSABLE_ENTITY", "TOO_MANY_REQUESTS")

@blp.route("/simulations", methods=["POST"])
@consumes("json")
@operation_id(blp, "startSimulation")
@blp.arguments(SimulationRequestSchema)
@blp.response(202, SimulationRunSchema, headers=RUN_LOCATION)
@refusals(blp, *START_REFUSALS)
def start(body: dict[str, Any]):
    """Start a what-if simulation of one centre (coordination, haematology, admin): synthetic patients through
    the deployed cart_pathway on the real engine, in memory; poll the Location for progress, then results."""
    return _start([body], "single")


@blp.route("/simulations/compare", methods=["POST"])
@consumes("json")
@operation_id(blp, "compareSimulations")
@blp.arguments(CompareRequestSchema)
@blp.response(202, SimulationRunSchema, headers=RUN_LOCATION)
@refusals(blp, *START_REFUSALS)
def compare(body: dict[str, Any]):
    """Several scenarios in one run, side by side in the results and charts (e.g. today, +33% patients,
    30% outpatient infusions)."""
    return _start(body["scenarios"], "compare")


@blp.route("/simulations/<run_id>", methods=["GET"])
@operation_id(blp, "getSimulation")
@blp.response(200, SimulationRunSchema)
@refusals(blp, "NOT_FOUND")
def get(run_id: str):
    """A run's progress (`queued`, `running` with `progress` 0-1), then its results (`done`) or why it `failed`."""
    return jsonify(_view(_visible(run_id)))


@blp.route("/simulations/<run_id>/charts/<any(occupancy, staff):chart>.<any(png, svg):fmt>", methods=["GET"])
@operation_id(blp, "getSimulationChart")
@blp.response(200, _BINARY, content_type="image/png", description="the chart as PNG (or SVG for .svg)")
@blp.alt_response(200, schema=_BINARY, content_type="image/svg+xml", success=True, description="the chart as SVG")
@blp.alt_response(200, schema=_BINARY, content_type=OCTET_STREAM, success=True,
                  description="the same bytes, for a client that asks for application/octet-stream")
@refusals(blp, "NOT_FOUND", "CONFLICT")
def chart(run_id: str, chart: str, fmt: str):
    """Occupancy bands (p10-p90, median) against ward and ICU beds, or staff hours per lane per week against
    the configured hours; one panel per scenario. `Accept: application/octet-stream`: the same bytes typed so
    (clients generated from this document know no image types)."""
    record = _visible(run_id)
    refused = _finished(record)
    if refused is not None:
        return refused
    image = simulation_charts.FORMATS[fmt]
    accept = request.accept_mimetypes
    mimetype = OCTET_STREAM if accept[OCTET_STREAM] > accept[image] else image
    return Response(simulation_charts.render(chart, record["results"], fmt), mimetype=mimetype)


@blp.route("/simulations/<run_id>/series.csv", methods=["GET"])
@operation_id(blp, "getSimulationSeries")
@blp.response(200, {"type": "string"}, content_type="text/csv", description="one row per scenario and day")
@refusals(blp, "NOT_FOUND", "CONFLICT")
def series(run_id: str):
    """The day-by-day series as CSV: occupancy bands, capacity, probability of exceeding it, per scenario."""
    record = _visible(run_id)
    refused = _finished(record)
    if refused is not None:
        return refused
    response = Response(simulation_charts.series_csv(record["results"]), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="simulation-{run_id}.csv"'
    return response
