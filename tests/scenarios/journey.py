"""One patient's CAR-T pathway, driven the way the hospital and the manufacturer drive it.

A :class:`Journey` only uses the engine's public use cases (``start_pathway``,
``complete_task``, ``deliver_message``, ``fire_due_timers``, ``cancel``), on a real
store with the manual clock, so a scenario reads like the pathway itself:
``j.eligible(); j.consent(); j.order(); j.slot()...``. Each step asserts what the
next step needs, so a scenario fails at the step where the model misbehaves.
"""
from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cartpath.engine import inventory, signatures
from cartpath.engine.application import CartPath

MANUFACTURER = "kite-eu"
ACTORS = {
    "coordination": {"sub": "nurse-coord-1", "roles": ["coordination"], "centers": ["FR-075-01"]},
    "hematology": {"sub": "dr-hema-1", "roles": ["hematology"], "centers": ["FR-075-01"]},
    "apheresis": {"sub": "aph-tech-1", "roles": ["apheresis"], "centers": ["FR-075-01"]},
    "pharmacy": {"sub": "pharm-1", "roles": ["pharmacy"], "centers": ["FR-075-01"]},
    "cell_therapy_unit": {"sub": "ctu-tech-1", "roles": ["cell_therapy_unit"], "centers": ["FR-075-01"]},
    "ward": {"sub": "nurse-ward-1", "roles": ["ward"], "centers": ["FR-075-01"]},
    "icu": {"sub": "dr-icu-1", "roles": ["icu"], "centers": ["FR-075-01"]},
    "manufacturer": {"sub": "mfr-api", "roles": ["manufacturer"], "org": MANUFACTURER},
}
# Printed names for signatures (the one place a staff member's name is recorded; never a patient's).
STAFF_NAMES = {"nurse-coord-1": "Claire Martin", "dr-hema-1": "Dr Paul Bernard", "aph-tech-1": "Inès Petit",
               "pharm-1": "Hugo Durand", "pharm-2": "Léa Moreau", "ctu-tech-1": "Sami Haddad",
               "nurse-ward-1": "Emma Laurent", "nurse-ward-2": "Lucas Simon", "dr-icu-1": "Dr Nora Michel"}
# The second person at a two-person check (JACIE bedside identity check), by lane.
WITNESSES = {"ward": {"sub": "nurse-ward-2", "roles": ["ward"], "centers": ["FR-075-01"]},
             "pharmacy": {"sub": "pharm-2", "roles": ["pharmacy"], "centers": ["FR-075-01"]}}


def signer(actor: dict[str, Any]) -> dict[str, Any]:
    return {**actor, "name": STAFF_NAMES[actor["sub"]]}


# What each outbound message carries (PATHWAY.md, "Manufacturer messages").
OUTBOX_FIELDS = {
    "order_placed": {"order_id", "manufacturer", "patient_ref", "product", "center", "requested_apheresis_date"},
    "apheresis_shipped": {"coi", "order_id", "shipper_id", "pickup_at"},
    "product_received": {"coi", "order_id", "received_at", "temperature_ok"},
    "product_quarantined": {"coi", "order_id", "reason", "datalogger_ref"},
    "infusion_done": {"coi", "order_id", "infused_at"},
}
CALM_DAY = {"temperature_c": 37.0, "hypotension": "none", "oxygen": "none", "ice_score": 10, "seizure": False,
            "cerebral_edema": "none"}
FIT_FOR_INFUSION = {"active_infection": False, "uncontrolled_arrhythmia": False, "vasopressor_hypotension": False,
                    "organ_dysfunction_g3": False, "clinical_worsening": False}
READY_FOR_HOME = {"caregiver_24h": True, "lodging_within_2h": True, "driving_advice_given": True,
                  "alert_card_given": True}
