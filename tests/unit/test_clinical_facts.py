"""The decision inputs the engine derives from a pathway's recorded facts (engine/clinical_facts.py)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cartpath.engine import determinism
from cartpath.engine.clinical_facts import ClinicalFacts

T0 = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)  # infusion
PATHWAY = uuid.uuid4()
CALM = {"temperature_c": 36.8}


class Recorder:
    """Drives ClinicalFacts the way the runtime does: each input at its own recorded time."""

    def __init__(self):
        self.facts = ClinicalFacts({})
        self.seq = 0
        self.task("infusion", {"infused_at": T0.isoformat()}, T0)

    def task(self, name: str, data: dict, at: datetime) -> None:
        self.seq += 1
        with determinism.engine_run(at, PATHWAY, self.seq):
            self.facts.task_completed(name, data)

    def assess(self, day: float, crs: int = 0, icans: int = 0, name: str = "daily_assessment", **data) -> None:
        self.task(name, dict(CALM, **data), T0 + timedelta(days=day))
        self.facts.graded("crs_grade", crs)
        self.facts.graded("icans_grade", icans)

    def inputs(self, decision: str, at: datetime | None = None) -> dict:
        with determinism.engine_run(at or T0, PATHWAY, self.seq):
            return self.facts.inputs_for(decision)


def test_days_grade0_counts_calendar_days_back_from_the_latest_assessment():
    r = Recorder()
    for day, crs in ((0, 0), (1, 1), (2, 0), (3, 0)):
        r.assess(day, crs=crs)
    assert r.inputs("discharge_readiness") == {"days_since_infusion": 3, "days_grade0": 2}


def test_several_assessments_a_day_count_once_and_one_graded_above_0_spoils_the_day():
    r = Recorder()
    r.assess(1)
    r.assess(2)
    r.assess(2.2)
    r.assess(2.4)  # three on day 2, all 0
    assert r.inputs("discharge_readiness")["days_grade0"] == 2
    r.assess(2.5, icans=1)
    assert r.inputs("discharge_readiness")["days_grade0"] == 0


def test_a_day_without_assessment_breaks_the_run_and_icu_assessments_count():
    r = Recorder()
    r.assess(1)
    r.assess(3, name="icu_assessment")  # nothing on day 2
    assert r.inputs("discharge_readiness") == {"days_since_infusion": 3, "days_grade0": 1}
    r.assess(4)
    assert r.inputs("discharge_readiness")["days_grade0"] == 2


def test_the_day_is_the_assessed_at_time_when_given_never_a_typed_day():
    r = Recorder()
    r.task("daily_assessment", dict(CALM, assessed_at=(T0 + timedelta(days=1)).isoformat()),
           T0 + timedelta(days=2, hours=3))  # recorded late, on day 2, for day 1
    r.facts.graded("crs_grade", 0)
    r.facts.graded("icans_grade", 0)
    assert r.inputs("discharge_readiness")["days_since_infusion"] == 1
    assert r.inputs("crs_grade")["monitoring_day"] == 1


def test_fever_is_masked_only_by_a_treatment_recorded_after_crs():
    r = Recorder()
    r.task("toxicity_treatment", {"drug": "antipyretic", "given_at": T0.isoformat()}, T0)
    r.assess(1, crs=0)
    assert r.inputs("crs_grade")["fever_masked"] is False  # a treatment before any CRS masks nothing
    r.assess(2, crs=1)
    assert r.inputs("crs_grade")["fever_masked"] is False
    r.task("toxicity_treatment", {"drug": "tocilizumab", "given_at": T0.isoformat()}, T0 + timedelta(days=2))
    assert r.inputs("crs_grade")["fever_masked"] is True


def test_tocilizumab_doses_on_site_are_the_reserved_doses_minus_those_given():
    r = Recorder()
    r.task("tocilizumab_reservation", {"doses": 2}, T0)
    r.task("lymphodepletion_start", {"start_date": "2026-02-25"}, T0)
    assert r.inputs("infusion_deferral") == {"tocilizumab_doses_on_site": 2, "days_since_lymphodepletion_start": 5}
    for drug in ("tocilizumab", "dexamethasone", "tocilizumab", "tocilizumab"):
        r.task("toxicity_treatment", {"drug": drug, "given_at": T0.isoformat()}, T0)
    assert r.inputs("infusion_deferral")["tocilizumab_doses_on_site"] == 0


def test_decisions_the_engine_does_not_feed_get_nothing():
    assert Recorder().inputs("icans_grade") == {}
