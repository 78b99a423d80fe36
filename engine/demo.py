"""``cartpath demo``: simulated patients, a simulated manufacturer, simulated time.

Every step goes through the application service exactly as an integrator's
would (start, complete tasks, deliver messages, fire timers), so the demo
exercises the real engine and store. Clinical behaviour is drawn from
PATHWAY.md's reference figures: ~93% eligible, apheresis sometimes
inadequate, manufacturing failure ~4-14% by indication, out-of-spec releases,
bridging in ~60%, CRS/ICANS grades with ~10% ICU transfers, drop-outs before
infusion by reason, ~20 days inpatient stay, follow-up to month 12.
"""
from __future__ import annotations

import heapq
import itertools
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from . import inventory, signatures
from .application import CartPath
from .errors import CartpathError, MessageNotCorrelated
from .forms import TaskForm
from .times import parse_instant

# (indication, product, manufacturer org, share, manufacturing failure rate)
PRODUCT_MIX = [
    ("DLBCL", "axi-cel", "kite", 0.40, 0.04), ("DLBCL", "tisa-cel", "novartis", 0.10, 0.06),
    ("DLBCL", "liso-cel", "bms", 0.10, 0.04), ("MM", "cilta-cel", "janssen", 0.12, 0.05),
    ("MM", "ide-cel", "bms", 0.08, 0.05), ("ALL", "tisa-cel", "novartis", 0.08, 0.07),
    ("MCL", "brexu-cel", "kite", 0.07, 0.14), ("FL", "axi-cel", "kite", 0.05, 0.04),
]
CENTERS = ["FR-01", "FR-02", "FR-03"]
ASSESSMENTS = ("daily_assessment", "icu_assessment")
DAY = timedelta(days=1)


@dataclass
class Plan:
    """What will happen to one simulated patient, drawn once at the start."""

    patient_ref: str
    center: str
    indication: str
    product: str
    manufacturer: str
    failure_rate: float
    eligible: bool
    consents: bool
    dropout: tuple[float, str] | None  # (days after start, reason) before infusion
    crs_peak: int
    icans_peak: int
    dies_after_infusion_day: float | None
    order_id: str = ""
    coi: str | None = None
    apheresis_attempts: int = 0
    releases: int = 0
    shipped_pending: bool = False
    infused_on: datetime | None = None
    last_grades: list[int] = field(default_factory=list)
    last_assessed: datetime | None = None
    registry_reports: int = 0
    died_at_follow_up: bool = False


