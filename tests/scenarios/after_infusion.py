"""After infusion: the happy path to long-term follow-up, toxicities, ICU, discharge rules."""
from __future__ import annotations

from datetime import datetime, timedelta

from . import scenario
from .journey import Journey

PATHWAY_LANES = {  # PATHWAY.md, "Main process"
    "rcp_eligibility": "hematology", "patient_consent": "coordination", "place_order": "pharmacy",
    "chase_slot": "coordination", "apheresis": "apheresis", "ship_apheresis": "cell_therapy_unit",
    "bridging_decision": "hematology", "chase_manufacturer": "coordination", "failure_decision": "hematology",
    "oos_acceptance": "hematology", "product_receipt": "pharmacy", "lymphodepletion_start": "ward",
    "pre_infusion_check": "ward", "thaw_product": "pharmacy", "infusion": "ward", "daily_assessment": "ward",
    "icu_transfer": "icu", "icu_discharge": "icu", "discharge": "ward", "follow_up_visit": "hematology",
    "registry_report": "coordination",
}


def _grades(j: Journey) -> list[tuple[int, int]]:
    """(CRS, ICANS) of each daily assessment, from the recorded decisions."""
    crs = [h["data"]["result"]["crs_grade"] for h in j.history()
           if h["type"] == "NodeCompleted" and h["data"]["node_id"] == "crs_grading"]
    icans = [h["data"]["result"]["icans_grade"] for h in j.history()
             if h["type"] == "NodeCompleted" and h["data"]["node_id"] == "icans_grading"]
    return list(zip(crs, icans))


def _check_lanes(j: Journey) -> None:
    for h in j.history():
        if h["type"] == "TaskBecameReady":
            assert h["data"]["lane"] == PATHWAY_LANES[h["data"]["name"]], h["data"]


@scenario()
def happy_path_to_follow_up_handover(app):
    j = Journey(app)
    j.to_apheresis()
    j.collect()
    j.ship()
    # informative messages are recorded (custody, timeline) and never move the pathway
    waiting, ready = j.pathway.waiting, j.ready()
    j.tell("apheresis_received", {"received_at": j.now().isoformat(), "condition_ok": True})
    j.tell("manufacturing_status", {"stage": "transduction", "at": j.now().isoformat()})
    j.tell("manufacturing_status", {"stage": "expansion", "at": j.now().isoformat()})
    assert (j.pathway.waiting, j.ready()) == (waiting, ready)
    assert j.pathway.data["manufacturing_status"]["stage"] == "expansion"
    j.manufacture()
    j.to_infusion_day()
    j.pre_check()
    j.thaw()
    j.infuse()
    j.monitor(0, 14)  # no discharge offered before day 14
    assert _grades(j) == [(0, 0)] * 15
    j.discharge()
    j.follow_up()
    infused_at = datetime.fromisoformat(j.pathway.data["infusion"]["infused_at"])
    visits_due = [datetime.fromisoformat(h["data"]["due_at"]) for h in j.history()
                  if h["type"] == "TimerArmed" and h["data"]["node_id"] == "timer_follow_up"]
    assert visits_due == [infused_at + timedelta(days=d) for d in (30, 91, 182, 365)]
    j.registry()
    j.assert_ended("follow_up_handover")
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    _check_lanes(j)
    assert j.pathway.data["follow_up_visit"] == {"response": "PR", "alive": True}


@scenario()
def crs_grade_3_goes_to_icu_then_back_to_the_ward(app):
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    j.next_day()
    j.assess(1, temperature_c=38.4)  # CRS 1
    j.next_day()
    j.assess(2, temperature_c=39.2, hypotension="one_vasopressor", oxygen="low_flow")  # CRS 3
    assert j.ready() == ["icu_transfer"], j.ready()
    assert j.pathway.waiting == {}  # no next-day assessment while in ICU
    j.complete("icu_transfer", {"admitted_at": j.now().isoformat(), "tocilizumab_given": True, "steroids_given": False})
    assert j.ready() == ["icu_discharge"]
    j.wait(days=3)
    j.complete("icu_discharge", {"discharged_at": j.now().isoformat()})
    assert j.ready() == ["daily_assessment"]  # back on the ward, monitoring again at once
    j.monitor(5, 14, signs={5: {"temperature_c": 38.1}})
    assert _grades(j)[:4] == [(0, 0), (1, 0), (3, 0), (1, 0)]
    j.discharge()
    j.follow_up()
    j.registry()
    j.assert_ended("follow_up_handover")
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    _check_lanes(j)


@scenario("seizure", "focal_oedema", "diffuse_oedema")
def icans_escalation(app, variant):
    signs, grade = {"seizure": ({"seizure": True}, 3), "focal_oedema": ({"cerebral_edema": "focal"}, 3),
                    "diffuse_oedema": ({"cerebral_edema": "diffuse"}, 4)}[variant]
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    j.next_day()
    j.assess(1, ice_score=8)  # ICANS 1: stays on the ward
    j.next_day()
    j.assess(2, **signs)  # ICE 10, yet the seizure or the oedema makes it severe
    assert _grades(j) == [(0, 0), (0, 1), (0, grade)]
    assert j.ready() == ["icu_transfer"], j.ready()
    j.complete("icu_transfer", {"admitted_at": j.now().isoformat(), "tocilizumab_given": False, "steroids_given": True})
    j.wait(days=4)
    j.complete("icu_discharge", {"discharged_at": j.now().isoformat()})
    j.monitor(6, 14)
    j.discharge()
    assert j.ready() == []  # follow-up visits wait for their day
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    j.assert_verified()


@scenario("fever_day_13", "icans_day_14")
def discharge_needs_day_14_and_two_grade_0_days(app, variant):
    """Discharge is offered from day 14 after infusion, after two grade-0 days in a row."""
    signs, discharge_day = {"fever_day_13": ({13: {"temperature_c": 38.3}}, 15),
                            "icans_day_14": ({14: {"ice_score": 9}}, 16)}[variant]
    j = Journey(app)
    j.to_infused()
    j.monitor(0, discharge_day, signs=signs)
    j.discharge()
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    j.assert_verified()
