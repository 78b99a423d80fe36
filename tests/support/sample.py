"""Synthetic CAR-T histories, written as genuine Pathway events without running the engine.

For tests and benchmarks of the read side only: the events have the engine's
own types and fields (PATHWAY.md names), but no BPMN decided them, so these
pathways cannot be verified or continued by the engine. ``Story`` writes one
pathway step by step; ``write_population`` simulates many, interleaved in time
as a real store would hold them.
"""
from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from cartpath.engine import signatures
from cartpath.engine.forms import TaskForm
from cartpath.engine.pathway import Pathway

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
DEFINITION = {"key": "cart_pathway", "version": 1, "sha256": "synthetic"}
LANES = {"rcp_eligibility": "hematology", "patient_consent": "coordination", "place_order": "pharmacy",
         "apheresis": "apheresis", "ship_apheresis": "cell_therapy_unit", "bridging_decision": "hematology",
         "failure_decision": "hematology", "oos_acceptance": "hematology", "product_receipt": "pharmacy",
         "lymphodepletion_start": "ward", "pre_infusion_check": "ward", "thaw_product": "pharmacy",
         "infusion": "ward", "daily_assessment": "ward", "icu_transfer": "icu", "icu_discharge": "icu",
         "discharge": "ward", "follow_up_visit": "hematology", "registry_report": "coordination",
         "chase_slot": "coordination", "chase_manufacturer": "coordination",
         # contract v2
         "lymphodepletion_end": "ward", "tocilizumab_reservation": "pharmacy", "deferral_decision": "hematology",
         "product_disposition": "pharmacy", "toxicity_treatment": "ward", "icu_review": "icu",
         "icu_assessment": "icu", "post_discharge_visit": "hematology"}



# The bundled model's signed tasks and their two-person checks (processes/cart_pathway.bpmn).
SIGNED = {"thaw_product": TaskForm(signed=True), "infusion": TaskForm(signed=True, witness=True),
          "product_receipt": TaskForm(signed=True, witness=True),
          "oos_acceptance": TaskForm(signed=True, countersign="pharmacy")}


def staff(lane: str, center: str) -> dict[str, Any]:
    return {"sub": f"{lane}-{center.lower()}", "roles": [lane], "centers": [center]}


def manufacturer_actor(org: str) -> dict[str, Any]:
    return {"sub": f"{org}-portal", "roles": ["manufacturer"], "org": org}


