"""Infusion day: lymphodepletion, the product's rules, the pre-infusion check, deferral and
what the haematologist decides when a deferral lasts (a released product is on site)."""
from __future__ import annotations

from datetime import datetime, timedelta

from . import scenario
from .journey import UTC, Journey

# Each deferral day has its own reason: the check booleans, v2's included.
DEFERRAL_REASONS = [
    {"active_infection": True}, {"uncontrolled_arrhythmia": True}, {"vasopressor_hypotension": True},
    {"organ_dysfunction_g3": True}, {"clinical_worsening": True}, {"active_gvhd": True}, {"unresolved_toxicity": True},
]


def _defer_one_day(j: Journey, reasons: dict) -> None:
    checked_at = j.now()
    j.pre_check(**reasons)
    assert j.pathway.data["decisions"]["decide_deferral"] == {"defer": True}
    assert j.ready() == [], j.ready()
    assert j.wait_until(checked_at + timedelta(hours=23)) == 0
    assert j.wait_until(checked_at + timedelta(days=1, hours=1)) == 1
    assert j.ready() == ["pre_infusion_check"], j.ready()


def _offered(j: Journey, name: str) -> int:
    return sum(1 for h in j.history() if h["type"] == "TaskBecameReady" and h["data"]["name"] == name)


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
    _defer_one_day(j, {"active_gvhd": True})
    # doses typed on the check are kept as reported but never decide: the 2 doses reserved for
    # this patient (tocilizumab_reservation) do
    j.pre_check(tocilizumab_doses_on_site=0)
    assert j.pathway.data["decisions"]["decide_deferral"] == {"defer": False}
    assert j.pathway.data["pre_infusion_check"]["tocilizumab_doses_on_site"] == 0
    assert j.pathway.data["pre_infusion_check"]["active_gvhd"] is False  # the form's default
    assert j.ready() == ["thaw_product"]
    j.thaw()
    assert j.ready() == ["infusion"]
    j.infuse()
    assert j.ready() == ["daily_assessment"]
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    j.assert_verified()


@scenario("tisa-cel", "cilta-cel", "unlisted")
def infusion_day_from_product_rules(app, variant):
    """Infusion day is lymphodepletion start + the product's minimum window (product_rules),
    not a fixed 5 days: tisa-cel 4, cilta-cel 5, any other product 5."""
    product = {"tisa-cel": "tisa-cel", "cilta-cel": "cilta-cel", "unlisted": "zamto-cel"}[variant]
    window = {"tisa-cel": (4, 14), "cilta-cel": (5, 7), "unlisted": (5, 14)}[variant]
    j = Journey(app, product=product)
    j.to_product_on_site()
    rules = j.pathway.data["decisions"]["apply_product_rules"]
    assert (rules["infusion_window_min_days"], rules["infusion_window_max_days"]) == window
    ld_day = j.now().date()
    infusion_day = j.lymphodepletion(window_min_days=window[0])
    [armed] = [h for h in j.history() if h["type"] == "TimerArmed" and h["data"]["node_id"] == "timer_infusion_day"]
    assert datetime.fromisoformat(armed["data"]["due_at"]) == infusion_day
    assert infusion_day.date() == ld_day + timedelta(days=window[0])
    assert j.wait_until(infusion_day - timedelta(hours=1)) == 0 and j.ready() == []
    j.wait_until(infusion_day + timedelta(hours=8))
    assert j.ready() == ["pre_infusion_check"], j.ready()
    j.pre_check()
    j.thaw()
    j.infuse()
    assert j.ready() == ["daily_assessment"]
    j.assert_verified()


@scenario("continue_deferral", "repeat_lymphodepletion", "stop")
def deferred_with_a_released_product_on_site(app, variant):
    """Deferred day after day until the product's window closes (axi-cel: 14 days after the
    lymphodepletion start; or after 14 deferred days): the haematologist decides between
    waiting on, lymphodepleting again or stopping. Never a remanufacture: the product is on site."""
    j = Journey(app)
    j.to_product_on_site()
    ld_start = j.now().date()
    j.to_infusion_day()
    day = 0
    while True:
        reasons = DEFERRAL_REASONS[day % len(DEFERRAL_REASONS)]
        j.pre_check(**reasons)
        if j.ready() != []:
            break
        j.wait(days=1, hours=1)
        day += 1
    assert j.ready() == ["deferral_decision"], j.ready()
    assert (j.now().date() - ld_start).days == 14  # the product's window, from product_rules
    assert _offered(j, "failure_decision") == 0 and j.pathway.waiting == {}
    checks = [h for h in j.history() if h["type"] == "TaskCompleted" and h["data"]["name"] == "pre_infusion_check"]
    assert len(checks) == 10  # infusion day (LD + 5) to LD + 14
    j.complete("deferral_decision", {"option": variant, "reason": "infection treated, RCP of the week"})
    if variant == "stop":
        assert j.ready() == ["product_disposition"], j.ready()
        j.complete("product_disposition", {"disposition": "destroyed", "at": j.now().isoformat()})
        j.registry("end")
        j.assert_ended("not_infused")
        j.assert_outbox("order_placed", "apheresis_shipped", "product_received")
        assert _offered(j, "failure_decision") == 0
        return
    if variant == "continue_deferral":
        assert j.ready() == ["pre_infusion_check"], j.ready()  # checked again at once
    else:
        assert j.ready() == ["lymphodepletion_start"], j.ready()  # the doses stay reserved
        j.to_infusion_day()
        assert _offered(j, "tocilizumab_reservation") == 1
    j.pre_check()
    j.thaw()
    j.infuse()
    assert j.ready() == ["daily_assessment"]
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    assert _offered(j, "failure_decision") == 0
    j.assert_verified()


@scenario()
def lymphodepletion_not_completed(app):
    """Lymphodepletion stopped early: no infusion-day timer, the haematologist decides; a new
    course then leads to infusion."""
    j = Journey(app)
    j.to_product_on_site()
    j.lymphodepletion(completed=False)
    assert j.ready() == ["deferral_decision"] and j.pathway.waiting == {}, (j.ready(), j.pathway.waiting)
    j.complete("deferral_decision", {"option": "repeat_lymphodepletion", "reason": "renal function recovered"})
    j.wait(days=3)
    start = j.now().date()
    infusion_day = j.lymphodepletion()
    assert infusion_day == datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=5)
    j.wait_until(infusion_day + timedelta(hours=8))
    j.pre_check()
    assert j.pathway.data["decisions"]["decide_deferral"] == {"defer": False}
    j.thaw()
    j.infuse()
    j.assert_verified()