# Always open from infusion to discharge (treatments are recorded when given): left out of ready().
ALWAYS_OPEN = {"toxicity_treatment"}
_message_ids = itertools.count(1)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class Journey:
    """One pathway on ``app``; ``n`` tells patients (and their order and COI) apart."""

    def __init__(self, app: CartPath, n: int = 1, *, center: str = "FR-075-01", product: str = "axi-cel"):
        self.app = app
        self.patient_ref = f"P-{n:04d}"
        self.order_id = f"ORD-2026-{n:04d}"
        self.coi = f"W0000 26 {n:06d} F"  # ISBT 128 style chain-of-identity number
        self.center, self.product = center, product
        self.id = app.start_pathway(self.patient_ref, center, "DLBCL", product, actor=ACTORS["coordination"]).pathway.id
        self.day0: date | None = None  # infusion date, once infused

    # -- reading ---------------------------------------------------------------------
    @property
    def pathway(self):
        return self.app.get_pathway(self.id)

    def ready(self) -> list[str]:
        """Ready tasks, but for the treatment record that stays open from infusion to discharge."""
        return sorted(r["name"] for r in self.pathway.ready.values() if r["name"] not in ALWAYS_OPEN)

    def all_ready(self) -> list[str]:
        return sorted(r["name"] for r in self.pathway.ready.values())

    def waiting_for(self) -> set[str]:
        return {w["name"] for w in self.pathway.waiting.values() if w["kind"] == "message"}

    def now(self) -> datetime:
        return self.app.clock.now()

    def today(self, offset: int = 0) -> str:
        return (self.now() + timedelta(days=offset)).date().isoformat()

    def history(self) -> list[dict[str, Any]]:
        return self.app.history(self.id)

    def sent(self) -> list[dict[str, Any]]:
        """The outbox: messages this pathway sent, in order."""
        return [h["data"] for h in self.history() if h["type"] == "MessageSent"]

    def count_events(self) -> int:
        return len(list(self.app.events.get(self.id)))

    # -- acting ----------------------------------------------------------------------
    def task_id(self, name: str) -> str:
        found = [t for t, r in self.pathway.ready.items() if r["name"] == name]
        assert len(found) == 1, f"expected one ready {name}, ready: {self.ready()}"
        return found[0]

    def complete(self, name: str, data: dict[str, Any], signers: list[dict[str, Any]] | None = None):
        """Complete the ready ``name`` as its lane; a signed task is signed by that person (with a
        witness of the same lane, or a pharmacist's countersignature, where the model asks)."""
        lane = self.pathway.ready[self.task_id(name)]["lane"]
        if signers is None:
            signers = self.signers(name, lane)
        return self.app.complete_task(self.id, self.task_id(name), data, actor=ACTORS[lane], signers=signers)

    def signers(self, name: str, lane: str) -> list[dict[str, Any]]:
        """The signatures the pathway's model asks for at ``name``, from this centre's staff."""
        p = self.pathway
        form = self.app.model(p.definition["key"], p.definition["version"]).forms.get(name)
        witness = WITNESSES.get(lane)
        return signatures.signers_for(form, signer(ACTORS[lane]), witness=witness and signer(witness),
                                      countersigner=signer(ACTORS["pharmacy"]))

    def tell(self, name: str, payload: dict[str, Any], *, coi: str | None = "", order_id: str | None = None):
        """The manufacturer sends ``name``; by default with this pathway's order and COI."""
        correlation = {"order_id": order_id or self.order_id, "coi": self.coi if coi == "" else coi}
        return self.app.deliver_message(name, f"msg-{next(_message_ids):06d}", correlation, payload,
                                        actor=ACTORS["manufacturer"], expected_manufacturer=MANUFACTURER)

    def wait_until(self, moment: datetime) -> int:
        return self.app.fire_due_timers(moment)

    def wait(self, days: float = 0, hours: float = 0, minutes: float = 0) -> int:
        return self.wait_until(self.now() + timedelta(days=days, hours=hours, minutes=minutes))

    # -- the pathway, step by step ---------------------------------------------------------
    def eligible(self, eligible: bool = True):
        assert self.ready() == ["rcp_eligibility"], self.ready()
        return self.complete("rcp_eligibility", {"eligible": eligible, "rcp_date": self.today(), "comment": "RCP"})

    def consent(self, signed: bool = True):
        return self.complete("patient_consent", {"consent_signed": signed})

    def order(self):
        self.complete("place_order", {"order_id": self.order_id, "manufacturer": MANUFACTURER,
                                      "requested_apheresis_date": self.today(14)})
        assert self.waiting_for() == {"slot_confirmed"}, self.pathway.waiting

    def slot(self):
        self.tell("slot_confirmed", {"apheresis_date": self.today(7), "manufacturing_slot": "S-17"})
        assert self.ready() == ["apheresis"], self.ready()
        assert self.pathway.coi == self.coi

    def to_apheresis(self):
        self.eligible()
        self.consent()
        self.order()
        self.slot()

    def collect(self, adequate: bool = True, coi: str | None = None):
        return self.complete("apheresis", {"collection_date": self.today(), "coi_scanned": coi or self.coi,
                                           "cd3_cells_e9": 4.2 if adequate else 0.8, "adequate": adequate})

    def ship(self):
        self.complete("ship_apheresis",
                      {"courier": "World Courier", "shipper_id": "SHP-1", "pickup_at": iso(self.now())})
        assert self.waiting_for() == {"product_released", "manufacturing_failed"}, self.pathway.waiting

    def bridge(self, bridging: bool = True):
        return self.complete("bridging_decision", {"bridging": bridging, "regimen": "R-GemOx" if bridging else None})

    def release(self, out_of_spec: bool = False):
        self.tell("product_released", {"released_at": iso(self.now()), "out_of_spec": out_of_spec,
                                       "certificate_ref": "CoA-2026-1"})

    def product_shipped(self):
        self.tell("product_shipped", {"shipper_id": "SHP-9", "tracking": "TRK-123", "shipped_at": iso(self.now())})
        assert "product_receipt" in self.ready(), self.ready()

    def receive(self, temperature_ok: bool = True, coi: str | None = None, **more: Any):
        return self.complete("product_receipt", {"coi_scanned": coi or self.coi, "temperature_ok": temperature_ok,
                                                 "storage_location": "LN2-3", "received_at": iso(self.now()), **more})

    def manufacture(self, *, bridging_first: bool = True):
        """One good manufacturing round: released in spec, shipped, received cold."""
        assert "bridging_decision" in self.ready(), self.ready()
        if bridging_first:
            self.bridge()
        self.wait(days=20)
        self.release()
        self.wait(days=2)
        self.product_shipped()
        self.wait(days=1)
        self.receive()
        if not bridging_first:
            assert self.ready() == ["bridging_decision"], self.ready()
            self.bridge(False)
        assert self.ready() == ["tocilizumab_reservation"], self.ready()
        self.reserve()
        assert self.ready() == ["lymphodepletion_start"], self.ready()

    def reserve(self, doses: int = 2):
        """The pharmacy receives a lot for this patient's centre, then reserves the doses from it."""
        expires = (self.now() + timedelta(days=365)).date().isoformat()
        inventory.receive(self.app, self.center, doses, f"LOT-{self.patient_ref}", expires)
        return self.complete("tocilizumab_reservation", {"doses": doses})

    def to_product_shipped(self):
        """Referral to the manufacturer's `product_shipped` (bridging given), before the receipt."""
        self.to_release(days=20)
        self.wait(days=2)
        self.product_shipped()

    def to_release(self, out_of_spec: bool = False, days: int = 21):
        """Referral to the manufacturer's release (bridging given), ``days`` after shipping."""
        self.to_apheresis()
        self.collect()
        self.ship()
        self.bridge()
        self.wait(days=days)
        self.release(out_of_spec=out_of_spec)

    def to_product_on_site(self):
        self.to_apheresis()
        self.collect()
        self.ship()
        self.manufacture()

    def lymphodepletion(self, completed: bool = True, window_min_days: int = 5) -> datetime:
        """Lymphodepletion from today for 3 days; returns infusion day (start date + the
        product's minimum window, 5 days for axi-cel, UTC midnight)."""
        start = self.now().date()
        self.complete("lymphodepletion_start", {"start_date": start.isoformat()})
        assert self.pathway.data["lymphodepletion_start"]["regimen"] == "flu/cy"  # the form's default
        assert self.ready() == ["lymphodepletion_end"], self.ready()
        self.wait(days=2)
        self.complete("lymphodepletion_end", {"end_date": self.today(), "completed": completed})
        return datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=window_min_days)

    def to_infusion_day(self):
        if "tocilizumab_reservation" in self.ready():
            self.reserve()
        infusion_day = self.lymphodepletion()
        self.wait_until(infusion_day - timedelta(hours=1))
        assert self.ready() == [], self.ready()
        self.wait_until(infusion_day + timedelta(hours=8))
        assert self.ready() == ["pre_infusion_check"], self.ready()

    def pre_check(self, **problems: Any):
        return self.complete("pre_infusion_check", dict(FIT_FOR_INFUSION, **problems))

    def thaw(self, coi: str | None = None):
        start = self.now()
        self.wait(hours=0.5)  # thawing takes its time; no time recorded lies in the future
        return self.complete("thaw_product", {"coi_scanned": coi or self.coi, "thaw_started_at": iso(start),
                                              "thaw_ended_at": iso(start + timedelta(minutes=20))})

    def infuse(self, wristband: str | None = None, bag: str | None = None, *, day0_report: bool = True):
        """Infuse now; the day-0 registry report falls due at once and is sent (unless told not to)."""
        infused_at = self.now()
        p = self.complete("infusion", {"coi_wristband": wristband or self.coi, "coi_bag": bag or self.coi,
                                       "infused_at": iso(infused_at)})
        self.day0 = infused_at.date()
        if day0_report and self.pathway.status == "active":
            self.wait(minutes=5)
            assert "registry_report" in self.ready(), self.ready()
            self.registry("day0")
        return p

    def to_infused(self):
        self.to_product_on_site()
        self.to_infusion_day()
        self.pre_check()
        self.thaw()
        self.infuse()
        assert self.ready() == ["daily_assessment"], self.ready()
        assert self.all_ready() == ["daily_assessment", "toxicity_treatment"], self.all_ready()

    def at_day(self, day: int, hour: int = 9) -> None:
        """Move the clock to ``hour`` o'clock (UTC) on ``day`` after infusion, if it is earlier."""
        moment = datetime(self.day0.year, self.day0.month, self.day0.day, hour, tzinfo=UTC) + timedelta(days=day)
        if moment > self.now():
            self.wait_until(moment)

    def assess(self, day: int, task: str = "daily_assessment", hour: int = 9, **signs: Any):
        """The ward's (or the ICU's) assessment at ``hour`` on ``day`` after infusion (day 0 =
        infusion day): the recorded clock says when; no date is typed to count days."""
        self.at_day(day, hour)
        assert task in self.ready(), (day, self.ready())
        return self.complete(task, dict(CALM_DAY, **signs))

    def monitor(self, first_day: int, last_day: int, signs: dict[int, dict[str, Any]] | None = None) -> None:
        """Assess every day from ``first_day`` to ``last_day``; no discharge offered before the last."""
        for day in range(first_day, last_day + 1):
            self.assess(day, **(signs or {}).get(day, {}))
            if day < last_day:
                assert "discharge" not in self.ready(), f"discharge offered on day {day}"
        assert self.ready() == ["discharge"], (last_day, self.ready())

    def treat(self, drug: str = "tocilizumab", **more: Any):
        return self.complete("toxicity_treatment", {"drug": drug, "dose": "8 mg/kg", "given_at": iso(self.now()),
                                                    **more})

    def discharge(self, **checklist: Any):
        return self.complete("discharge", {"discharged_at": iso(self.now()), **READY_FOR_HOME, **checklist})

    def follow_up(self, responses=("CR", "CR", "CR", "PR"), readmit_at: int | None = None) -> list[str]:
        """Post-discharge visits, follow-up visits and registry reports as each falls due, until
        the month-12 report is all that is left; returns what was done, in order."""
        responses, done = list(responses), []
        for _ in range(40):
            ready = self.ready()
            if "post_discharge_visit" in ready:
                visit = len([d for d in done if d == "post_discharge_visit"])
                self.complete("post_discharge_visit", {"visit_date": self.today(), "readmit": visit == readmit_at})
                done.append("post_discharge_visit")
                if visit == readmit_at:
                    return done
            elif "follow_up_visit" in ready:
                self.complete("follow_up_visit", {"response": responses.pop(0), "alive": True})
                done.append("follow_up_visit")
            elif "registry_report" in ready:
                timepoint = self.due_registry_timepoint()
                if timepoint == "month12":
                    return done
                self.registry(timepoint)
                done.append(f"registry_report:{timepoint}")
            else:
                assert ready == [], ready
                due = self.pathway.next_due()
                assert due is not None, "nothing to wait for"
                self.wait_until(datetime.fromisoformat(due) + timedelta(hours=1))
        raise AssertionError(f"follow-up did not reach month 12: {done}")

    def due_registry_timepoint(self) -> str:
        """The timepoint the model scheduled (what the coordinator reads in the worklist)."""
        recorded = [h["data"]["data"].get("timepoint") for h in self.history()
                    if h["type"] == "TaskCompleted" and h["data"]["name"] == "registry_report"]
        order = ["day0", "day100", "month6", "month12"]
        return next(t for t in order if t not in recorded)

    def registry(self, timepoint: str = "month12"):
        return self.complete("registry_report", {"registry": "DESCAR-T", "submitted_at": iso(self.now()),
                                                 "timepoint": timepoint})

    # -- checks ----------------------------------------------------------------------
    def assert_outbox(self, *names: str) -> None:
        """The messages sent are exactly ``names`` in order, each with its PATHWAY.md payload,
        taken from the task completed just before it (a second round sends its own values)."""
        sent, latest = [], {}
        for h in self.history():
            if h["type"] == "TaskCompleted":
                latest[h["data"]["name"]] = h["data"]["data"]
            elif h["type"] == "MessageSent":
                sent.append(h["data"])
                self._check_payload(h["data"], latest)
        assert [m["name"] for m in sent] == list(names), [m["name"] for m in sent]
        assert len({m["message_id"] for m in sent}) == len(sent)  # each outbox entry has its own id

    def _check_payload(self, message: dict[str, Any], latest: dict[str, dict[str, Any]]) -> None:
        name, payload = message["name"], message["payload"]
        assert set(payload) == OUTBOX_FIELDS[name], (name, payload)
        assert payload["order_id"] == self.order_id, payload
        if "coi" in payload:
            assert payload["coi"] == self.coi, payload
        expected = {
            "order_placed": lambda: {"manufacturer": MANUFACTURER, "patient_ref": self.patient_ref,
                                     "product": self.product, "center": self.center,
                                     "requested_apheresis_date": latest["place_order"]["requested_apheresis_date"]},
            "apheresis_shipped": lambda: {k: latest["ship_apheresis"][k] for k in ("shipper_id", "pickup_at")},
            "product_received": lambda: {k: latest["product_receipt"][k] for k in ("received_at", "temperature_ok")},
            "product_quarantined": lambda: {"datalogger_ref": latest["product_receipt"].get("datalogger_ref")},
            "infusion_done": lambda: {"infused_at": latest["infusion"]["infused_at"]},
        }[name]()
        assert {k: payload[k] for k in expected} == expected, (name, payload, expected)

    def assert_ended(self, outcome: str) -> None:
        p = self.pathway
        assert (p.status, p.outcome) == ("ended", outcome), (p.status, p.outcome, self.ready())
        assert p.ready == {} and p.waiting == {}
        self.assert_verified()

    def assert_verified(self) -> None:
        report = self.app.verify(self.id)
        assert report["ok"], report
