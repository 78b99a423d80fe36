"""Infusion day: lymphodepletion, the pre-infusion check and its deferral decision."""
from __future__ import annotations

from datetime import timedelta

from . import scenario
from .journey import Journey

# Each deferral day has its own reason: the five check booleans and the tocilizumab rule.
DEFERRAL_REASONS = [
    {"active_infection": True}, {"uncontrolled_arrhythmia": True}, {"vasopressor_hypotension": True},
    {"organ_dysfunction_g3": True}, {"clinical_worsening": True}, {"tocilizumab_doses_on_site": 0},
]


def _defer_one_day(j: Journey, reasons: dict) -> None:
    checked_at = j.now()
    j.pre_check(**reasons)
    assert j.pathway.data["decisions"]["decide_deferral"] == {"defer": True}
    assert j.ready() == [], j.ready()
    assert j.wait_until(checked_at + timedelta(hours=23)) == 0
    assert j.wait_until(checked_at + timedelta(days=1, hours=1)) == 1
    assert j.ready() == ["pre_infusion_check"], j.ready()


@scenario()
def infusion_deferred_then_given(app):
    j = Journey(app)
    j.to_product_on_site()
    ld_day = j.now().date()
    j.to_infusion_day()
    # the infusion-day timer is set from the lymphodepletion start date, not from the click
    [armed] = [h for h in j.history() if h["type"] == "TimerArmed" and h["data"]["node_id"] == "timer_infusion_day"]
    assert armed["data"]["due_at"].startswith((ld_day + timedelta(days=5)).isoformat() + "T00:00:00")
    _defer_one_day(j, {"active_infection": True})
    _defer_one_day(j, {"tocilizumab_doses_on_site": 0})
    j.pre_check()
    assert j.pathway.data["decisions"]["decide_deferral"] == {"defer": False}
    assert j.ready() == ["thaw_product"]
    j.thaw()
    assert j.ready() == ["infusion"]
    j.infuse()
    assert j.ready() == ["daily_assessment"]
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    j.assert_verified()


@scenario()
def deferred_14_days_goes_to_failure_decision(app):
    j = Journey(app)
    j.to_product_on_site()
    j.to_infusion_day()
    for day in range(14):
        _defer_one_day(j, DEFERRAL_REASONS[day % len(DEFERRAL_REASONS)])
    # 14 days deferred and still not fit: the haematologist decides
    j.pre_check(clinical_worsening=True)
    assert j.ready() == ["failure_decision"], j.ready()
    assert j.pathway.waiting == {}
    j.complete("failure_decision", {"option": "stop", "comment": "not fit for 14 days"})
    j.assert_ended("not_infused")
    checks = [h for h in j.history() if h["type"] == "TaskCompleted" and h["data"]["name"] == "pre_infusion_check"]
    assert len(checks) == 15
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received")