class Story:
    """One synthetic pathway; every method records events at the time given."""

    def __init__(self, rng: random.Random, patient_ref: str, center: str, product: str, indication: str,
                 at: datetime, *, definition: dict[str, Any] | None = None):
        self.rng = rng
        self.center = center
        self.pathway = Pathway(id=self._uuid(), definition=definition or DEFINITION,
                               start={"patient_ref": patient_ref, "center": center, "indication": indication,
                                      "product": product},
                               business_key=None, actor=staff("coordination", center), at=at)
        self.pathway._node_completed(node_id="start", kind="startEvent", flows=[], at=at)
        self.order_id: str | None = None
        self.coi: str | None = None
        self.manufacturer: str | None = None

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    @property
    def id(self) -> uuid.UUID:
        return self.pathway.id

    # -- steps ------------------------------------------------------------------------
    def ready(self, name: str, at: datetime) -> str:
        task_id = str(self._uuid())
        self.pathway._task_ready(task_id=task_id, name=name, lane=LANES.get(name), title=name.replace("_", " ").title(),
                                 due_at=None,
                                 at=at)
        return task_id

    def complete(self, name: str, data: dict[str, Any], at: datetime, actor: dict[str, Any] | None = None) -> None:
        [task_id] = [t for t, r in self.pathway.ready.items() if r["name"] == name]
        lane = LANES.get(name)
        actor = actor or staff(lane or "coordination", self.center)
        signers = signatures.signers_for(SIGNED.get(name), {**actor, "name": f"Staff {actor['sub']}"},
                                         witness={**actor, "sub": actor["sub"] + "-2", "name": "Second nurse"},
                                         countersigner={"sub": staff("pharmacy", self.center)["sub"],
                                                        "roles": ["pharmacy"], "name": "Pharmacist"})
        self.pathway._task_completed(task_id=task_id, name=name, lane=lane, data=data, actor=actor, at=at,
                                     signatures=signatures.manifestations(self.id, task_id, name, data, signers, at))
        self.pathway._node_completed(node_id=name, kind="userTask", flows=[f"after_{name}"], at=at)

    def task(self, name: str, data: dict[str, Any], ready_at: datetime, done_at: datetime) -> None:
        self.ready(name, ready_at)
        self.complete(name, data, done_at)

    def send(self, name: str, payload: dict[str, Any], at: datetime) -> None:
        self.pathway._message_sent(name=name, message_id=str(self._uuid()), payload=payload, at=at)

    def wait_message(self, message: str, at: datetime) -> str:
        task_id = str(self._uuid())
        self.pathway._message_awaited(task_id=task_id, node_id=f"wait_{message}", message=message, at=at)
        return task_id

    def arm_timer(self, node_id: str, due: datetime, at: datetime) -> str:
        task_id = str(self._uuid())
        self.pathway._timer_armed(task_id=task_id, node_id=node_id, due_at=due.isoformat(), at=at)
        return task_id

    def end_wait(self, task_id: str, how: str, at: datetime) -> None:
        self.pathway._wait_ended(task_id=task_id, node_id=None, how=how, at=at)

    def fire_timers(self, at: datetime) -> None:
        self.pathway._timers_fired(at=at)

    def receive(self, name: str, payload: dict[str, Any], at: datetime, *, delivered: bool = True) -> None:
        correlation = {"order_id": self.order_id, "coi": self.coi}
        self.pathway._message_received(name=name, message_id=str(self._uuid()), correlation=correlation,
                                       payload=payload, delivered=delivered,
                                       actor=manufacturer_actor(self.manufacturer or "mfr"), at=at)

    def decide(self, node_id: str, result: dict[str, Any], at: datetime) -> None:
        self.pathway._node_completed(node_id=node_id, kind="businessRuleTask", flows=[], at=at, result=result)

    def cancel(self, reason: str, at: datetime, *, death_date: str | None = None,
               death_cause: str | None = None) -> None:
        """A cancel; for a death, ``death_date`` and ``death_cause`` (v2) when the engine's event has them."""
        extra = {}
        if reason == "death":
            extra = {"death_date": death_date or at.date().isoformat(), "death_cause": death_cause or "other"}
        self.pathway._cancelled(reason=reason, comment=None, actor=staff("hematology", self.center), at=at, **extra)
        for task_id, ready in list(self.pathway.ready.items()):
            self.pathway._task_withdrawn(task_id=task_id, name=ready["name"], at=at)
        for task_id in list(self.pathway.waiting):
            self.end_wait(task_id, "cancelled", at)
        handover = reason in ("lost_to_follow_up", "transferred")
        self.end(("follow_up_handover" if handover else "deceased") if self.pathway.infused else "cancelled", at)

    def end(self, outcome: str, at: datetime) -> None:
        self.pathway._ended(outcome=outcome,
                            end_node=None if outcome in ("cancelled", "deceased") else f"end_{outcome}",
                            at=at)

    # -- contract v2 facts ----------------------------------------------------------------------
    def assess(self, crs: int, icans: int, at: datetime, *, task: str = "daily_assessment") -> None:
        """A daily (ward) or ICU assessment and its two grades (``task``: ``icu_assessment`` in ICU)."""
        self.task(task, {"temperature_c": 38.5 if crs else 37.0, "hypotension": "none" if crs < 2 else
                         "fluids" if crs == 2 else "one_vasopressor" if crs == 3 else "multiple_vasopressors",
                         "oxygen": "none", "ice_score": max(0, 10 - 3 * icans), "seizure": False,
                         "cerebral_edema": "none", "assessed_at": at.isoformat()}, at, at)
        self.decide("crs_grade", {"crs_grade": crs}, at)
        self.decide("icans_grade", {"icans_grade": icans}, at)

    def quarantine(self, reason: str, at: datetime) -> str:
        """The product put in quarantine at receipt; returns the wait for the manufacturer's decision."""
        self.send("product_quarantined", {"coi": self.coi, "order_id": self.order_id, "reason": reason,
                                          "datalogger_ref": f"DL-{self.order_id}"}, at)
        return self.wait_message("quarantine_decision", at)

    def treat(self, drug: str, at: datetime, *, override_reason: str | None = None) -> None:
        """A treatment; with ``override_reason``, a tocilizumab dose over the 24-hour limit (the 4th:
        the engine records a DeviationRecorded after the completion)."""
        data = {"drug": drug, "dose": "8 mg/kg" if drug == "tocilizumab" else "10 mg", "given_at": at.isoformat()}
        if override_reason:
            data["override_reason"] = override_reason
        self.task("toxicity_treatment", data, at, at)
        if override_reason:
            self.deviation("tocilizumab_24h_limit", "toxicity_treatment", override_reason, at, limit_doses=3,
                           actual_doses=4)

    def deviation(self, kind: str, task: str, reason: str, at: datetime, **limits: int) -> None:
        """What the engine's clinical rules record when a limit is passed with a reason (engine/clinical.py)."""
        self.pathway._deviation_recorded(kind=kind, task=task, reason=reason, at=at, **limits)

    # -- the manufacturer handshake -----------------------------------------------------------------
    def order(self, order_id: str, manufacturer: str, at: datetime) -> None:
        self.order_id, self.manufacturer = order_id, manufacturer
        self.complete("place_order", {"order_id": order_id, "manufacturer": manufacturer,
                                      "requested_apheresis_date": (at + timedelta(days=10)).date().isoformat()}, at)
        self.send("order_placed", {"order_id": order_id, "manufacturer": manufacturer,
                                   "patient_ref": self.pathway.patient_ref, "product": self.pathway.product,
                                   "center": self.center}, at)

    def confirm_slot(self, coi: str, apheresis_date: datetime, at: datetime) -> None:
        self.coi = coi
        self.receive("slot_confirmed", {"apheresis_date": apheresis_date.date().isoformat(),
                                        "manufacturing_slot": f"S-{apheresis_date:%Y%m%d}"}, at)


