"""The real engine's courses for the what-if simulation: one run per route, replayed per patient.

A *route* is the set of decisions a patient's pathway takes (eligible or not, a drop-out
and its stage, a manufacturing failure and the haematologist's answer, ICU, readmission,
death after infusion) plus the product, whose ``product_rules`` table decides the days
from lymphodepletion to infusion. Each route is driven once through the deployed
``cart_pathway`` version on a private, in-memory CartPath (eventsourcing's POPO store,
manual clock: nothing reaches the centre's store) by the demo's hospital and manufacturer,
told what to decide instead of drawing it. What the engine made of it (every user task with
its lane and time, the milestones, the outcome) is the route's :class:`Course`; each
synthetic patient then replays a course with its own sampled durations
(``simulation.py``). Running every patient step by step through the engine reached only
~11 patients per CPU-second; a route costs ~0.5 s once.
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from . import inventory
from .application import CartPath
from .demo import ASSESSMENTS, DAY, Plan, Simulation
from .forms import TaskForm

CENTER = "SIM-01"
#: The driver's own timings (days): the replay maps them onto each patient's sampled ones.
SLOT_DAYS, MANUFACTURING_DAYS = 2.0, 22.0
#: When a drop-out happens in the driver's timeline (days after start), by stage: before the
#: apheresis (the slot comes on day 2), during manufacturing, during lymphodepletion (day 26 on).
DROPOUT_DAY = {"before_apheresis": 1.0, "manufacturing": 12.0, "lymphodepletion": 27.5}
DROPOUT_STAGES = tuple(DROPOUT_DAY)
DEATH_AFTER_INFUSION_DAYS = 60.0
_COIS = itertools.count(1)  # one COI per pathway, across the routes run in this process
#: Milestones, in the order a pathway can reach them; the replay samples the segment ending at each.
MILESTONES = ("order", "apheresis", "failed", "release", "receipt", "admission", "infusion", "icu_in",
              "icu_out", "discharge", "readmit", "discharge2", "end")


@dataclass(frozen=True)
class Route:
    """What happens to a patient, as the engine is told it. ``end``: ``not_eligible``,
    ``declined``, ``dropout`` (at ``dropout_stage``), ``failure_stop`` or ``infused``."""

    end: str
    product: str
    indication: str = "DLBCL"
    dropout_stage: str | None = None
    remanufacture: bool = False
    icu: bool = False
    readmit: bool = False
    dies: bool = False


@dataclass(frozen=True)
class Course:
    """What the engine did on one route: ``tasks`` (name, lane, day) without the daily
    assessments (the replay counts those per day of stay), ``milestones`` (name, day) in
    time order, the ``outcome`` the pathway ended with, and the lanes of the assessments."""

    route: Route
    tasks: tuple[tuple[str, str, float], ...]
    milestones: tuple[tuple[str, float], ...]
    outcome: str
    assessment_lanes: tuple[tuple[str, str], ...]


class RouteDriver(Simulation):
    """The demo's hospital and manufacturer, deciding as the route says, on the driver's timings."""

    def __init__(self, app: CartPath, route: Route):
        super().__init__(app, seed=1)
        self.route = route
        self.readmitted = False
        self.coi_seq = _COIS

    def begin(self, patients: int) -> None:
        start = self.app.clock.now()
        inventory.receive(self.app, CENTER, 20, f"TCZ-{start.date()}", (start + timedelta(days=800)).date().isoformat())
        self.at(start, "start", None, 0)
        self.patients = 1

    def start_patient(self, index: int, now: datetime) -> uuid.UUID:
        route = self.route
        dropout = None
        if route.end == "dropout":
            dropout = (DROPOUT_DAY[route.dropout_stage or "manufacturing"], "progression")
        plan = Plan(patient_ref=f"SIM-{index + 1:05d}", center=CENTER, indication=route.indication,
                    product=route.product, manufacturer="sim-manufacturer", failure_rate=0.0,
                    eligible=route.end != "not_eligible", consents=route.end != "declined", dropout=dropout,
                    crs_peak=3 if route.icu else 1, icans_peak=0,
                    dies_after_infusion_day=DEATH_AFTER_INFUSION_DAYS if route.dies else None)
        return self.admit(plan, now)

    def task_data(self, name: str, pathway, now: datetime, form: TaskForm | None) -> dict[str, Any]:
        data = super().task_data(name, pathway, now, form)
        by_task: dict[str, dict[str, Any]] = {
            "apheresis": {"adequate": True, "cd3_cells_e9": 2.5},
            "failure_decision": {"option": "remanufacture" if self.route.remanufacture else "stop"},
            "product_receipt": {"temperature_ok": True, "shipper_seal_intact": True},
            "pre_infusion_check": {"active_infection": False},
            "icu_review": {"transfer_now": False},
            "follow_up_visit": {"alive": True},
        }
        decided = by_task.get(name, {})
        if name == "thaw_product":
            decided = {"thaw_started_at": (now - timedelta(minutes=30)).isoformat(),
                       "thaw_ended_at": (now - timedelta(minutes=15)).isoformat()}
        if name == "infusion":
            data.pop("deviation_reason", None)
        if name == "post_discharge_visit":
            decided = {"readmit": self.route.readmit and not self.readmitted}
            self.readmitted = self.readmitted or decided["readmit"]
        declared = {f.name for f in form.fields} if form is not None else set(decided)
        return data | {k: v for k, v in decided.items() if k in declared}

    def on_sent(self, pathway_id: uuid.UUID, name: str, payload: dict, now: datetime) -> None:
        plan = self.plans[pathway_id]
        if name == "order_placed":
            plan.coi = plan.coi or f"W1234{now.year % 100:02d}{next(self.coi_seq):06d}00"
            self.at(now + timedelta(days=SLOT_DAYS), "deliver", pathway_id, ("slot_confirmed", {
                "apheresis_date": (now.date() + timedelta(days=SLOT_DAYS)).isoformat(), "manufacturing_slot": "S-1"}))
        elif name == "apheresis_shipped":
            self.schedule_manufacturing(pathway_id, now)

    def schedule_manufacturing(self, pathway_id: uuid.UUID, now: datetime) -> None:
        plan = self.plans[pathway_id]
        plan.releases += 1
        done = now + timedelta(days=MANUFACTURING_DAYS)
        fails = self.route.end == "failure_stop" or (self.route.remanufacture and plan.releases == 1)
        if fails:
            self.at(done, "deliver", pathway_id, ("manufacturing_failed", {"reason": "insufficient expansion"}))
            return
        self.at(done, "deliver", pathway_id, ("product_released", {
            "released_at": done.isoformat(), "out_of_spec": False, "certificate_ref": "CoA-1"}))
        self.at(done + 2 * DAY, "deliver", pathway_id, ("product_shipped", {
            "shipper_id": "SHP-1", "tracking": "TRK1", "shipped_at": (done + 2 * DAY).isoformat()}))


def run_route(app: CartPath, route: Route) -> Course:
    """Drive one pathway of ``route`` through ``app``'s deployed ``cart_pathway`` and read its course."""
    # every route starts at 08:00 (the previous one left the manual clock anywhere): timers at midnight
    # (infusion day) then fall at the same hour of the course whichever routes ran before in this app
    now = app.clock.now()
    start = datetime.combine(now.date(), time(8), tzinfo=now.tzinfo)
    app.fire_due_timers(start if start >= now else start + DAY)
    driver = RouteDriver(app, route)
    driver.run(1)
    [pid] = driver.plans
    pathway = app.get_pathway(pid)
    tasks: list[tuple[str, str, float]] = []
    marks: list[tuple[str, float]] = []
    lanes: dict[str, str] = {}
    ev: Any
    events: list[Any] = list(app.events.get(pid))
    start = events[0].at
    last = start

    def day(at: datetime) -> float:
        return (at - start).total_seconds() / 86400

    discharges = 0
    for ev in events:
        kind = type(ev).__name__
        at = getattr(ev, "at", None)
        if at is not None:
            last = max(last, at)
        if kind == "TaskCompleted":
            if ev.name in ASSESSMENTS:
                lanes[ev.name] = ev.lane or ""
                continue
            tasks.append((ev.name, ev.lane or "", day(ev.at)))
            mark = {"place_order": "order", "product_receipt": "receipt", "lymphodepletion_start": "admission",
                    "infusion": "infusion", "icu_transfer": "icu_in", "icu_discharge": "icu_out"}.get(ev.name)
            if ev.name == "apheresis" and not any(m == "apheresis" for m, _ in marks):
                mark = "apheresis"
            if ev.name == "discharge":
                discharges += 1
                mark = "discharge" if discharges == 1 else "discharge2"
            if ev.name == "post_discharge_visit" and ev.data.get("readmit"):
                mark = "readmit"
            if mark and not any(m == mark for m, _ in marks):
                marks.append((mark, day(ev.at)))
        elif kind == "MessageReceived" and ev.name in ("manufacturing_failed", "product_released"):
            mark = "failed" if ev.name == "manufacturing_failed" else "release"
            if not any(m == mark for m, _ in marks):
                marks.append((mark, day(ev.at)))
    marks.append(("end", day(last)))
    model = app.model(pathway.definition["key"], pathway.definition["version"])
    lanes = {name: model.lanes.get(name) or lanes.get(name) or "" for name in ASSESSMENTS}
    marks.sort(key=lambda m: (m[1], MILESTONES.index(m[0])))
    return Course(route=route, tasks=tuple(tasks), milestones=tuple(marks),
                  outcome=pathway.outcome or pathway.status, assessment_lanes=tuple(sorted(lanes.items())))


def course_app(files: dict[str, bytes]) -> CartPath:
    """A private in-memory CartPath (manual clock) with ``files`` deployed: a route's run never
    touches the centre's store."""
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CARTPATH_CLOCK": "manual",
                        "CARTPATH_CLOCK_START": "2026-01-05T08:00:00+00:00"})
    app.deploy(files, actor={"sub": "simulation", "roles": ["system"]})
    return app


_APPS: dict[int, CartPath] = {}  # per process and file set: deployed once, reused by every batch of routes


def run_routes(files: dict[str, bytes], routes: list[Route]) -> list[Course]:
    key = hash(tuple(sorted(files.items())))
    app = _APPS.get(key)
    if app is None:
        app = _APPS[key] = course_app(files)
    return [run_route(app, route) for route in routes]