class Simulation:
    def __init__(self, app: CartPath, seed: int, progress: Callable[[str], None] | None = None):
        self.app = app
        self.rng = random.Random(seed)
        self.queue: list[tuple[datetime, int, str, uuid.UUID | None, Any]] = []
        self.counter = itertools.count()
        self.plans: dict[uuid.UUID, Plan] = {}
        self.outbox_seen: dict[uuid.UUID, int] = {}
        self.progress = progress or (lambda _msg: None)
        self.commands = 0
        self.coi_seq = itertools.count(1)
        self.ended: set[uuid.UUID] = set()
        self.patients = 0

    # -- scheduling -----------------------------------------------------------------------
    def at(self, when: datetime, kind: str, pathway_id: uuid.UUID | None = None, payload: Any = None) -> None:
        heapq.heappush(self.queue, (when, next(self.counter), kind, pathway_id, payload))

    def run(self, patients: int) -> None:
        self.begin(patients)
        self.resume()

    def begin(self, patients: int) -> None:
        """Stock the pharmacies and schedule the patients' starts; ``resume`` plays them."""
        start = self.app.clock.now()
        for center in CENTERS:  # the pharmacies' tocilizumab: enough for every patient's reservation
            inventory.receive(self.app, center, 2 * patients + 10, f"TCZ-{center}-{start.date()}",
                              (start + timedelta(days=800)).date().isoformat())
        for i in range(patients):
            self.at(start + timedelta(hours=11 * i + self.rng.uniform(0, 6)), "start", None, i)
        self.patients = patients

    def resume(self, until: datetime | None = None) -> None:
        """Play what is scheduled, up to ``until`` (simulated time) or to the end: a simulation
        paused mid-flight leaves pathways running, e.g. to move them to another version."""
        ended, patients = self.ended, self.patients
        while self.queue and (until is None or self.queue[0][0] <= until):
            when, _, kind, pathway_id, payload = heapq.heappop(self.queue)
            self.app.fire_due_timers(when)
            if kind == "start":
                pathway_id = self.start_patient(payload, when)
            elif kind == "deliver":
                self.deliver(pathway_id, payload, when)  # type: ignore[arg-type]  # set for every deliver
            elif kind == "cancel":
                self.cancel(pathway_id, payload, when)  # type: ignore[arg-type]  # set for every cancel
            if pathway_id is not None and pathway_id not in ended and self.act(pathway_id, when):
                ended.add(pathway_id)
                if len(ended) % 50 == 0:
                    self.progress(f"demo: {len(ended)}/{patients} pathways ended (simulated {when.date()})")

    # -- the patients -------------------------------------------------------------------
    def start_patient(self, index: int, now: datetime) -> uuid.UUID:
        rng = self.rng
        roll, acc = rng.random(), 0.0
        for indication, product, org, share, failure in PRODUCT_MIX:  # noqa: B007  (the pick is used after the break)
            acc += share
            if roll <= acc:
                break
        dropout = None
        r = rng.random()
        # drop-out before infusion (French liso-cel cohort: 32/159 ordered not infused, deaths first)
        for p, reason in ((0.075, "death"), (0.02, "progression"), (0.006, "physician_decision"),
                          (0.006, "patient_decision")):
            if r < p:
                dropout = (rng.uniform(5, 40), reason)
                break
            r -= p
        plan = Plan(
            patient_ref=f"SIM-{index + 1:05d}", center=rng.choice(CENTERS), indication=indication, product=product,
            manufacturer=org, failure_rate=failure, eligible=rng.random() < 0.94, consents=rng.random() < 0.97,
            dropout=dropout, crs_peak=rng.choices([0, 1, 2, 3, 4], [0.15, 0.45, 0.30, 0.07, 0.03])[0],
            icans_peak=rng.choices([0, 1, 2, 3, 4], [0.65, 0.12, 0.12, 0.09, 0.02])[0],
            dies_after_infusion_day=rng.uniform(20, 330) if rng.random() < 0.06 else None,
        )
        return self.admit(plan, now)

    def admit(self, plan: Plan, now: datetime) -> uuid.UUID:
        """Start the plan's pathway as the coordinator and schedule its drop-out, if it has one."""
        started = self.app.start_pathway(plan.patient_ref, plan.center, plan.indication, plan.product,
                                         actor={"sub": "sim-coordinator", "roles": ["coordination"]})
        self.commands += 1
        pid = started.pathway.id
        self.plans[pid] = plan
        self.outbox_seen[pid] = started.pathway.version
        if plan.dropout:
            self.at(now + timedelta(days=plan.dropout[0]), "cancel", pid, plan.dropout[1])
        return pid

    def act(self, pathway_id: uuid.UUID, now: datetime) -> bool:
        """The hospital works through every ready task of this pathway; True if it ended."""
        plan = self.plans[pathway_id]
        for _ in range(50):
            pathway = self.app.get_pathway(pathway_id)
            if pathway.status != "active":
                break
            # treatments are recorded when given (never by the simulation); assessments at most daily
            todo = [t for t in pathway.ready.values() if t["name"] != "toxicity_treatment"
                    and not (t["name"] in ASSESSMENTS and plan.last_assessed is not None
                             and now - plan.last_assessed < timedelta(hours=20))]
            if not todo:
                break
            task = min(todo, key=lambda t: (t["ready_since"], t["name"]))
            model = self.app.model(pathway.definition["key"], pathway.definition["version"])
            data = self.task_data(task["name"], pathway, now, model.forms.get(task["name"]))
            staff = demo_staff(task["lane"])
            actor = {"sub": staff["sub"], "roles": staff["roles"]}  # the log keeps no staff name but a signature's
            signers = signatures.signers_for(model.forms.get(task["name"]), staff,
                                             witness=demo_staff(task["lane"], 2), countersigner=demo_staff("pharmacy"))
            self.app.complete_task(pathway_id, task["id"], data, actor=actor, signers=signers)
            self.commands += 1
            self.after_completion(pathway_id, task["name"], data, now)
        pathway = self.app.get_pathway(pathway_id)
        self.read_outbox(pathway, now)
        if pathway.status != "active":
            return True
        due = pathway.next_due()
        if any(t["name"] in ASSESSMENTS for t in pathway.ready.values()):
            tomorrow = (plan.last_assessed or now) + DAY
            due = min(due, tomorrow.isoformat()) if due is not None else tomorrow.isoformat()
        if due is not None:
            self.at(max(parse_instant(due) + timedelta(minutes=1), now), "act", pathway_id)
        return False

    def cancel(self, pathway_id: uuid.UUID, reason: str, now: datetime) -> None:
        pathway = self.app.get_pathway(pathway_id)
        if pathway.status == "active" and (not pathway.infused or reason == "death"):
            death = {"death_date": now.date().isoformat(),
                     "death_cause": self.rng.choices(["progression", "infection", "other"], [0.6, 0.3, 0.1])[0]
                     if pathway.infused else "progression"} if reason == "death" else {}
            self.app.cancel(pathway_id, reason, actor={"sub": "sim-hematologist", "roles": ["hematology"]},
                            death_date=death.get("death_date"), death_cause=death.get("death_cause"))
            self.commands += 1

    def after_completion(self, pathway_id: uuid.UUID, name: str, data: dict, now: datetime) -> None:
        plan = self.plans[pathway_id]
        if name == "failure_decision" and data.get("option") == "remanufacture":
            self.schedule_manufacturing(pathway_id, now)
        if name in ASSESSMENTS:
            plan.last_assessed = now
        if name == "registry_report":
            plan.registry_reports += 1
        if name == "follow_up_visit" and not data.get("alive", True):
            plan.died_at_follow_up = True
        if name == "infusion":
            plan.infused_on = now
            if plan.dies_after_infusion_day:
                self.at(now + timedelta(days=plan.dies_after_infusion_day), "cancel", pathway_id, "death")

    # -- what people enter ----------------------------------------------------------------
    def task_data(self, name: str, pathway, now: datetime, form: TaskForm | None) -> dict[str, Any]:
        plan, rng, today = self.plans[pathway.id], self.rng, now.date().isoformat()
        iso = now.isoformat()
        coi = pathway.coi
        data: dict[str, Any] = {}
        if name == "rcp_eligibility":
            data = {"eligible": plan.eligible, "rcp_date": today}
        elif name == "patient_consent":
            data = {"consent_signed": plan.consents}
        elif name == "place_order":
            plan.order_id = f"ORD-{plan.patient_ref}-{uuid.uuid4().hex[:6]}"
            data = {"order_id": plan.order_id, "manufacturer": plan.manufacturer,
                    "requested_apheresis_date": (now.date() + timedelta(days=10)).isoformat()}
        elif name == "apheresis":
            plan.apheresis_attempts += 1
            adequate = rng.random() < 0.92
            data = {"collection_date": today, "coi_scanned": coi, "cd3_cells_e9": round(rng.uniform(0.5, 6.0), 2)
                    if adequate else round(rng.uniform(0.05, 0.4), 2), "adequate": adequate}
        elif name == "ship_apheresis":
            data = {"courier": "cryo-courier", "shipper_id": f"SHP-{rng.randint(1000, 9999)}", "pickup_at": iso}
        elif name == "bridging_decision":
            bridging = rng.random() < 0.62
            regimen = {"regimen": rng.choice(["R-GemOx", "radiotherapy", "Pola-BR"])} if bridging else {}
            data = {"bridging": bridging} | regimen
        elif name == "failure_decision":
            data = {"option": rng.choices(["reapheresis", "remanufacture", "stop"], [0.35, 0.45, 0.20])[0],
                    "reason": "RCP decision"}
        elif name == "oos_acceptance":
            data = {"accept": rng.random() < 0.8, "reason": "viability 68% vs 70% spec; benefit outweighs risk",
                    "failed_specification": "viability >= 70%", "patient_informed": True}
        elif name == "product_receipt":
            data = {"coi_scanned": coi, "temperature_ok": rng.random() < 0.985,
                    "storage_location": f"LN2-{rng.randint(1, 4)}-{rng.randint(1, 40)}", "received_at": iso}
        elif name == "tocilizumab_reservation":
            data = {"doses": 2}
        elif name == "lymphodepletion_start":
            data = {"start_date": today, "regimen": "flu/cy"}
        elif name == "lymphodepletion_end":
            data = {"end_date": today, "completed": True}
        elif name == "pre_infusion_check":
            defer = rng.random() < 0.12
            data = {"active_infection": defer, "uncontrolled_arrhythmia": False, "vasopressor_hypotension": False,
                    "organ_dysfunction_g3": False, "clinical_worsening": False}
        elif name == "deferral_decision":
            data = {"option": rng.choices(["continue_deferral", "stop"], [0.8, 0.2])[0], "reason": "RCP decision"}
        elif name == "product_disposition":
            data = {"disposition": "destroyed", "at": iso}
        elif name == "thaw_product":
            # the bag is thawed just before the infusion, which is recorded at `now`; now and then
            # the infusion is delayed past every product's thaw window (a recorded deviation)
            ended = now - (timedelta(minutes=200) if rng.random() < 0.03 else timedelta(minutes=15))
            data = {"coi_scanned": coi, "thaw_started_at": (ended - timedelta(minutes=15)).isoformat(),
                    "thaw_ended_at": ended.isoformat()}
        elif name == "infusion":
            data = {"coi_wristband": coi, "coi_bag": coi, "infused_at": iso}
            thawed = pathway.data.get("thaw_product", {}).get("thaw_ended_at")
            if thawed and now - datetime.fromisoformat(thawed) > timedelta(minutes=30):
                data["deviation_reason"] = "patient's transfer from imaging delayed the infusion"
        elif name in ASSESSMENTS:
            data = self.assessment(plan, now)
        elif name == "icu_review":
            data = {"reviewed_at": iso, "transfer_now": rng.random() < 0.3}
        elif name in ("icu_transfer",):
            data = {"admitted_at": iso, "tocilizumab_given": True, "steroids_given": plan.icans_peak >= 3}
            plan.crs_peak = plan.icans_peak = 0  # treated: the ward sees a recovering patient afterwards
        elif name == "icu_discharge":
            data = {"discharged_at": iso}
        elif name == "discharge":
            data = {"discharged_at": iso, "caregiver_24h": True, "lodging_within_2h": True,
                    "driving_advice_given": True, "alert_card_given": True}
        elif name == "post_discharge_visit":
            data = {"visit_date": today, "readmit": False}
        elif name == "follow_up_visit":
            data = {"response": rng.choices(["CR", "PR", "SD", "PD"], [0.55, 0.2, 0.05, 0.2])[0], "alive": True}
        elif name == "registry_report":
            final = not pathway.infused or plan.died_at_follow_up
            timepoint = "end" if final else ["day0", "day100", "month6", "month12"][min(plan.registry_reports, 3)]
            data = {"registry": "DESCAR-T", "submitted_at": iso, "timepoint": timepoint}
        return fill_form(form, data, now)

    def assessment(self, plan: Plan, now: datetime) -> dict[str, Any]:
        day = (now - plan.infused_on).total_seconds() / 86400 if plan.infused_on else 0.0
        crs = plan.crs_peak if 1 <= day <= 6 else 0
        icans = plan.icans_peak if 4 <= day <= 8 else 0
        return {
            "temperature_c": 38.6 if crs else 36.9,
            "hypotension": {0: "none", 1: "none", 2: "fluids", 3: "one_vasopressor", 4: "multiple_vasopressors"}[crs],
            "oxygen": {0: "none", 1: "none", 2: "low_flow", 3: "none", 4: "none"}[crs],
            "ice_score": {0: 10, 1: 8, 2: 5, 3: 2, 4: 2}[icans], "seizure": False,
            "cerebral_edema": "diffuse" if icans == 4 else "none",
        }

    # -- the manufacturer -------------------------------------------------------------------
    def read_outbox(self, pathway, now: datetime) -> None:
        seen = self.outbox_seen.get(pathway.id, 0)
        if pathway.version <= seen:
            return
        ev: Any
        for ev in self.app.events.get(pathway.id, gt=seen):
            if type(ev).__name__ == "MessageSent":
                self.on_sent(pathway.id, ev.name, ev.payload, now)
        self.outbox_seen[pathway.id] = pathway.version

    def on_sent(self, pathway_id: uuid.UUID, name: str, payload: dict, now: datetime) -> None:
        plan, rng = self.plans[pathway_id], self.rng
        if name == "order_placed":
            plan.coi = plan.coi or f"W1234{now.year % 100:02d}{next(self.coi_seq):06d}00"
            delay = rng.choice([1, 2, 2, 3]) if rng.random() > 0.06 else 6.5
            self.at(now + timedelta(days=delay), "deliver", pathway_id, ("slot_confirmed", {
                "apheresis_date": (now.date() + timedelta(days=9)).isoformat(),
                "manufacturing_slot": f"SLOT-{rng.randint(100, 999)}"}))
        elif name == "product_quarantined":
            self.at(now + DAY, "deliver", pathway_id, ("quarantine_decision", {
                "usable": rng.random() < 0.7, "assessment_ref": f"QA-{rng.randint(1000, 9999)}"}))
        elif name == "apheresis_shipped":
            self.at(now + DAY, "deliver", pathway_id, ("apheresis_received", {
                "received_at": (now + DAY).isoformat(), "condition_ok": True}))
            self.schedule_manufacturing(pathway_id, now)

    def schedule_manufacturing(self, pathway_id: uuid.UUID, now: datetime) -> None:
        plan, rng = self.plans[pathway_id], self.rng
        plan.releases += 1
        self.at(now + timedelta(days=7), "deliver", pathway_id, ("manufacturing_status", {
            "stage": "expansion", "at": (now + timedelta(days=7)).isoformat()}))
        turnaround = timedelta(days=rng.uniform(16, 26))
        if rng.random() < plan.failure_rate:
            self.at(now + turnaround, "deliver", pathway_id,
                    ("manufacturing_failed", {"reason": "insufficient expansion"}))
            return
        released = now + turnaround
        self.at(released, "deliver", pathway_id, ("product_released", {
            "released_at": released.isoformat(), "out_of_spec": rng.random() < 0.05,
            "certificate_ref": f"CoA-{rng.randint(10000, 99999)}"}))
        self.at(released + timedelta(days=2), "deliver", pathway_id, ("product_shipped", {
            "shipper_id": f"SHP-{rng.randint(1000, 9999)}", "tracking": f"TRK{rng.randint(10**8, 10**9)}",
            "shipped_at": (released + timedelta(days=2)).isoformat()}))

    def deliver(self, pathway_id: uuid.UUID, message: tuple[str, dict], now: datetime, attempt: int = 0) -> None:
        name, payload = message
        plan = self.plans[pathway_id]
        correlation = {"order_id": plan.order_id, "coi": plan.coi}
        try:
            self.app.deliver_message(name, f"{plan.order_id}-{name}-{next(self.counter)}", correlation, payload,
                                     actor={"sub": f"portal-{plan.manufacturer}", "roles": ["manufacturer"],
                                            "org": plan.manufacturer})
            self.commands += 1
        except MessageNotCorrelated:
            # Not waited for (yet): the hospital is still deciding (out-of-spec review), or the
            # pathway ended. A real portal retries; so does ours, for a while.
            if attempt < 20 and self.app.get_pathway(pathway_id).status == "active":
                heapq.heappush(self.queue, (now + DAY, next(self.counter), "deliver", pathway_id, message))


