"""What-if simulation: the engine's courses replayed with sampled durations, checked by hand.

The courses come from the bundled ``cart_pathway`` run on a private in-memory CartPath (the
real engine, no store)."""
from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from cartpath.engine.application import BUNDLED_PROCESSES
from cartpath.engine.lint import read_paths
from cartpath.engine.simulation import Lognormal, Run, Scenario, run
from cartpath.engine.simulation_routes import Route, run_routes
from cartpath.projections.simulation_inputs import DEFAULT_EFFORT, HISTORY_COLUMNS, fitted_inputs

FILES = read_paths([BUNDLED_PROCESSES])
NO_BRANCH = {"eligible": 1.0, "consent": 1.0, "dropout_before_apheresis": 0.0, "dropout_manufacturing": 0.0,
             "dropout_lymphodepletion": 0.0, "manufacturing_failure": 0.0, "remanufacture": 0.0, "icu": 0.0,
             "readmission": 0.0, "death_after_infusion": 0.0}
FIXED = {"order_to_apheresis": Lognormal.fixed(10), "manufacturing_turnaround": Lognormal.fixed(20),
         "release_to_receipt": Lognormal.fixed(3), "receipt_to_admission": Lognormal.fixed(2),
         "length_of_stay": Lognormal.fixed(16), "icu_stay": Lognormal.fixed(3), "readmission_stay": Lognormal.fixed(4)}
SPREAD = {"order_to_apheresis": Lognormal.with_median(14, 0.35),
          "manufacturing_turnaround": Lognormal.with_median(22, 0.12),
          "release_to_receipt": Lognormal.with_median(4, 0.35), "receipt_to_admission": Lognormal.with_median(5, 0.4),
          "length_of_stay": Lognormal.with_median(17, 0.3), "icu_stay": Lognormal.with_median(4, 0.5),
          "readmission_stay": Lognormal.with_median(5, 0.5)}
RATES = {"eligible": 0.94, "consent": 0.97, "dropout_before_apheresis": 0.03, "dropout_manufacturing": 0.08,
         "dropout_lymphodepletion": 0.02, "manufacturing_failure": 0.05, "remanufacture": 0.6, "icu": 0.15,
         "readmission": 0.1, "death_after_infusion": 0.06}


def scenario(**kw) -> Scenario:
    base = dict(name="s", center="FR-01", start=date(2027, 1, 4), horizon_weeks=10, arrivals_per_month=4.0,
                mix=(("DLBCL", "axi-cel", 1.0),), beds=None, icu_beds=2, staff_hours={"ward": 20.0},
                durations=FIXED, rates=NO_BRANCH, failure_by_indication={}, effort=DEFAULT_EFFORT, replications=1,
                seed=7)
    return Scenario(**(base | kw))


def _gap() -> float:
    """Lymphodepletion start -> infusion on the axi-cel route, as the engine ran it."""
    [course] = run_routes(FILES, [Route("infused", "axi-cel")])
    marks = dict(course.milestones)
    return marks["infusion"] - marks["admission"]


def test_the_engine_decides_the_days_from_lymphodepletion_to_infusion():
    [course] = run_routes(FILES, [Route("infused", "axi-cel")])
    marks = dict(course.milestones)
    # lymphodepletion started 08:00 on day 26; product_rules: axi-cel infusion 5 days after its start_date, at
    # midnight (the hospital acts a minute after the timer)
    assert marks["infusion"] - marks["admission"] == pytest.approx(5 - 8 / 24, abs=2e-3)
    assert course.outcome == "follow_up_handover"
    assert dict(course.assessment_lanes) == {"daily_assessment": "ward", "icu_assessment": "icu"}