def _days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def life(story: Story, rng: random.Random, at: datetime, n: int) -> Iterator[datetime]:
    """A plausible pathway (PATHWAY.md's reference figures); yields whenever time passes."""
    s = story
    s.ready("rcp_eligibility", at)
    at += _days(rng, 1, 7)
    yield at
    eligible = rng.random() > 0.05
    s.complete("rcp_eligibility", {"eligible": eligible, "rcp_date": at.date().isoformat()}, at)
    if not eligible:
        s.end("not_eligible", at)
        return
    s.ready("patient_consent", at)
    at += _days(rng, 0.5, 3)
    yield at
    if rng.random() < 0.03:
        s.complete("patient_consent", {"consent_signed": False}, at)
        s.end("declined", at)
        return
    s.complete("patient_consent", {"consent_signed": True}, at)
    s.ready("place_order", at)
    at += _days(rng, 0.5, 2)
    yield at
    manufacturer = rng.choice(["kite", "novartis", "bms"])
    s.order(f"ORD-{n:07d}", manufacturer, at)
    wait = s.wait_message("slot_confirmed", at)
    chase = s.arm_timer("slot_chase", at + timedelta(days=5), at)
    at += _days(rng, 1, 4)
    yield at
    apheresis_date = at + _days(rng, 4, 10)
    s.confirm_slot(f"COI-{n:07d}", apheresis_date, at)
    s.end_wait(wait, "done", at)
    s.end_wait(chase, "removed", at)
    if rng.random() < 0.03:  # dies or progresses before apheresis
        at += _days(rng, 1, 5)
        yield at
        s.cancel(rng.choice(["death", "progression"]), at)
        return
    attempts = 0
    while True:
        s.ready("apheresis", at)
        at = max(at, apheresis_date) + _days(rng, 0, 1)
        yield at
        attempts += 1
        adequate = rng.random() > 0.05 or attempts == 4
        s.complete("apheresis", {"collection_date": at.date().isoformat(), "coi_scanned": s.coi,
                                 "cd3_cells_e9": round(rng.uniform(1, 12), 2), "adequate": adequate}, at)
        if adequate:
            break
        apheresis_date = at + timedelta(days=7)
    s.ready("ship_apheresis", at)
    s.ready("bridging_decision", at)
    at += _days(rng, 0.1, 1)
    yield at
    s.complete("ship_apheresis", {"courier": "cryo-express", "shipper_id": f"SH-{n}", "pickup_at": at.isoformat()}, at)
    s.send("apheresis_shipped", {"coi": s.coi, "order_id": s.order_id, "shipper_id": f"SH-{n}",
                                 "pickup_at": at.isoformat()}, at)
    bridging = rng.random() < 0.6
    s.complete("bridging_decision", {"bridging": bridging, **({"regimen": "R-GemOx"} if bridging else {})},
               at + _days(rng, 0, 1))
    while True:
        wait = s.wait_message("product_released", at)
        chase = s.arm_timer("manufacturing_chase", at + timedelta(days=35), at)
        at += _days(rng, 1, 3)
        yield at
        s.receive("apheresis_received", {"received_at": at.isoformat(), "condition_ok": True}, at, delivered=False)
        for stage in ("activation", "expansion"):
            at += _days(rng, 3, 8)
            yield at
            s.receive("manufacturing_status", {"stage": stage, "at": at.isoformat()}, at, delivered=False)
        at += _days(rng, 8, 14)
        yield at
        if rng.random() < 0.06:
            s.receive("manufacturing_failed", {"reason": "insufficient expansion"}, at)
            s.end_wait(wait, "done", at)
            s.end_wait(chase, "removed", at)
            s.ready("failure_decision", at)
            at += _days(rng, 1, 4)
            yield at
            option = rng.choice(["remanufacture", "stop"])
            s.complete("failure_decision",
                       {"option": option, **({"reason": "no product" } if option == "stop" else {})},
                       at)
            if option == "stop":
                s.end("not_infused", at)
                return
            continue
        oos = rng.random() < 0.03
        s.receive("product_released", {"released_at": at.isoformat(), "out_of_spec": oos,
                                       "certificate_ref": f"CERT-{n}"}, at)
        s.end_wait(wait, "done", at)
        s.end_wait(chase, "removed", at)
        if oos:
            s.ready("oos_acceptance", at)
            at += _days(rng, 0.5, 2)
            yield at
            s.complete("oos_acceptance", {"accept": True, "reason": "within clinical tolerance",
                                          "failed_specification": "viability", "patient_informed": True}, at)
        break
    wait = s.wait_message("product_shipped", at)
    at += _days(rng, 1, 3)
    yield at
    s.receive("product_shipped", {"shipper_id": f"SH-B{n}", "tracking": f"TRK{n}", "shipped_at": at.isoformat()}, at)
    s.end_wait(wait, "done", at)
    s.ready("product_receipt", at)
    at += _days(rng, 1, 2)
    yield at
    s.complete("product_receipt", {"coi_scanned": s.coi, "temperature_ok": True, "storage_location": "LN2-A",
                                   "received_at": at.isoformat()}, at)
    s.send("product_received", {"coi": s.coi, "order_id": s.order_id, "received_at": at.isoformat(),
                                "temperature_ok": True}, at)
    if rng.random() < 0.04:  # (v2) a datalogger excursion: quarantine until the manufacturer decides
        wait = s.quarantine("datalogger excursion", at)
        at += _days(rng, 1, 4)
        yield at
        usable = rng.random() < 0.8
        s.receive("quarantine_decision", {"usable": usable, "assessment_ref": f"QA-{n}"}, at)
        s.end_wait(wait, "done", at)
        if not usable:
            s.task("failure_decision", {"option": "stop", "reason": "product unusable after quarantine"}, at, at)
            s.task("product_disposition", {"disposition": "returned_to_manufacturer", "at": at.isoformat()}, at, at)
            s.end("not_infused", at)
            return
    if rng.random() < 0.04:
        at += _days(rng, 1, 6)
        yield at
        s.cancel(rng.choice(["death", "progression", "physician_decision", "patient_decision"]), at,
                 death_cause="progression")
        return
    s.ready("lymphodepletion_start", at)
    at += _days(rng, 1, 7)
    yield at
    s.complete("lymphodepletion_start", {"start_date": at.date().isoformat(), "regimen": "flu/cy"}, at)
    timer = s.arm_timer("infusion_day", at + timedelta(days=5), at)
    s.task("lymphodepletion_end", {"end_date": (at + timedelta(days=3)).date().isoformat(), "completed": True},
           at, at + timedelta(days=3))
    s.task("tocilizumab_reservation", {"doses": 2}, at, at + timedelta(days=3))
    at += timedelta(days=5, seconds=1)
    yield at
    s.fire_timers(at)
    s.end_wait(timer, "done", at)
    if rng.random() < 0.03:  # (v2) deferred, then not infused: the released product is destroyed
        s.task("pre_infusion_check", {"active_infection": True, "uncontrolled_arrhythmia": False,
                                      "vasopressor_hypotension": False, "organ_dysfunction_g3": False,
                                      "clinical_worsening": False}, at, at)
        s.decide("infusion_deferral", {"defer": True}, at)
        at += _days(rng, 1, 3)
        yield at
        s.task("deferral_decision", {"option": "stop", "reason": "persistent infection"}, at, at)
        s.task("product_disposition", {"disposition": "destroyed", "at": at.isoformat()}, at, at)
        s.end("not_infused", at)
        return
    s.task("pre_infusion_check", {"active_infection": False, "uncontrolled_arrhythmia": False,
                                  "vasopressor_hypotension": False, "organ_dysfunction_g3": False,
                                  "clinical_worsening": False, "tocilizumab_doses_on_site": 2}, at, at)
    s.decide("infusion_deferral", {"defer": False}, at)
    s.task("thaw_product", {"coi_scanned": s.coi, "thaw_started_at": at.isoformat(),
                            "thaw_ended_at": (at + timedelta(minutes=20)).isoformat()}, at, at + timedelta(minutes=20))
    late = rng.random() < 0.02  # (v2) infused past the thaw window (axi-cel: 180 min), with the reason recorded
    at += timedelta(minutes=220 if late else 40)
    infusion = {"coi_wristband": s.coi, "coi_bag": s.coi, "infused_at": at.isoformat()}
    if late:
        infusion["deviation_reason"] = "patient transferred from radiology"
    s.task("infusion", infusion, at, at)
    if late:
        s.deviation("thaw_to_infusion", "infusion", infusion["deviation_reason"], at, limit_minutes=180,
                    actual_minutes=200)
    s.send("infusion_done", {"coi": s.coi, "order_id": s.order_id, "infused_at": at.isoformat()}, at)
    infused = at
    s.task("registry_report", {"registry": "DESCAR-T", "submitted_at": at.isoformat(), "timepoint": "day0"}, at, at)
    stay = rng.randint(12, 24)
    severe_day = rng.randint(2, 6) if rng.random() < 0.1 else None
    day = 0
    while day < stay:
        day += 1
        at += timedelta(days=1)
        yield at
        crs = 2 if day == severe_day else rng.choice([0, 0, 0, 1, 1, 2]) if day < 8 else 0
        icans = rng.choice([0, 0, 0, 0, 1, 2]) if day < 8 else 0
        s.assess(crs, icans, at)
        if crs >= 2:
            s.treat("tocilizumab", at)
            if rng.random() < 0.02:  # refractory: three more doses that day, the last over the limit
                for hours in (6, 12):
                    s.treat("tocilizumab", at + timedelta(hours=hours))
                s.treat("tocilizumab", at + timedelta(hours=18), override_reason="refractory CRS")
        if day == severe_day:
            # (v2) an ICU review, a transfer, and the worst grades seen in ICU (icu_assessment)
            s.task("icu_review", {"reviewed_at": at.isoformat(), "transfer_now": True}, at, at)
            s.task("icu_transfer", {"admitted_at": at.isoformat(), "tocilizumab_given": True, "steroids_given": False},
                   at, at)
            icu_days = rng.randint(1, 4)
            for _ in range(icu_days):
                at += timedelta(days=1)
                yield at
                s.assess(rng.choice([3, 3, 4]), rng.choice([0, 2, 3, 4]), at, task="icu_assessment")
                s.treat("dexamethasone", at)
            if rng.random() < 0.15:  # (v2) death in ICU: ends the stay
                at += _days(rng, 0, 1)
                yield at
                s.cancel("death", at, death_date=at.date().isoformat(), death_cause="crs")
                return
            s.task("icu_discharge", {"discharged_at": at.isoformat()}, at, at)
            day += icu_days
    s.task("discharge", {"discharged_at": at.isoformat(), "caregiver_24h": True, "lodging_within_2h": True,
                         "driving_advice_given": True, "alert_card_given": True}, at, at)
    if rng.random() < 0.1:  # (v2) readmitted at a weekly visit before day 28, then home again
        at = max(at + timedelta(days=2), infused + timedelta(days=day + 3))
        yield at
        s.task("post_discharge_visit", {"visit_date": at.date().isoformat(), "readmit": True, "reason": "fever"},
               at, at)
        for _ in range(rng.randint(2, 5)):
            at += timedelta(days=1)
            yield at
            s.assess(rng.choice([0, 1]), 0, at)
        s.task("discharge", {"discharged_at": at.isoformat(), "caregiver_24h": True, "lodging_within_2h": True,
                             "driving_advice_given": True, "alert_card_given": True}, at, at)
    timer = s.arm_timer("follow_up_m1", at + timedelta(days=30), at)
    at += timedelta(days=30)
    yield at
    s.fire_timers(at)
    s.end_wait(timer, "done", at)
    s.ready("follow_up_visit", at)
    at += _days(rng, 0, 3)
    yield at
    if rng.random() < 0.04:  # (v2) died before the month-1 visit: end deceased after the registry report
        s.complete("follow_up_visit", {"alive": False, "death_date": (at - timedelta(days=2)).date().isoformat(),
                                       "death_cause": "progression"}, at)
        s.task("registry_report", {"registry": "DESCAR-T", "submitted_at": at.isoformat(), "timepoint": "end"},
               at, at + timedelta(days=1))
        s.end("deceased", at + timedelta(days=1))
        return
    s.complete("follow_up_visit", {"response": rng.choice(["CR", "CR", "PR", "SD", "PD"]), "alive": True}, at)
    s.task("registry_report", {"registry": "DESCAR-T", "submitted_at": at.isoformat(), "timepoint": "day100"},
           at, at + timedelta(days=1))
    s.end("follow_up_handover", at + timedelta(days=1))


