"""Ending a pathway by command: cancellation before infusion, death after it."""
from __future__ import annotations

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
    p = app.cancel(j.id, variant, comment="RCP decision 2026-03-02",
                   actor={"sub": "dr-hema-1", "roles": ["hematology"]})
    assert (p.outcome, p.cancellation["reason"], p.cancellation["comment"]) == ("cancelled", variant,
                                                                                 "RCP decision 2026-03-02")
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
    for reason in REASONS[1:]:  # after infusion only death ends the pathway
        with pytest.raises(errors.CancelRefused, match="death"):
            app.cancel(j.id, reason)
    assert j.count_events() == count and j.pathway.status == "active"
    p = app.cancel(j.id, "death", comment="CRS grade 5" if variant == "in_icu" else None)
    assert p.cancellation["reason"] == "death"
    j.assert_ended("deceased")
    assert j.wait(days=400) == 0
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
