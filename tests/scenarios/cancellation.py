"""Ending a pathway by command: cancellation before infusion; after it, death (with its date and
cause) or (v2) a follow-up handed over because the patient was lost to follow-up or transferred."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cartpath.engine import errors

from . import scenario
from .journey import Journey

REASONS = ("death", "progression", "patient_decision", "physician_decision", "other")
SENT_BY_STAGE = {  # what the manufacturer had been told when the pathway was cancelled (see _to_stage)
    "other": (), "death": ("order_placed",), "patient_decision": ("order_placed",),
    "progression": ("order_placed", "apheresis_shipped"),
    "physician_decision": ("order_placed", "apheresis_shipped", "product_received"),
}


def _to_stage(j: Journey, reason: str) -> None:
    """Each reason is tried at another point of the pathway, so every kind of wait is withdrawn."""
    if reason == "other":
        j.eligible()  # a user task is open (consent)
        return
    j.eligible()
    j.consent()
    j.order()  # waiting for the slot, a 5-day timer armed
    if reason == "death":
        return
    j.slot()
    if reason == "patient_decision":
        return  # apheresis open
    j.collect()
    j.ship()  # bridging open and the manufacturing wait (two messages, a 35-day timer)
    if reason == "progression":
        return
    j.manufacture()
    j.to_infusion_day()
    j.pre_check(active_infection=True)  # physician_decision: deferred, the 1-day timer armed


@scenario(*REASONS)
def cancel_before_infusion(app, variant):
    j = Journey(app)
    _to_stage(j, variant)
    open_tasks, waits = set(j.pathway.ready), {w["task_id"] for w in j.pathway.waiting.values()}
    assert open_tasks or waits
    death = {"death_date": j.today(), "death_cause": "progression"} if variant == "death" else {}
    p = app.cancel(j.id, variant, comment="RCP decision 2026-03-02",
                   actor={"sub": "dr-hema-1", "roles": ["hematology"]}, **death)
    assert (p.outcome, p.cancellation["reason"], p.cancellation["comment"]) == ("cancelled", variant,
                                                                                 "RCP decision 2026-03-02")
    assert {k: p.cancellation[k] for k in death} == death
    j.assert_ended("cancelled")
    history = j.history()
    withdrawn = {h["data"]["task_id"] for h in history if h["type"] == "TaskWithdrawn"}
    ended = {h["data"]["task_id"] for h in history if h["type"] == "WaitEnded" and h["data"]["how"] == "cancelled"}
    assert open_tasks <= withdrawn and waits <= ended
    cancelled = [h for h in history if h["type"] == "Cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["actor"]["sub"] == "dr-hema-1"
    # an ended pathway refuses every further command, and its timers never fire
    count = j.count_events()
    with pytest.raises(errors.PathwayEnded):
        app.cancel(j.id, "other")
    if open_tasks:
        with pytest.raises(errors.PathwayEnded):
            app.complete_task(j.id, next(iter(open_tasks)), {})
    if j.pathway.coi:
        with pytest.raises(errors.MessageNotCorrelated, match="has ended"):
            j.tell("manufacturing_status", {"stage": "qc", "at": j.now().isoformat()})
    assert j.wait(days=60) == 0
    assert j.count_events() == count
    j.assert_outbox(*SENT_BY_STAGE[variant])


@scenario("on_the_ward", "in_icu", "during_follow_up")
def death_after_infusion(app, variant):
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    if variant == "in_icu":
        j.assess(1, temperature_c=39.5, hypotension="multiple_vasopressors")
        j.complete("icu_transfer", {"admitted_at": j.now().isoformat(), "tocilizumab_given": True,
                                    "steroids_given": True})
        assert j.ready() == ["icu_assessment", "icu_discharge"], j.ready()
    elif variant == "during_follow_up":
        j.monitor(1, 14)
        j.discharge()
        j.at_day(31)
        j.complete("follow_up_visit", {"response": "PD", "alive": True})
    count = j.count_events()
    for reason in REASONS[1:]:  # after infusion only death (and v2's handovers) end the pathway
        with pytest.raises(errors.CancelRefused, match="death"):
            app.cancel(j.id, reason)
    with pytest.raises(errors.CancelRefused) as missing:  # a death carries its date and cause
        app.cancel(j.id, "death")
    assert set(missing.value.extra["errors"]) == {"death_date", "death_cause"}
    with pytest.raises(errors.ClinicalRuleViolation) as early:  # not before the infusion
        app.cancel(j.id, "death", death_date=(j.day0 - timedelta(days=1)).isoformat(), death_cause="crs")
    assert early.value.errors["death_date"][0].startswith("before infusion.infused_at")
    with pytest.raises(errors.ClinicalRuleViolation, match="in the future"):
        app.cancel(j.id, "death", death_date=j.today(2), death_cause="crs")
    assert j.count_events() == count and j.pathway.status == "active"
    cause = {"in_icu": "crs", "on_the_ward": "icans", "during_follow_up": "progression"}[variant]
    p = app.cancel(j.id, "death", comment="CRS grade 5" if variant == "in_icu" else None, death_date=j.today(),
                   death_cause=cause)
    assert p.cancellation["reason"] == "death"
    assert (p.cancellation["death_date"], p.cancellation["death_cause"]) == (j.today(), cause)
    j.assert_ended("deceased")
    assert j.wait(days=400) == 0
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")


@scenario("lost_to_follow_up", "transferred")
def follow_up_handed_over_after_infusion(app, variant):
    """(v2) After infusion a patient lost to follow-up or transferred to another centre ends the
    pathway `follow_up_handover`, the reason kept; before infusion these reasons are refused."""
    j = Journey(app)
    j.eligible()
    count = j.count_events()
    with pytest.raises(errors.CancelRefused, match="after infusion only"):
        app.cancel(j.id, variant)
    assert j.count_events() == count
    j.consent()
    j.order()
    j.slot()
    j.collect()
    j.ship()
    j.manufacture()
    j.to_infusion_day()
    j.pre_check()
    j.thaw()
    j.infuse()
    j.assess(0)
    with pytest.raises(errors.CancelRefused, match="belong to a cancel for reason death"):
        app.cancel(j.id, variant, death_date=j.today(), death_cause="other")
    p = app.cancel(j.id, variant, comment="moved to another region")
    assert (p.outcome, p.cancellation["reason"], p.cancellation["comment"]) == (
        "follow_up_handover", variant, "moved to another region")
    assert "death_date" not in p.cancellation
    j.assert_ended("follow_up_handover")
    assert j.wait(days=400) == 0
