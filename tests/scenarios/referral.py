"""From referral to apheresis: eligibility, consent, order, the slot handshake, collection."""
from __future__ import annotations

from datetime import timedelta

from . import scenario
from .journey import Journey


@scenario()
def not_eligible(app):
    j = Journey(app)
    j.eligible(False)
    j.assert_ended("not_eligible")
    assert j.pathway.data["rcp_eligibility"]["eligible"] is False
    j.assert_outbox()  # nothing ordered, nothing sent


@scenario()
def consent_refused(app):
    j = Journey(app)
    j.eligible()
    assert j.ready() == ["patient_consent"]
    j.consent(False)
    j.assert_ended("declined")
    j.assert_outbox()


@scenario()
def slot_not_confirmed_in_5_days(app):
    """No answer in 5 days: the coordinator chases and the wait starts again; the slot that
    comes during the second chase is caught there (the chase is withdrawn, not refused)."""
    j = Journey(app)
    j.eligible()
    j.consent()
    j.order()
    ordered_at = j.now()
    [timer] = [w for w in j.pathway.waiting.values() if w["kind"] == "timer"]
    assert timer["due_at"] == (ordered_at + timedelta(days=5)).isoformat()
    assert j.wait_until(ordered_at + timedelta(days=4, hours=23)) == 0
    assert j.ready() == []
    assert j.wait_until(ordered_at + timedelta(days=5, hours=1)) == 1
    assert j.ready() == ["chase_slot"]
    assert j.pathway.ready[j.task_id("chase_slot")]["lane"] == "coordination"
    assert j.waiting_for() == {"slot_confirmed"}  # still listening while the chase is open
    j.complete("chase_slot", {"contacted_at": j.now().isoformat(), "note": "phoned the manufacturer"})
    assert j.waiting_for() == {"slot_confirmed"} and j.ready() == []
    # a second silent week: chased again, 5 days after the first chase
    chased_at = j.now()
    assert j.wait_until(chased_at + timedelta(days=5, hours=1)) == 1
    chase = j.task_id("chase_slot")
    j.slot()  # the manufacturer answers before the coordinator has called
    assert j.pathway.closed_tasks[chase] == "withdrawn"
    assert [h["data"]["name"] for h in j.history() if h["type"] == "TaskWithdrawn"] == ["chase_slot"]
    assert j.pathway.data["slot_confirmed"]["manufacturing_slot"] == "S-17"
    assert j.pathway.waiting == {}  # nothing else waits for the slot any more
    j.assert_outbox("order_placed")
    j.assert_verified()


@scenario()
def apheresis_inadequate_4_times(app):
    j = Journey(app)
    j.to_apheresis()
    for attempt in range(1, 5):
        assert j.ready() == ["apheresis"], (attempt, j.ready())
        j.wait(days=3)
        j.collect(adequate=False)
    # ordered but never infused: the registry hears of the end, then the pathway ends
    assert j.ready() == ["registry_report"], j.ready()
    j.registry("end")
    j.assert_ended("not_infused")
    collections = [h for h in j.history() if h["type"] == "TaskCompleted" and h["data"]["name"] == "apheresis"]
    assert len(collections) == 4
    j.assert_outbox("order_placed")  # the apheresis never left the hospital


@scenario()
def apheresis_adequate_at_third_attempt(app):
    j = Journey(app)
    j.to_apheresis()
    j.collect(adequate=False)
    j.collect(adequate=False)
    j.collect()
    assert j.ready() == ["ship_apheresis"]
    j.ship()
    assert j.ready() == ["bridging_decision"]
    j.assert_outbox("order_placed", "apheresis_shipped")
    j.assert_verified()
