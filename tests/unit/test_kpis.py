"""Each KPI rule of PATHWAY.md v2 on hand-made fact rows, with the figure worked out by hand.

Pure functions (projections.kpis, projections.stats): no store, no runner. A row holds
the pathway facts view's columns the KPIs read; ``row(...)`` fills the rest."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cartpath.projections import kpis
from cartpath.projections.stats import durations
from cartpath.projections.times import utc

D0 = datetime(2026, 1, 5, tzinfo=UTC)
INTS = {"adequate_apheresis_count", "release_count", "failure_count", "failed_before_release", "oos_refused",
        "icu_transfers", "oos_releases", "failure_stopped", "deferral_stopped", "icu_stays", "icu_excluded",
        "readmissions", "thaw_deviations", "tocilizumab_overrides"}


def day(n: float | None) -> str | None:
    return None if n is None else utc(D0 + timedelta(days=n))


def row(**facts) -> dict:
    r = {c: (0 if c in INTS else None) for c in kpis.KPI_COLUMNS}
    r.update(center="FR-01", product="axi-cel", status="active", adequate_apheresis_count=1)
    for key, value in facts.items():
        assert key in r, key
        r[key] = day(value) if key.endswith("_at") and isinstance(value, (int, float)) else value
    return r


def test_a_duration_out_of_order_is_excluded_with_its_reason_never_negative():
    out = durations([3.0, -2.0, None, 1.0, 2.0], reason="b before a")
    assert out == {"count": 3, "median": 2.0, "p90": 2.8, "unit": "days", "excluded": 1,
                   "excluded_reasons": {"b before a": 1}}
    assert durations([-0.5], reason="x")["median"] is None


def test_first_pass_success_counts_only_a_first_release_within_specification():
    rows = [row(first_round="in_spec"), row(first_round="out_of_spec"), row(first_round="failed"), row()]
    # in spec 1; accepted out-of-spec and failed are not successes; no outcome yet: not counted
    assert kpis.first_pass_success(rows) == {"rate": 0.3333, "numerator": 1, "denominator": 3}


def test_oos_rate_is_releases_out_of_spec_over_releases():
    rows = [row(release_count=2, oos_releases=1), row(release_count=1), row()]
    assert kpis.oos_rate(rows) == {"rate": 0.3333, "numerator": 1, "denominator": 3}


def test_delivery_success_leaves_out_deaths_progressions_and_refused_products():
    rows = [
        row(release_count=1, product_received_at=30),                                        # delivered
        row(release_count=1, status="ended", cancel_reason="progression"),                  # excluded
        row(release_count=1, status="ended", died_at=29),                                   # excluded (death)
        row(release_count=1, oos_refused=1, status="ended", failure_stopped=1),             # excluded (refused)
        row(release_count=1, status="ended", cancel_reason="physician_decision"),           # not delivered
        row(release_count=1),                                                               # in flight
        row(status="ended"),                                                                # never released
    ]
    assert kpis.delivery_success(rows) == {"rate": 0.5, "numerator": 1, "denominator": 2, "excluded": 3}


def test_drop_out_categories_and_the_90_day_denominator():
    end = day(200)  # ordered on or before day 110 is old enough to be judged while still active
    rows = [
        row(ordered_at=150),                                                          # too recent: not judged
        row(ordered_at=150, status="ended", cancel_reason="death", died_at=160),      # death
        row(ordered_at=100),                                                          # judged, not (yet) dropped
        row(ordered_at=10, infused_at=50),                                            # infused
        row(ordered_at=20, status="ended", failure_count=1, failure_stopped=1),       # manufacturing_failure
        row(ordered_at=20, status="ended", product_received_at=60, deferral_stopped=1),  # physician_decision
        row(ordered_at=20, status="ended", adequate_apheresis_count=0),               # no_apheresis
        row(status="ended"),                                                          # never ordered
        row(ordered_at=20, status="ended", cancel_reason="other"),                    # other
        row(ordered_at=20, status="ended", cancel_reason="progression"),              # progression
        row(ordered_at=30, status="ended", cancel_reason="patient_decision"),         # patient_decision
    ]
    out = kpis.drop_out(rows, end)
    assert (out["numerator"], out["denominator"], out["rate"]) == (7, 9, 0.7778)
    assert {k: v["numerator"] for k, v in out["by_category"].items()} == {
        "death": 1, "progression": 1, "manufacturing_failure": 1, "no_apheresis": 1, "patient_decision": 1,
        "physician_decision": 1, "other": 1}
    assert out["by_category"]["death"] == {"rate": 0.1111, "numerator": 1, "denominator": 9}


def test_drop_out_category_rules():
    assert kpis.dropout_category(row(died_at=3, cancel_reason=None)) == "death"  # died at a follow-up visit
    assert kpis.dropout_category(row(cancel_reason="physician_decision", failure_stopped=1)) == "physician_decision"
    assert kpis.dropout_category(row(failure_stopped=1, adequate_apheresis_count=0)) == "manufacturing_failure"
    assert kpis.dropout_category(row()) == "other"


def test_inpatient_stay_ends_at_the_first_discharge_or_a_death_in_hospital():
    rows = [
        row(infused_at=0, first_discharged_at=14),                # 14 days
        row(infused_at=0, died_at=5),                             # died in hospital: 5 days
        row(infused_at=0, first_discharged_at=10, died_at=40),    # died after discharge: 10 days
        row(infused_at=10, first_discharged_at=8),                # out of order: excluded
        row(infused_at=0),                                        # still in: not counted
    ]
    assert kpis.length_of_stay(rows) == {
        "count": 3, "median": 10.0, "p90": 13.2, "unit": "days", "excluded": 1,
        "excluded_reasons": {"discharge.discharged_at (or death) before infusion.infused_at": 1}}


def test_icu_length_of_stay_sums_a_pathways_stays():
    rows = [row(icu_stays=2, icu_days=5.5), row(icu_stays=1, icu_admitted_at=3),  # second still in ICU
            row(icu_stays=1, icu_days=1.0, icu_excluded=1), row(icu_stays=1, icu_days=2.0), row()]
    out = kpis.icu_length_of_stay(rows)
    assert (out["count"], out["median"], out["p90"], out["excluded"]) == (2, 3.75, 5.15, 1)


def test_readmission_rate_before_day_28_judges_pathways_whose_window_has_closed():
    end = day(100)
    rows = [row(infused_at=0, first_discharged_at=15, readmissions=1),   # readmitted
            row(infused_at=90, first_discharged_at=99),                  # day 28 not reached: not judged
            row(infused_at=80, first_discharged_at=95, readmissions=1),  # readmitted: judged already
            row(infused_at=10, first_discharged_at=25),                  # not readmitted
            row(infused_at=10)]                                          # not discharged
    assert kpis.readmission_rate(rows, end) == {"rate": 0.6667, "numerator": 2, "denominator": 3}


def test_deviations_per_infused_pathway_and_by_kind():
    rows = [row(infused_at=0, thaw_deviations=1), row(infused_at=0, tocilizumab_overrides=2), row(infused_at=0),
            row()]
    assert kpis.deviations(rows) == {"rate": 0.6667, "numerator": 2, "denominator": 3,
                                     "by_kind": {"thaw_to_infusion": 1, "tocilizumab_24h_limit": 2}}


def test_the_period_ends_at_to_when_earlier_than_now():
    rows = [row(ordered_at=0, started_at=0)]
    now = D0 + timedelta(days=400)
    assert kpis.report(rows, {"to": day(50)}, now=now)["period_end"] == day(50)
    assert kpis.report(rows, {}, now=now)["period_end"] == day(400)
    # ordered on day 0, judged at day 400 but not at day 50 (< 90 days)
    assert kpis.report(rows, {}, now=now)["kpis"]["drop_out"]["denominator"] == 1
    assert kpis.report(rows, {"to": day(50)}, now=now)["kpis"]["drop_out"]["denominator"] == 0


def test_the_distribution_counts_each_duration_in_its_week_and_lists_empty_weeks():
    out = durations([0.0, 6.99, 7.0, 20.5, None, -2.0], bin_days=7)
    assert out["histogram"] == [{"from": 0, "to": 7, "count": 2}, {"from": 7, "to": 14, "count": 1},
                                {"from": 14, "to": 21, "count": 1}]
    assert sum(b["count"] for b in out["histogram"]) == out["count"] == 4  # the out-of-order one stays out
    assert durations([], bin_days=7)["histogram"] == []
    assert "histogram" not in durations([3.0])  # only where a report asks for it
