"""Bed and staff forecast on view rows: pure functions, rows written by hand (no store, no runner).

Every expected figure here is computed by hand from the rows: deterministic stays (every stay
of the history equal) make the occupancy curve exact."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from cartpath.engine.settings import capacity_settings
from cartpath.projections import capacity
from cartpath.projections.capacity_model import centre_model

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = NOW.replace(hour=0)


def days(n: float) -> datetime:
    return TODAY + timedelta(days=n)


def row(pid: str, **facts) -> dict:
    base = dict.fromkeys(capacity.CAPACITY_COLUMNS)
    base.update(pathway_id=pid, center="FR-01", status="active", stage="x", failure_count=0, icu_stays=0,
                readmissions=0, started_at=days(-60).isoformat())
    base.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()})
    return base


def finished(pid: str, stay: float = 10, **facts) -> dict:
    """An ended pathway that went all the way: order 5 days after start, apheresis 10 after order,
    release 20 later, shipped 1 and received 1 day after, lymphodepletion 3 and infusion 5 days later."""
    start = days(-200)
    order, apheresis = start + timedelta(days=5), start + timedelta(days=15)
    release = apheresis + timedelta(days=20)
    receipt = release + timedelta(days=2)
    ld = receipt + timedelta(days=3)
    infused = ld + timedelta(days=5)
    return row(pid, status="ended", stage="ended", started_at=start, ordered_at=order, first_apheresis_at=apheresis,
               release_apheresis_at=apheresis, first_released_at=release,
               product_shipped_at=release + timedelta(days=1), product_received_at=receipt, lymphodepletion_at=ld,
               infused_at=infused, first_discharged_at=infused + timedelta(days=stay),
               discharged_at=infused + timedelta(days=stay), **facts)


HISTORY = [finished(f"h{i}") for i in range(5)]  # every stage reached was infused; stays of exactly 10 days


def settings(**env: str):
    return capacity_settings({"CARTPATH_BEDS": "", "CARTPATH_ICU_BEDS": "", "CARTPATH_LD_INPATIENT_DAYS": "",
                              "CARTPATH_TASK_HOURS": "", "CARTPATH_BEDS_DEFAULT": "", **env})


def centre(out: dict, name: str = "FR-01") -> dict:
    return next(c for c in out["centers"] if c["center"] == name)


def figure(out: dict, name: str, center: str | None = "FR-01") -> dict:
    return next(f for f in out["assumptions"]["figures"] if f["name"] == name and f["center"] == center)


def test_deterministic_stays_give_the_exact_occupancy_curve():
    rows = HISTORY + [
        row("in", stage="infused", infused_at=days(-2), lymphodepletion_at=days(-7)),   # in: today .. day 7
        row("ld", stage="lymphodepletion", lymphodepletion_at=days(-1)),  # infusion day 4: in day 2 .. day 13
        row("rx", stage="received", product_received_at=days(-1)),  # infusion day 7: in day 5 .. day 16
    ]
    out = capacity.report(rows, [], now=NOW, weeks=3, settings=settings(CARTPATH_LD_INPATIENT_DAYS="FR-01=2",
                                                                          CARTPATH_BEDS="2"))
    c = centre(out)
    inside = {"in": range(0, 8), "ld": range(2, 14), "rx": range(5, 17)}
    expected = [sum(1 for r in inside.values() if d in r) for d in range(21)]
    assert [d["ward_expected"] for d in c["days"]] == expected
    assert [d["ward_p90"] for d in c["days"]] == expected  # certain patients: no spread
    assert [d["p_over_capacity"] for d in c["days"]] == [1.0 if n > 2 else 0.0 for n in expected]
    assert all(d["icu_expected"] == 0 and d["beds"] == 2 and d["icu_beds"] == 2 for d in c["days"])
    assert c["days"][0]["date"] == TODAY.date().isoformat() and len(c["days"]) == 21
    assert out["days"] == c["days"]  # one centre: the top level is that centre
    # the figures came from the history, and the configured numbers say so
    assert figure(out, "p_infusion_from_received")["source"] == "history"
    assert figure(out, "length_of_stay_mean")["value"] == 10 and figure(out, "length_of_stay_p90")["value"] == 10
    assert figure(out, "ld_inpatient_days")["source"] == "configured (CARTPATH_LD_INPATIENT_DAYS)"
    assert figure(out, "beds")["source"] == "configured (CARTPATH_BEDS)"
    assert c["inpatients_today"] == 2 and c["bed_days_expected"] == {"ward": sum(expected), "icu": 0}
    assert c["pathways_forecast"] == {"inpatient": 1, "lymphodepletion": 1, "product on site": 1}


def test_without_history_the_reference_figures_weight_the_pathway_and_are_stated():
    slot = days(3)
    out = capacity.report([row("o", stage="ordered", ordered_at=days(-2), planned_apheresis_date=slot)], [],
                          now=NOW, weeks=12, settings=settings(CARTPATH_BEDS="0"))
    c = centre(out)
    p = 127 / 159
    assert figure(out, "p_infusion_from_ordered")["source"] == "reference"
    assert figure(out, "p_infusion_from_ordered")["value"] == round(p, 4)
    assert figure(out, "length_of_stay_mean") == {"center": "FR-01", "name": "length_of_stay_mean", "value": 18.0,
                                                  "unit": "days", "source": "reference",
                                                  "detail": figure(out, "length_of_stay_mean")["detail"]}
    # the manufacturer's slot sets the date: apheresis day 3, release +22, shipped +2, received +2,
    # lymphodepletion +5, infusion +5 = day 39; in hospital from day 34 (5 days of lymphodepletion)
    ward = [d["ward_expected"] for d in c["days"]]
    in_bed = [d["ward_expected"] + d["icu_expected"] for d in c["days"]]
    assert ward[33] == 0 and ward[34] == pytest.approx(p, abs=1e-3) and ward[41] == pytest.approx(p, abs=1e-3)
    assert in_bed[39 + 13] == pytest.approx(p, abs=1e-3)  # the reference stay lasts at least 14 days...
    assert in_bed[39 + 14] == pytest.approx(p * math.exp(-1 / 4), abs=1e-3)  # ...then its exponential tail
    # ICU (assumed 15%, from day 3 after infusion, exponential of mean 4 days)
    assert c["days"][42]["icu_expected"] == pytest.approx(p * 0.15 * math.exp(-1 / 4), abs=1e-3)
    assert figure(out, "p_icu_transfer")["source"] == "assumed"
    assert c["days"][40]["p_over_capacity"] == pytest.approx(p, abs=1e-3)  # 0 beds: over whenever the patient is in
    assert c["days"][40]["ward_p90"] == 1 and c["pathways_forecast"] == {"apheresis slot (manufacturer)": 1}
    assert c["expected_infusions"] == pytest.approx(p, abs=1e-2)


def test_a_stay_past_its_expected_end_continues_by_the_conditional_remaining_stay():
    stays = [finished(f"h{i}", stay) for i, stay in enumerate((10, 10, 20, 20, 20))]
    rows = stays + [row("long", stage="infused", infused_at=days(-15)),  # past the 10-day stays: 20 days it is
                    row("longest", stage="infused", infused_at=days(-25))]  # past every stay of the history
    out = capacity.report(rows, [], now=NOW, weeks=2, settings=settings())
    ward = [d["ward_expected"] for d in centre(out)["days"]]
    elapsed = 25 + 9 / 24
    tail = [math.exp(-(k + 1 + 25 - elapsed) / 4) for k in range(14)]  # in at the end of day k
    long = [1.0] * 5 + [0.0] * 9  # a 20-day stay ends on day 5
    assert ward == pytest.approx([a + b for a, b in zip(long, tail)], abs=1e-3)
    assert ward[6] > 0.1  # never "ends tomorrow"


def test_icu_beds_are_counted_apart_from_the_ward():
    history = [finished(f"h{i}", 10, icu_stays=1, icu_days=2.0) for i in range(5)]
    rows = history + [row("icu", stage="infused", infused_at=days(-3), icu_admitted_at=days(-1))]
    out = capacity.report(rows, [], now=NOW, weeks=2, settings=settings(CARTPATH_ICU_BEDS="FR-02=5,0"))
    c = centre(out)
    # ICU stays of exactly 2 days: in ICU at the end of today only, then on the ward up to day 6
    assert [d["icu_expected"] for d in c["days"]] == [1] + [0] * 13
    assert [d["ward_expected"] for d in c["days"]] == [0] + [1] * 6 + [0] * 7
    assert c["icu_beds"] == 0 and c["days"][0]["p_icu_over_capacity"] == 1.0 and c["days"][0]["p_over_capacity"] == 0
    assert c["in_icu_today"] == 1 and figure(out, "p_icu_transfer")["value"] == 1.0


def test_staff_hours_per_lane_and_week_from_task_effort():
    done = {"ordered_at": days(-50), "first_apheresis_at": days(-40), "product_received_at": days(-6)}
    out = capacity.report([row("ld", stage="lymphodepletion", lymphodepletion_at=days(-1), **done)], [], now=NOW,
                          weeks=2,
                          settings=settings(CARTPATH_TASK_HOURS="thaw_product=2"))
    hours = {(h["week"], h["lane"]): h for h in centre(out)["staff_hours"]}
    week0 = TODAY.date().isoformat()
    p = 0.98  # assumed: infused once lymphodepletion started
    assert hours[(week0, "pharmacy")]["by_task"] == {"thaw_product": round(2 * p, 2)}
    # infusion on day 4 (lymphodepletion + 5 days): check, infusion, then assessments on days 4, 5, 6
    assert hours[(week0, "ward")]["by_task"] == {"daily_assessment": round(3 * 0.5 * p, 2),
                                                  "infusion": round(1.5 * p, 2),
                                                  "pre_infusion_check": round(0.5 * p, 2)}
    assert hours[(week0, "coordination")]["hours"] == round(0.5 * p, 2)  # the day-0 registry report
    assert hours[(week0, "apheresis")]["hours"] == 0
    assert figure(out, "hours_thaw_product", None)["source"] == "configured (CARTPATH_TASK_HOURS)"
    assert figure(out, "hours_apheresis", None) | {"detail": ""} == {
        "center": None, "name": "hours_apheresis", "value": 5.0, "unit": "hours", "source": "default (assumed)",
        "detail": ""}
    assert len(centre(out)["staff_hours"]) == 2 * len(capacity.LANES)


def test_two_centres_add_up_and_open_tasks_are_kept():
    rows = [row("a", stage="infused", infused_at=days(-2)), row("b", center="FR-02", stage="infused",
                                                                infused_at=days(-2))]
    tasks = [("FR-01", "ward", (NOW - timedelta(hours=1)).isoformat()), ("FR-01", "ward", None)]
    out = capacity.report(rows, tasks, now=NOW, weeks=1, settings=settings(CARTPATH_BEDS="1,FR-02=3"))
    assert [c["beds"] for c in out["centers"]] == [1, 3]
    assert out["days"][0]["beds"] == 4 and out["days"][0]["ward_expected"] == 2 and out["days"][0]["ward_p90"] == 2
    assert out["open_tasks"] == [{"center": "FR-01", "lane": "ward", "open": 2, "overdue": 1}]
    assert {h["lane"] for h in out["staff_hours"]} == set(capacity.LANES)


def test_poisson_binomial_is_exact():
    pmf = capacity.occupancy_distribution([0.5, 0.5, 1.0, 0.0])
    assert pmf == pytest.approx([0, 0.25, 0.5, 0.25])
    assert capacity.quantile_of(pmf, 0.9) == 3 and capacity.above(pmf, 2) == pytest.approx(0.25)
    assert capacity.occupancy_distribution([]) == [1.0]


def test_the_manufacturers_dates_date_the_infusion_when_known():
    model = centre_model("FR-01", [], NOW)
    f = capacity.Forecaster(model, today=TODAY, now=NOW, horizon=7, ld_days=5)
    # reference steps: apheresis -> release 22, release -> shipment 2, shipment -> receipt 2,
    # receipt -> lymphodepletion 5, lymphodepletion -> infusion 5
    shipped = row("s", stage="shipped", ordered_at=days(-40), first_apheresis_at=days(-30),
                  first_released_at=days(-3), product_shipped_at=days(-1))
    assert f.expected_infusion(shipped, "released") == (days(-1 + 2 + 5 + 5), "shipped (manufacturer)")
    released = row("r", stage="released", ordered_at=days(-40), first_apheresis_at=days(-30), first_released_at=days(1))
    assert f.expected_infusion(released, "released") == (days(1 + 2 + 2 + 5 + 5), "released (manufacturer)")
    slot = row("o", stage="ordered", ordered_at=days(-1), planned_apheresis_date=days(6))
    assert f.expected_infusion(slot, "ordered") == (days(6 + 22 + 2 + 2 + 5 + 5), "apheresis slot (manufacturer)")
    unknown = row("u", stage="ordered", ordered_at=days(-1))
    assert f.expected_infusion(unknown, "ordered") == (days(-1 + 14 + 22 + 2 + 2 + 5 + 5), "ordered")