def demo_staff(lane: str, n: int = 1) -> dict[str, Any]:
    """A simulated staff member of ``lane``; signatures record their printed (invented) name."""
    sub = f"sim-{lane}" if n == 1 else f"sim-{lane}-{n}"
    return {"sub": sub, "roles": [lane], "name": f"Demo {lane.replace('_', ' ')} staff {n}"}


def fill_form(form: TaskForm | None, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Keep what the model's form declares; fill required fields the simulation does not know."""
    if form is None:
        return data
    out = {}
    for spec in form.fields:
        if spec.name in data and data[spec.name] is not None:
            out[spec.name] = data[spec.name]
        elif spec.required and spec.default is None:
            out[spec.name] = _placeholder(spec, now)
    return out


def _placeholder(spec, now: datetime) -> Any:
    return {"string": "sim", "bool": False, "int": int(spec.minimum or 0), "number": float(spec.minimum or 0),
            "date": now.date().isoformat(), "datetime": now.isoformat(),
            "enum": spec.values[0] if spec.values else None}[spec.type]


def _days(a: Any, b: Any) -> float:
    return (_moment(b) - _moment(a)).total_seconds() / 86400


def _moment(value: Any) -> datetime:
    return parse_instant(value, naive_is_utc=True)


def run_demo(app: CartPath, patients: int, seed: int = 1, progress=None) -> dict[str, Any]:
    if not app.clock.manual:
        raise CartpathError("the demo needs the manual clock (CARTPATH_CLOCK=manual)")
    started = time.perf_counter()
    sim = Simulation(app, seed, progress)
    sim.run(patients)
    elapsed = time.perf_counter() - started
    outcomes: dict[str, int] = {}
    vein_to_vein = []
    for pid in sim.plans:
        pathway = app.get_pathway(pid)
        outcomes[pathway.outcome or pathway.status] = outcomes.get(pathway.outcome or pathway.status, 0) + 1
        collected, infused = _vein_to_vein(app, pid)
        if collected and infused:
            vein_to_vein.append(_days(collected, infused))
    return {
        "patients": patients, "outcomes": dict(sorted(outcomes.items())),
        "infused": len(vein_to_vein),
        "vein_to_vein_median_days": round(statistics.median(vein_to_vein), 1) if vein_to_vein else None,
        "commands": sim.commands, "seconds": round(elapsed, 2),
        "pathways_per_second": round(patients / elapsed, 1), "commands_per_second": round(sim.commands / elapsed),
        "simulated_until": app.clock.now().isoformat(),
    }


def _vein_to_vein(app: CartPath, pathway_id) -> tuple[Any, Any]:
    collected = infused = None
    ev: Any
    for ev in app.events.get(pathway_id):
        if type(ev).__name__ != "TaskCompleted":
            continue
        if ev.name == "apheresis" and ev.data.get("adequate") and collected is None:
            collected = date.fromisoformat(ev.data["collection_date"])
        elif ev.name == "infusion":
            infused = ev.data["infused_at"]
    return collected, infused