def test_fixed_durations_give_the_hand_computed_occupancy_curve():
    # admission = arrival + 10 + 20 + 3 + 2 = arrival + 35; infusion 4 2/3 days later (the engine);
    # discharge 16 days after infusion: a ward stay [a + 35, a + 55 2/3), counted at midday
    result = run(Run(scenario(arrival_days=(0.0, 10.0, 30.0)), FILES))
    expected = [0] * 70
    for first, last in ((35, 55), (45, 65), (65, 69)):
        for d in range(first, last + 1):
            expected[d] += 1
    assert [d["ward_p50"] for d in result["daily"]] == expected
    assert result["bed_delay"]["delayed"] == 0 and result["outcomes"]["follow_up_handover"]["share"] == 1.0
    assert result["vein_to_vein_days"]["median"] == pytest.approx(20 + 3 + 2 + _gap(), abs=0.01)


def test_one_bed_queues_the_admissions_and_measures_the_delay():
    result = run(Run(scenario(arrival_days=(0.0, 10.0, 30.0), beds=1), FILES))
    stay = _gap() + 16  # admission to discharge
    # B planned on day 45 waits for A's discharge (35 + stay); C planned on 65 waits for B's
    b_in = 35 + stay
    c_in = b_in + stay
    expected = [0] * 70
    for begin, end in ((35, 35 + stay), (b_in, b_in + stay), (c_in, c_in + stay)):
        for d in range(70):
            expected[d] += begin <= d + 0.5 < end
    assert [d["ward_p50"] for d in result["daily"]] == expected
    # the beds needed had none waited: the first test's curve, over the one bed from day 45
    unqueued = [0] * 70
    for begin in (35, 45, 65):
        for d in range(70):
            unqueued[d] += begin <= d + 0.5 < begin + stay
    assert [d["ward_demand_p50"] for d in result["daily"]] == unqueued
    assert [d["p_ward_demand_over_capacity"] for d in result["daily"]] == [float(n > 1) for n in unqueued]
    assert [d["p_ward_over_capacity"] for d in result["daily"]] == [0.0] * 70
    delay = result["bed_delay"]
    assert (delay["infused_admissions"], delay["delayed"]) == (3, 2)
    assert delay["max_days"] == pytest.approx(c_in - 65, abs=1e-3)
    assert delay["mean_days"] == pytest.approx(((b_in - 45) + (c_in - 65)) / 3, abs=1e-3)


def test_the_same_seed_gives_the_same_result_and_another_seed_another():
    s = scenario(durations=SPREAD, rates=RATES, horizon_weeks=20, arrivals_per_month=8.0, replications=3)
    first, again = run(Run(s, FILES)), run(Run(s, FILES))
    first.pop("cost"), again.pop("cost")  # CPU seconds, and the routes the first run put in the process's cache
    assert first == again
    assert run(Run(Scenario(**{**s.__dict__, "seed": 8}), FILES))["daily"] != first["daily"]


def test_doubling_arrivals_raises_p90_occupancy():
    s = scenario(durations=SPREAD, rates=RATES, horizon_weeks=26, arrivals_per_month=4.0, replications=5)
    once = run(Run(s, FILES))
    twice = run(Run(Scenario(**{**s.__dict__, "arrivals_per_month": 8.0}), FILES))
    mean_p90 = [sum(d["ward_p90"] for d in r["daily"]) / len(r["daily"]) for r in (once, twice)]
    assert mean_p90[1] > 1.5 * mean_p90[0]
    assert twice["peak"]["ward_p90"] > once["peak"]["ward_p90"]


def test_unlimited_beds_never_delay_and_scarce_beds_do():
    s = scenario(durations=SPREAD, rates=RATES, horizon_weeks=26, arrivals_per_month=12.0, replications=3)
    free = run(Run(s, FILES))
    assert free["bed_delay"]["infused_admissions"] > 20
    assert (free["bed_delay"]["delayed"], free["bed_delay"]["mean_days"], free["bed_delay"]["max_days"]) == (0, 0, 0)
    scarce = run(Run(Scenario(**{**s.__dict__, "beds": 2}), FILES))
    assert scarce["bed_delay"]["delayed"] > 0 and scarce["bed_delay"]["mean_days"] > 0
    assert scarce["vein_to_vein_days"]["median"] > free["vein_to_vein_days"]["median"]


