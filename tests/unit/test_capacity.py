"""Bed capacity on view rows: pure functions, rows written by hand (no store, no runner)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartpath.projections import capacity

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TODAY = NOW.replace(hour=0)


def row(pid: str, **facts) -> dict:
    base = dict.fromkeys(capacity.CAPACITY_COLUMNS)
    base.update(pathway_id=pid, center="FR-01", status="active", stage="x", failure_count=0)
    base.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()})
    return base


def test_too_little_history_uses_the_stated_defaults():
    durations = capacity.centre_durations([row("a", infused_at=NOW, discharged_at=NOW + timedelta(days=10))])
    assert durations["length_of_stay"]["days"] == 18.0 and "default" in durations["length_of_stay"]["source"]


def test_five_finished_stays_give_the_centre_median():
    rows = [row(str(i), infused_at=NOW - timedelta(days=60), discharged_at=NOW - timedelta(days=60 - d))
            for i, d in enumerate((10, 12, 14, 16, 30))]
    durations = capacity.centre_durations(rows)
    assert durations["length_of_stay"] == {"days": 14.0, "source": "centre history, median of 5"}


def test_expected_stay_by_stage():
    d = capacity.centre_durations([])
    infused = capacity.expected_stay(row("a", infused_at=TODAY - timedelta(days=2)), d, TODAY)
    assert infused == (TODAY - timedelta(days=2), TODAY + timedelta(days=16), "infused")
    received = capacity.expected_stay(row("b", product_received_at=TODAY), d, TODAY)
    assert received == (TODAY + timedelta(days=5), TODAY + timedelta(days=5 + 5 + 18), "product on site")
    assert capacity.expected_stay(row("c"), d, TODAY) is None  # before the order: not forecast


def test_report_counts_inpatients_forecasts_and_overdue_tasks():
    rows = [row("in", infused_at=TODAY - timedelta(days=1)),
            row("soon", product_received_at=TODAY - timedelta(days=5)),
            row("done", status="ended", infused_at=TODAY - timedelta(days=40),
                discharged_at=TODAY - timedelta(days=20)),
            row("early")]
    tasks = [("FR-01", "ward", (NOW - timedelta(hours=1)).isoformat()), ("FR-01", "ward", None)]
    out = capacity.report(rows, tasks, now=NOW, weeks=1, beds=({"FR-01": 1}, 4))
    [centre] = out["centers"]
    assert centre["inpatients_today"] == 1 and centre["beds"] == 1 and centre["beds_source"] == "CARTPATH_BEDS"
    assert [f["expected_inpatients"] for f in centre["forecast"]] == [2] * 7  # "soon" is admitted today
    assert centre["days_over_capacity"] == 7 and centre["pathways_not_forecast"] == 1
    assert out["open_tasks"] == [{"center": "FR-01", "lane": "ward", "open": 2, "overdue": 1}]


def test_beds_setting_is_read_and_a_bad_one_named():
    assert capacity.beds_config({"CARTPATH_BEDS": "FR-01=6, FR-02=3", "CARTPATH_BEDS_DEFAULT": "2"}) == \
        ({"FR-01": 6, "FR-02": 3}, 2)
    with pytest.raises(ValueError, match="CARTPATH_BEDS"):
        capacity.beds_config({"CARTPATH_BEDS": "FR-01=many"})
