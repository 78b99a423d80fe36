"""The centre-history figures of the capacity forecast and the simulation, on hand-written rows."""
from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from cartpath.engine.settings import BadSetting, capacity_settings
from cartpath.projections import capacity_model as model

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(pid: str, **facts) -> dict:
    base = dict.fromkeys(model.MODEL_COLUMNS)
    base.update(pathway_id=pid, center="FR-01", status="active", stage="x", failure_count=0, icu_stays=0,
                readmissions=0, started_at=(NOW - timedelta(days=200)).isoformat())
    base.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()})
    return base


def finished(pid: str, stay: float, **facts) -> dict:
    infused = NOW - timedelta(days=100)
    return row(pid, status="ended", ordered_at=infused - timedelta(days=50), infused_at=infused,
               first_discharged_at=infused + timedelta(days=stay), discharged_at=infused + timedelta(days=stay),
               **facts)


def test_no_history_falls_back_to_the_reference_figures_and_says_so():
    m = model.centre_model("FR-01", [], NOW)
    assert m.infusion["ordered"].value == pytest.approx(127 / 159) and m.infusion["ordered"].source == "reference"
    assert m.infusion["lymphodepletion"].source == "assumed"
    assert m.stay.source == "reference" and m.stay.mean == 18.0
    assert m.stay.p90 == pytest.approx(14 + 4 * math.log(10))
    assert m.steps["apheresis_to_release"].value == 22.0 and m.steps["apheresis_to_release"].source == "reference"
    assert m.days_to_infusion("ordered") == 14 + 22 + 2 + 2 + 5 + 5  # PATHWAY.md: order -> infusion ~50 days
    names = {f.name for f in m.figures()}
    assert {"p_infusion_from_started", "length_of_stay_mean", "length_of_stay_p90", "p_icu_transfer",
            "icu_stay_mean", "p_readmission", "readmission_gap", "readmission_stay_mean"} <= names
    assert all(f.source in ("history", "reference", "assumed") for f in m.figures())


def test_centre_history_gives_stage_probabilities_and_stays():
    rows = [finished(str(i), 10) for i in range(4)]
    rows.append(finished("icu", 10, icu_stays=1, icu_days=3.0))
    rows += [row(f"drop{i}", status="ended", ordered_at=NOW - timedelta(days=90)) for i in range(5)]
    rows.append(row("active", ordered_at=NOW - timedelta(days=10)))  # unresolved: not counted
    m = model.centre_model("FR-01", rows, NOW)
    assert m.infusion["ordered"].value == 0.5 and m.infusion["ordered"].source == "history"
    assert "5 of 10" in m.infusion["ordered"].detail
    assert m.infusion["lymphodepletion"].source == "assumed"  # nobody's lymphodepletion was recorded
    assert m.stay.source == "history" and m.stay.mean == 10 and m.stay.p90 == 10
    assert m.icu_probability.value == 0.2 and m.icu_probability.source == "history"
    assert m.readmission_rate.value == 0.0 and m.readmission_rate.source == "history"
    assert m.reach("ordered", "apheresis") == pytest.approx(0.5 / (127 / 154))
    assert m.reach("received", "ordered") == 1.0


def test_deterministic_stays_and_the_conditional_remaining_stay():
    stay = model.Stay.observed("s", [10.0] * 5, floor=14, tail=4, reference="r")
    assert [stay.still_in(t) for t in (0, 9.5, 10, 10.5)] == [1.0, 1.0, 1.0, 0.0]
    # past the longest stay in history: the exponential tail continues it, never "ends tomorrow"
    assert stay.still_in_after(12, 16) == pytest.approx(math.exp(-1))
    assert stay.expected_remaining(12) == 4
    mixed = model.Stay.observed("s", [10, 10, 20, 20, 20], floor=14, tail=4, reference="r")
    assert mixed.still_in_after(15, 18) == 1.0 and mixed.expected_remaining(15) == 5
    assert mixed.still_in(15) == 0.6
    reference = model.Stay.observed("s", [], floor=14, tail=4, reference="r")
    assert reference.still_in_after(20, 24) == pytest.approx(math.exp(-1))  # memoryless past the floor
    assert reference.expected_remaining(5) == 13
    rng = random.Random(1)
    assert min(reference.sample(rng) for _ in range(200)) >= 14


def test_capacity_settings_per_centre_and_refusals():
    s = capacity_settings({"CARTPATH_BEDS": "6", "CARTPATH_ICU_BEDS": "1,FR-02=3",
                           "CARTPATH_LD_INPATIENT_DAYS": "FR-01=0", "CARTPATH_TASK_HOURS": "apheresis=4.5"})
    assert s.beds("FR-01") == 6 and s.beds.source("FR-01") == "configured (CARTPATH_BEDS)"
    assert s.icu_beds("FR-02") == 3 and s.icu_beds("FR-09") == 1
    assert s.ld_inpatient_days("FR-01") == 0 and s.ld_inpatient_days("FR-02") == 5
    assert s.task_hours["apheresis"] == 4.5 and s.task_hours["thaw_product"] == 1.0
    assert s.task_source("apheresis").startswith("configured") and s.task_source("thaw_product").startswith("default")
    old = capacity_settings({"CARTPATH_BEDS": "FR-01=1", "CARTPATH_BEDS_DEFAULT": "3"})
    assert old.beds("FR-01") == 1 and old.beds("FR-02") == 3
    for env, named in (({"CARTPATH_BEDS": "FR-01=many"}, "CARTPATH_BEDS: 'many'"),
                       ({"CARTPATH_BEDS": "FR-01=2.5"}, "whole number"),
                       ({"CARTPATH_ICU_BEDS": "=2"}, "names no centre"),
                       ({"CARTPATH_ICU_BEDS": "FR-01=1,FR-01=2"}, "given twice"),
                       ({"CARTPATH_LD_INPATIENT_DAYS": "-1"}, "CARTPATH_LD_INPATIENT_DAYS"),
                       ({"CARTPATH_TASK_HOURS": "aphresis=5"}, "not a task"),
                       ({"CARTPATH_TASK_HOURS": "apheresis"}, "TASK=HOURS")):
        with pytest.raises(BadSetting, match=named):
            capacity_settings(env)