def test_staff_hours_follow_the_tasks_the_engine_gave_each_lane():
    result = run(Run(scenario(arrival_days=(0.0,)), FILES))
    lanes = result["staff_weekly"][0]["lanes"]
    total = {lane: sum(w["lanes"][lane]["hours"] for w in result["staff_weekly"]) for lane in lanes}
    assert total["apheresis"] == DEFAULT_EFFORT["apheresis"]  # one collection, on day 10
    # the ward: one assessment a day from infusion (day 39.67) to discharge (day 55.67): 16, and the ward's other tasks
    assert total["ward"] >= 16 * DEFAULT_EFFORT["daily_assessment"]
    assert result["staff_weekly"][1]["lanes"]["apheresis"]["hours"] == DEFAULT_EFFORT["apheresis"]
    assert result["staff_weekly"][0]["lanes"]["ward"]["configured"] == 20.0


def _history(n: int, rng: random.Random, mu: float, sigma: float) -> list[dict]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        row = dict.fromkeys(HISTORY_COLUMNS)
        apheresis = t0 + timedelta(days=i)
        released = apheresis + timedelta(days=rng.lognormvariate(mu, sigma))
        row.update(pathway_id=str(i), center="FR-01", status="ended", outcome="follow_up_handover",
                   started_at=(apheresis - timedelta(days=20)).isoformat(),
                   ordered_at=(apheresis - timedelta(days=14)).isoformat(), first_apheresis_at=apheresis.isoformat(),
                   release_apheresis_at=apheresis.isoformat(), first_released_at=released.isoformat(),
                   first_round="in_spec", failure_count=0, release_count=1, icu_transfers=int(i % 5 == 0))
        infused = released + timedelta(days=8)
        row.update(infused_at=infused.isoformat(), first_discharged_at=(infused + timedelta(days=18)).isoformat())
        rows.append(row)
    return rows


def test_fitted_distributions_recover_the_parameters_of_a_generated_history():
    mu, sigma = math.log(22), 0.15
    durations, rates, assumptions = fitted_inputs(_history(400, random.Random(3), mu, sigma))
    fitted = durations["manufacturing_turnaround"]
    assert fitted.mu == pytest.approx(mu, abs=0.03) and fitted.sigma == pytest.approx(sigma, rel=0.15)
    assert "centre history" in assumptions["durations"]["manufacturing_turnaround"]["source"]
    assert rates["icu"] == pytest.approx(0.2)
    assert durations["length_of_stay"].median == pytest.approx(18) and durations["length_of_stay"].sigma < 1e-6
    # too little history: the reference figure, and it says so
    durations, _, assumptions = fitted_inputs(_history(3, random.Random(3), mu, sigma))
    assert durations["manufacturing_turnaround"].median == pytest.approx(22)
    assert assumptions["durations"]["manufacturing_turnaround"]["source"].startswith("default")


def test_a_course_does_not_depend_on_the_routes_run_before_it():
    alone = run_routes(FILES, [Route("infused", "axi-cel")])[0]
    after = run_routes(FILES, [Route("infused", "tisa-cel", icu=True), Route("dropout", "axi-cel",
                                                                          dropout_stage="manufacturing"),
                               Route("infused", "axi-cel")])[2]
    assert (after.milestones, after.tasks, after.outcome) == (alone.milestones, alone.tasks, alone.outcome)


def test_two_worker_processes_give_what_one_process_gives():
    # ide-cel's routes are run by no other test: here they run in the workers (forkserver processes)
    s = scenario(mix=(("MM", "ide-cel", 1.0),), durations=SPREAD, rates=RATES, horizon_weeks=12,
                 arrivals_per_month=6.0, replications=4, beds=3)
    both = run(Run(s, FILES, workers=2))
    assert both["cost"]["routes_run_now"] > 0 and both["cost"]["routes_cpu_seconds"] > 0
    inline = run(Run(s, FILES, workers=1))
    both.pop("cost"), inline.pop("cost")
    assert both == inline