def write_population(app: Any, patients: int, *, seed: int = 1, start: datetime = T0, until: datetime | None = None,
                     centers: tuple[str, ...] = ("FR-01", "FR-02", "FR-03"), arrivals_per_day: float = 3.0,
                     save_every: int = 400, first: int = 0) -> dict[str, Any]:
    """Simulate ``patients`` pathways arriving over time; events are saved in time order, many
    pathways per transaction. Stops at ``until`` (pathways then still in flight stay active)."""
    rng = random.Random(seed)
    queue: list[tuple[datetime, int, Story, Iterator[datetime]]] = []
    products = ("axi-cel", "tisa-cel", "liso-cel")
    at = start
    for n in range(first, first + patients):
        at += timedelta(days=rng.expovariate(arrivals_per_day))
        story = Story(random.Random(rng.getrandbits(64)), f"PSN-{n:07d}", rng.choice(centers), rng.choice(products),
                      rng.choice(["DLBCL", "DLBCL", "MCL", "FL", "ALL"]), at)
        heapq.heappush(queue, (at, n, story, life(story, story.rng, at, n)))
    dirty: dict[uuid.UUID, Pathway] = {}
    steps = 0
    while queue:
        when, n, story, steps_left = heapq.heappop(queue)
        if until is not None and when > until:
            break
        dirty[story.id] = story.pathway
        try:
            heapq.heappush(queue, (next(steps_left), n, story, steps_left))
        except StopIteration:
            pass
        steps += 1
        if len(dirty) >= save_every:
            app.save(*dirty.values())
            dirty.clear()
    if dirty:
        app.save(*dirty.values())
    return {"patients": patients, "steps": steps, "in_flight": len(queue)}
