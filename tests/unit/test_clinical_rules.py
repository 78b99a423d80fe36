"""The clinical rules of PATHWAY.md v2 (engine/clinical.py), as pure functions: recorded
facts, a task's data and the recorded clock in; a refusal naming both fields, or the
deviations to record, out."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartpath.engine.clinical import (
    DEATH_CAUSES,
    DISCHARGE_CHECKLIST,
    Facts,
    check_completion,
    check_death,
    deviations,
    thaw_to_infusion_max_minutes,
)
from cartpath.engine.errors import ClinicalRuleViolation, InvalidTaskData
from cartpath.engine.pathway import DEATH_CAUSES as PATHWAY_DEATH_CAUSES

UTC = UTC
NOW = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
INFUSION_FORM = {"coi_wristband", "coi_bag", "infused_at", "infusion_ended_at", "deviation_reason"}
TREATMENT_FORM = {"drug", "dose", "given_at", "override_reason"}


def at(**delta) -> str:
    return (NOW + timedelta(**delta)).isoformat()


def facts(product: str = "axi-cel", given: tuple[str, ...] = (), decisions=None, **recorded) -> Facts:
    return Facts(recorded=recorded, product=product, tocilizumab_given_at=given, decisions=decisions or {})


HISTORY = dict(rcp_eligibility={"rcp_date": "2026-02-01"}, apheresis={"collection_date": "2026-02-10"},
               product_receipt={"received_at": "2026-03-10T09:00:00+00:00"},
               thaw_product={"thaw_started_at": at(minutes=-60), "thaw_ended_at": at(minutes=-40)})


def refused(fn, *args) -> dict[str, list[str]]:
    with pytest.raises(ClinicalRuleViolation) as caught:
        fn(*args)
    assert isinstance(caught.value, InvalidTaskData)  # the API maps it as every invalid-data refusal: 422
    return caught.value.errors


def test_an_infusion_before_the_product_was_received_names_both_fields():
    errors = refused(check_completion, facts(**HISTORY), "infusion",
                     {"infused_at": "2026-03-09T10:00:00+00:00"}, NOW, INFUSION_FORM)
    assert errors["infused_at"][0].startswith("before product_receipt.received_at 2026-03-10T09:00:00+00:00")
    assert any("thaw_product.thaw_ended_at" in m for m in errors["infused_at"])


def test_milestones_in_order_pass_and_dates_compare_by_day():
    history = dict(HISTORY, product_receipt={"received_at": "2026-02-10T23:00:00+00:00"})
    assert check_completion(facts(**history), "infusion", {"infused_at": at(minutes=-10)}, NOW, INFUSION_FORM) == []
    # collection on the day of the receipt, earlier or later in the day: same day, in order
    assert check_completion(facts(**history), "product_receipt", {"received_at": "2026-02-10T00:01:00+00:00"},
                            NOW, set()) == []
    errors = refused(check_completion, facts(**history), "product_receipt",
                     {"received_at": "2026-02-09T23:59:00+00:00"}, NOW, set())
    assert errors == {"received_at": ["before apheresis.collection_date 2026-02-10"]}


def test_each_milestone_is_checked_against_every_earlier_one():
    errors = refused(check_completion, facts(rcp_eligibility={"rcp_date": "2026-02-05"}), "apheresis",
                     {"collection_date": "2026-02-04"}, NOW, set())
    assert errors == {"collection_date": ["before rcp_eligibility.rcp_date 2026-02-05"]}
    errors = refused(check_completion, facts(**HISTORY), "discharge", {"discharged_at": "2026-02-01T08:00:00+00:00"},
                     NOW, set())
    assert "before product_receipt.received_at" in " ".join(errors["discharged_at"])


def test_thaw_end_before_its_start_is_refused_within_one_task():
    errors = refused(check_completion, facts(**HISTORY), "thaw_product",
                     {"thaw_started_at": at(minutes=-10), "thaw_ended_at": at(minutes=-20)}, NOW, set())
    assert errors == {"thaw_ended_at": [f"before thaw_product.thaw_started_at {at(minutes=-10)}"]}


def test_nothing_that_happened_lies_in_the_future_beyond_five_minutes():
    assert check_completion(facts(), "ship_apheresis", {"pickup_at": at(minutes=5)}, NOW, set()) == []
    errors = refused(check_completion, facts(), "ship_apheresis", {"pickup_at": at(minutes=6)}, NOW, set())
    assert list(errors) == ["pickup_at"] and "recorded clock 2026-03-20T10:00:00+00:00" in errors["pickup_at"][0]
    assert check_completion(facts(), "rcp_eligibility", {"rcp_date": "2026-03-20"}, NOW, set()) == []
    assert "rcp_date" in refused(check_completion, facts(), "rcp_eligibility", {"rcp_date": "2026-03-21"}, NOW, set())


def test_planned_dates_are_not_checked():
    assert check_completion(facts(), "place_order", {"requested_apheresis_date": "2027-01-01"}, NOW, set()) == []


def test_assessments_treatments_and_icu_lie_after_the_infusion():
    history = dict(HISTORY, infusion={"infused_at": at(hours=-30)})
    for task, name in (("daily_assessment", "assessed_at"), ("icu_assessment", "assessed_at"),
                       ("toxicity_treatment", "given_at"), ("icu_transfer", "admitted_at")):
        errors = refused(check_completion, facts(**history), task, {name: at(hours=-31)}, NOW, set())
        assert errors == {name: [f"before infusion.infused_at {at(hours=-30)}"]}, task
        assert check_completion(facts(**history), task, {name: at(hours=-29)}, NOW, set()) == []


def test_version_1_assessments_carry_no_time_to_check():
    history = dict(HISTORY, infusion={"infused_at": at(hours=-30)})
    assert check_completion(facts(**history), "daily_assessment", {"assessed_on": "2026-01-01"}, NOW,
                            {"assessed_on"}) == []


def test_thaw_to_infusion_limit_refused_without_a_reason():
    history = dict(HISTORY, thaw_product={"thaw_ended_at": at(minutes=-45)})
    errors = refused(check_completion, facts("tisa-cel", **history), "infusion", {"infused_at": at()}, NOW,
                     INFUSION_FORM)
    assert "45 minutes after thaw_product.thaw_ended_at" in errors["infused_at"][0]
    assert "limit of 30 minutes" in errors["infused_at"][0]


def test_thaw_to_infusion_deviation_recorded_with_a_reason():
    history = dict(HISTORY, thaw_product={"thaw_ended_at": at(minutes=-45)})
    data = {"infused_at": at(), "deviation_reason": "patient transferred from radiology late"}
    [found] = check_completion(facts("tisa-cel", **history), "infusion", data, NOW, INFUSION_FORM)
    assert found.as_event() == {"kind": "thaw_to_infusion", "task": "infusion", "reason": data["deviation_reason"],
                                "limit_minutes": 30, "actual_minutes": 45, "limit_doses": None, "actual_doses": None}
    assert deviations(facts("tisa-cel", **history), "infusion", data, INFUSION_FORM) == [found]


def test_thaw_limit_comes_from_the_recorded_product_rules_result():
    recorded = {"product_rules": {"infusion_window_min_days": 5, "thaw_to_infusion_max_minutes": 50}}
    assert thaw_to_infusion_max_minutes(facts("tisa-cel", decisions=recorded)) == 50
    assert thaw_to_infusion_max_minutes(facts("axi-cel")) == 180
    assert thaw_to_infusion_max_minutes(facts("some-new-cel")) == 30
    history = dict(HISTORY, thaw_product={"thaw_ended_at": at(minutes=-45)})
    assert check_completion(facts("tisa-cel", decisions=recorded, **history), "infusion", {"infused_at": at()},
                            NOW, INFUSION_FORM) == []


def test_the_thaw_limit_leaves_version_1_infusions_alone():
    history = dict(HISTORY, thaw_product={"thaw_ended_at": at(minutes=-45)})
    v1_form = {"coi_wristband", "coi_bag", "infused_at"}
    assert check_completion(facts("tisa-cel", **history), "infusion", {"infused_at": at()}, NOW, v1_form) == []
    assert deviations(facts("tisa-cel", **history), "infusion", {"infused_at": at()}, v1_form) == []


def test_a_fourth_tocilizumab_dose_within_24_hours_is_refused_then_overridden():
    given = (at(hours=-23), at(hours=-15), at(hours=-7))
    dose = {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": at()}
    errors = refused(check_completion, facts(given=given), "toxicity_treatment", dose, NOW, TREATMENT_FORM)
    assert "dose 4 of tocilizumab within 24 hours" in errors["given_at"][0]
    [found] = check_completion(facts(given=given), "toxicity_treatment", dict(dose, override_reason="refractory CRS"),
                               NOW, TREATMENT_FORM)
    assert (found.kind, found.limit_doses, found.actual_doses) == ("tocilizumab_24h_limit", 3, 4)


def test_doses_more_than_24_hours_apart_do_not_count_together():
    given = (at(hours=-25), at(hours=-15), at(hours=-7))
    dose = {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": at()}
    assert check_completion(facts(given=given), "toxicity_treatment", dose, NOW, TREATMENT_FORM) == []
    # a dose recorded late, between others, closes a 24-hour window of four
    late = {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": at(hours=-20)}
    assert "given_at" in refused(check_completion, facts(given=given), "toxicity_treatment", late, NOW, TREATMENT_FORM)
    # other drugs are not counted
    steroid = {"drug": "dexamethasone", "dose": "10 mg", "given_at": at()}
    assert check_completion(facts(given=given + (at(hours=-1),)), "toxicity_treatment", steroid, NOW,
                            TREATMENT_FORM) == []


def test_discharge_checklist_names_what_is_false():
    data = {"discharged_at": at(), "caregiver_24h": True, "lodging_within_2h": False, "driving_advice_given": True,
            "alert_card_given": False}
    errors = refused(check_completion, facts(), "discharge", data, NOW, set(data))
    assert errors == {"lodging_within_2h": ["must be true to discharge"],
                      "alert_card_given": ["must be true to discharge"]}
    assert check_completion(facts(), "discharge", dict(data, lodging_within_2h=True, alert_card_given=True), NOW,
                            set(data)) == []
    assert set(DISCHARGE_CHECKLIST) < set(data)
    assert check_completion(facts(), "discharge", {"discharged_at": at()}, NOW, {"discharged_at"}) == []  # v1 form


def test_accepting_an_out_of_spec_product_needs_the_patient_informed():
    form = {"accept", "reason", "failed_specification", "patient_informed"}
    errors = refused(check_completion, facts(), "oos_acceptance",
                     {"accept": True, "reason": "benefit", "patient_informed": False}, NOW, form)
    assert list(errors) == ["patient_informed"]
    assert check_completion(facts(), "oos_acceptance", {"accept": False, "reason": "no", "patient_informed": False},
                            NOW, form) == []


def test_stopping_after_a_failure_needs_a_reason():
    form = {"option", "reason", "comment"}
    assert refused(check_completion, facts(), "failure_decision", {"option": "stop"}, NOW, form) == {
        "reason": ["required when option is stop"]}
    assert check_completion(facts(), "failure_decision", {"option": "stop", "reason": "progression"}, NOW, form) == []
    assert check_completion(facts(), "failure_decision", {"option": "remanufacture"}, NOW, form) == []


def test_a_death_date_is_checked_against_the_clock_and_the_infusion():
    history = dict(HISTORY, infusion={"infused_at": at(days=-10)})
    check_death(facts(**history), "2026-03-15", NOW)
    assert list(refused(check_death, facts(**history), "2026-03-21", NOW)) == ["death_date"]
    assert refused(check_death, facts(**history), "2026-03-09", NOW) == {
        "death_date": [f"before infusion.infused_at {at(days=-10)}"]}
    check_death(facts(), "2026-01-01", NOW)  # before infusion: only the clock
    assert PATHWAY_DEATH_CAUSES == DEATH_CAUSES == ("progression", "crs", "icans", "infection", "hlh",
                                                    "secondary_malignancy", "other")
