"""After infusion: monitoring graded by the clock, masked fever, grade 2 and ICU (graded there
too), discharge rules, readmission, follow-up with the registry, death at follow-up."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cartpath.engine import errors

from . import scenario
from .journey import CALM_DAY, Journey

PATHWAY_LANES = {  # PATHWAY.md, "Main process"
    "rcp_eligibility": "hematology", "patient_consent": "coordination", "place_order": "pharmacy",
    "chase_slot": "coordination", "apheresis": "apheresis", "ship_apheresis": "cell_therapy_unit",
    "bridging_decision": "hematology", "chase_manufacturer": "coordination", "failure_decision": "hematology",
    "oos_acceptance": "hematology", "product_receipt": "pharmacy", "lymphodepletion_start": "ward",
    "lymphodepletion_end": "ward", "tocilizumab_reservation": "pharmacy", "pre_infusion_check": "ward",
    "deferral_decision": "hematology", "product_disposition": "pharmacy", "thaw_product": "pharmacy",
    "infusion": "ward", "daily_assessment": "ward", "toxicity_treatment": "ward", "icu_review": "icu",
    "icu_transfer": "icu", "icu_assessment": "icu", "icu_discharge": "icu", "discharge": "ward",
    "post_discharge_visit": "hematology", "follow_up_visit": "hematology", "registry_report": "coordination",
}
GRADING = {"crs_grading": "crs_grade", "icu_crs_grading": "crs_grade", "icans_grading": "icans_grade",
           "icu_icans_grading": "icans_grade"}


def _grades(j: Journey, where: str = "") -> list[tuple[int, int]]:
    """(CRS, ICANS) of each assessment, from the recorded decisions (``where``: "" ward, "icu_")."""
    crs = [h["data"]["result"]["crs_grade"] for h in j.history()
           if h["type"] == "NodeCompleted" and h["data"]["node_id"] == f"{where}crs_grading"]
    icans = [h["data"]["result"]["icans_grade"] for h in j.history()
             if h["type"] == "NodeCompleted" and h["data"]["node_id"] == f"{where}icans_grading"]
    return list(zip(crs, icans))


def _readiness(j: Journey) -> list[bool]:
    return [h["data"]["result"]["ready"] for h in j.history()
            if h["type"] == "NodeCompleted" and h["data"]["node_id"] == "check_discharge_readiness"]


def _check_lanes(j: Journey) -> None:
    for h in j.history():
        if h["type"] == "TaskBecameReady":
            assert h["data"]["lane"] == PATHWAY_LANES[h["data"]["name"]], h["data"]


def _to_icu(j: Journey) -> None:
    assert j.ready() == ["icu_transfer"], j.ready()
    j.complete("icu_transfer", {"admitted_at": j.now().isoformat(), "tocilizumab_given": True, "steroids_given": False})
    assert j.ready() == ["icu_assessment", "icu_discharge"], j.ready()


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
    treatment = j.task_id("toxicity_treatment")
    j.discharge()
    assert j.pathway.closed_tasks[treatment] == "withdrawn"  # no treatment is recorded at home
    done = j.follow_up()
    assert done == ["post_discharge_visit", "post_discharge_visit", "follow_up_visit", "follow_up_visit",
                    "registry_report:day100", "follow_up_visit", "registry_report:month6", "follow_up_visit"]
    infused_at = datetime.fromisoformat(j.pathway.data["infusion"]["infused_at"])
    due = [datetime.fromisoformat(h["data"]["due_at"]) for h in j.history()
           if h["type"] == "TimerArmed" and h["data"]["node_id"] == "timer_schedule"]
    # the month-6 and month-12 reports fall due with their visits: no timer of their own to arm
    assert due == [infused_at + timedelta(days=d) for d in (0, 30, 91, 100, 182, 365)], due
    visits = [datetime.fromisoformat(h["data"]["due_at"]).date() for h in j.history()
              if h["type"] == "TimerArmed" and h["data"]["node_id"] == "timer_post_discharge"]
    assert [(v - j.day0).days for v in visits] == [21, 28]  # weekly until day 28
    j.registry("month12")
    j.assert_ended("follow_up_handover")
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    _check_lanes(j)
    assert j.pathway.data["follow_up_visit"] == {"response": "PR", "alive": True}
    reports = [h["data"]["data"]["timepoint"] for h in j.history()
               if h["type"] == "TaskCompleted" and h["data"]["name"] == "registry_report"]
    assert reports == ["day0", "day100", "month6", "month12"]


@scenario()
def crs_grade_3_goes_to_icu_graded_there_then_back_to_the_ward(app):
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    j.assess(1, temperature_c=38.4)  # CRS 1
    j.treat("antipyretic", dose="1 g")
    j.assess(2, temperature_c=39.2, hypotension="one_vasopressor", oxygen="low_flow")  # CRS 3
    _to_icu(j)
    # nothing waits on the ward while in ICU (only the follow-up schedule, for its day)
    assert {w["name"] for w in j.pathway.waiting.values()} == {"timer_schedule"}
    # in ICU the patient is assessed at least daily and graded by the same tables
    j.assess(2, task="icu_assessment", hour=18, temperature_c=39.0, hypotension="multiple_vasopressors",
             oxygen="high_flow")
    j.treat("tocilizumab")  # treatments are recorded in ICU as well
    j.assess(3, task="icu_assessment", temperature_c=38.2, hypotension="fluids", ice_score=6)
    j.assess(4, task="icu_assessment", consciousness="awakens_to_voice")
    assert _grades(j, "icu_") == [(4, 0), (2, 2), (0, 2)]
    assert j.ready() == ["icu_assessment", "icu_discharge"]
    j.complete("icu_discharge", {"discharged_at": j.now().isoformat()})
    assert j.ready() == ["daily_assessment"]  # back on the ward, monitoring again at once
    j.monitor(5, 14)
    assert _grades(j)[:3] == [(0, 0), (1, 0), (3, 0)]
    j.discharge()
    j.follow_up()
    j.registry("month12")
    j.assert_ended("follow_up_handover")
    _check_lanes(j)


@scenario("stays_on_the_ward", "transferred")
def grade_2_calls_the_icu(app, variant):
    """Grade 2 alerts the ICU, who review the patient and decide on a transfer."""
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    j.assess(1, temperature_c=38.5, hypotension="fluids")  # CRS 2
    assert j.ready() == ["icu_review"], j.ready()
    assert j.pathway.ready[j.task_id("icu_review")]["lane"] == "icu"
    transfer = variant == "transferred"
    j.complete("icu_review", {"reviewed_at": j.now().isoformat(), "transfer_now": transfer})
    if transfer:
        _to_icu(j)
        j.assess(2, task="icu_assessment")
        j.complete("icu_discharge", {"discharged_at": j.now().isoformat()})
    assert j.ready() == ["daily_assessment"], j.ready()
    j.monitor(2, 14)
    j.discharge()
    j.assert_verified()


@scenario("seizure", "focal_oedema", "diffuse_oedema", "unarousable", "awakens_to_touch", "prolonged_seizure",
          "motor_weakness", "raised_icp")
def icans_escalation(app, variant):
    signs, grade = {"seizure": ({"seizure": True}, 3), "focal_oedema": ({"cerebral_edema": "focal"}, 3),
                    "diffuse_oedema": ({"cerebral_edema": "diffuse"}, 4),
                    "unarousable": ({"consciousness": "unarousable", "ice_score": 0}, 4),
                    "awakens_to_touch": ({"consciousness": "awakens_to_touch"}, 3),
                    "prolonged_seizure": ({"seizure": True, "seizure_prolonged": True}, 4),
                    "motor_weakness": ({"motor_weakness": True}, 4),
                    "raised_icp": ({"raised_icp": True}, 4)}[variant]
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    j.assess(1, ice_score=8)  # ICANS 1: stays on the ward
    j.assess(2, **signs)  # the ICE score alone would not say how severe it is
    assert _grades(j) == [(0, 0), (0, 1), (0, grade)]
    j.complete("icu_transfer", {"admitted_at": j.now().isoformat(), "tocilizumab_given": False, "steroids_given": True})
    j.assess(3, task="icu_assessment", **signs)
    assert _grades(j, "icu_") == [(0, grade)]
    j.at_day(6)
    j.complete("icu_discharge", {"discharged_at": j.now().isoformat()})
    j.monitor(6, 14)
    j.discharge()
    assert j.ready() == []  # the follow-up waits for its day
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    j.assert_verified()


@scenario("after_tocilizumab", "never_treated")
def masked_fever(app, variant):
    """After CRS and a treatment (tocilizumab, steroids...), fever is no longer required: a
    patient on a vasopressor without fever is CRS 3, not 0, and is not counted as a grade-0 day."""
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    j.assess(1, temperature_c=38.6)  # CRS 1
    if variant == "after_tocilizumab":
        j.treat("tocilizumab")
        j.treat("dexamethasone", dose="10 mg")  # repeatable, any drug
    j.assess(2, temperature_c=37.1, hypotension="one_vasopressor")
    if variant == "after_tocilizumab":
        assert _grades(j)[-1] == (3, 0)
        _to_icu(j)
        return j.assert_verified()
    # without a treatment the fever is not masked: ASTCT needs a fever for CRS
    assert _grades(j)[-1] == (0, 0)
    assert j.ready() == ["daily_assessment"]
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


@scenario()
def assessments_typed_as_days_14_and_15_on_day_2_do_not_open_discharge(app):
    """The monitoring day comes from the recorded clock, never from a date typed for it; an
    assessment may be recorded more than once a day, and a day counts once."""
    j = Journey(app)
    j.to_infused()
    j.assess(0)
    j.assess(1)
    j.at_day(2)
    count = j.count_events()
    for typed in ("day14", "day15"):
        on = (j.day0 + timedelta(days=14 if typed == "day14" else 15)).isoformat()
        with pytest.raises(errors.InvalidTaskData, match="assessed_on"):
            j.complete("daily_assessment", dict(CALM_DAY, assessed_on=on))
    assert j.count_events() == count  # refused: nothing recorded
    j.assess(2)
    j.assess(2, hour=15, assessed_at=j.now().isoformat())
    j.assess(2, hour=21)
    assert "discharge" not in j.ready() and _readiness(j) == [False] * 5
    assert j.ready() == ["daily_assessment"]
    j.monitor(3, 14)
    j.discharge()
    j.assert_verified()


@scenario()
def readmitted_after_discharge_then_discharged_again(app):
    j = Journey(app)
    j.to_infused()
    j.monitor(0, 14)
    j.discharge()
    done = j.follow_up(readmit_at=0)  # fever at home, first weekly visit (day 21)
    assert done == ["post_discharge_visit"]
    assert j.ready() == ["daily_assessment"], j.ready()
    assert "toxicity_treatment" in j.all_ready()
    j.assess(21, temperature_c=38.9)  # CRS 1 again
    j.assess(22)
    assert j.ready() == ["daily_assessment"]  # day 22 but one grade-0 day since the fever
    j.assess(23)
    assert j.ready() == ["discharge"], j.ready()
    j.discharge()
    done = j.follow_up()  # discharged after day 21: the next weekly visit would be after day 28
    assert "post_discharge_visit" not in done
    j.registry("month12")
    j.assert_ended("follow_up_handover")


@scenario()
def dead_at_follow_up_is_reported_and_ends_deceased(app):
    """A patient found dead at a follow-up visit is not asked for a response; the registry gets
    its end report and the pathway ends deceased (no more visits)."""
    j = Journey(app)
    j.to_infused()
    j.monitor(0, 14)
    j.discharge()
    for day in (21, 28):  # weekly visits until day 28
        j.at_day(day)
        j.complete("post_discharge_visit", {"visit_date": j.today(), "readmit": False})
    j.at_day(31)
    j.complete("follow_up_visit", {"response": "PD", "alive": True})  # month 1
    j.at_day(92)  # month 3
    assert j.ready() == ["follow_up_visit"], j.ready()
    j.complete("follow_up_visit", {"alive": False, "death_date": j.today(-3), "death_cause": "progression"})
    assert j.ready() == ["registry_report"], j.ready()
    j.registry("end")
    j.assert_ended("deceased")
    assert [h["data"]["data"].get("response") for h in j.history()
            if h["type"] == "TaskCompleted" and h["data"]["name"] == "follow_up_visit"] == ["PD", None]
    assert j.wait(days=400) == 0
