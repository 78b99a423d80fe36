"""Beds: who is in today, and a day-by-day forecast from the pathways in flight.

An inpatient stay runs from lymphodepletion admission (or infusion, if no
lymphodepletion was recorded) to discharge. Each pathway in flight gets an
expected admission from its stage plus the centre's own median durations
(at least ``MIN_HISTORY`` finished examples, else PATHWAY.md's reference figures),
and an expected discharge from the centre's length of stay (default 18 days).
Everything assumed is returned with the figures, with its source.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .stats import quantile
from .times import days_between, parse

MIN_HISTORY = 5
DEFAULT_BEDS = 4
# (name, from column, to column, default days, why the default)
DURATIONS = (
    ("order_to_apheresis", "ordered_at", "first_apheresis_at", 14.0, "assumed: slot and collection within 2 weeks"),
    ("apheresis_to_release", "release_apheresis_at", "first_released_at", 22.0,
     "PATHWAY.md: apheresis -> QP release ~19-25 days"),
    ("release_to_receipt", "first_released_at", "product_received_at", 4.0, "assumed: shipping back"),
    ("receipt_to_admission", "product_received_at", "lymphodepletion_at", 5.0, "assumed: planning lymphodepletion"),
    ("admission_to_infusion", "lymphodepletion_at", "infused_at", 5.0,
     "PATHWAY.md: infusion 5 days after lymphodepletion start"),
    ("length_of_stay", "infused_at", "discharged_at", 18.0, "PATHWAY.md: France mean inpatient stay 18 days"),
)
CAPACITY_COLUMNS = ("pathway_id", "center", "status", "stage", "ordered_at", "planned_apheresis_date",
                    "first_apheresis_at", "release_apheresis_at", "first_released_at", "failure_count",
                    "product_received_at", "lymphodepletion_at", "infused_at", "discharged_at", "failed_at")


def beds_config(env: dict[str, str] | None = None) -> tuple[dict[str, int], int]:
    """``CARTPATH_BEDS="FR-01=6,FR-02=4"``; ``CARTPATH_BEDS_DEFAULT`` for any other centre."""
    env = env if env is not None else dict(os.environ)
    default = int(env.get("CARTPATH_BEDS_DEFAULT") or DEFAULT_BEDS)
    beds: dict[str, int] = {}
    for part in (env.get("CARTPATH_BEDS") or "").split(","):
        if "=" in part:
            center, count = part.split("=", 1)
            try:
                beds[center.strip()] = int(count)
            except ValueError:
                raise ValueError(f"CARTPATH_BEDS: {part!r} is not CENTRE=COUNT") from None
    return beds, default


def centre_durations(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, start, end, default, why in DURATIONS:
        values = sorted(d for d in (days_between(r[start], r[end]) for r in rows) if d is not None and d >= 0)
        if len(values) >= MIN_HISTORY:
            out[name] = {"days": round(quantile(values, 0.5) or 0.0, 2),
                         "source": f"centre history, median of {len(values)}"}
        else:
            out[name] = {"days": default,
                         "source": f"default ({why}); centre history has {len(values)} of {MIN_HISTORY} needed"}
    return out


def _at(value: Any) -> datetime:
    """A time the row has (the caller checked its column): parsed, for arithmetic."""
    return parse(value)  # type: ignore[return-value]


def expected_stay(r: dict[str, Any], d: dict[str, dict[str, Any]],
                  today: datetime) -> tuple[datetime, datetime, str] | None:
    """(admission, discharge, basis) for a pathway in flight, or None if it is too early to say."""
    days = {k: timedelta(days=v["days"]) for k, v in d.items()}
    stay = days["length_of_stay"]
    if r["infused_at"]:
        admitted = parse(r["lymphodepletion_at"]) or _at(r["infused_at"])
        return admitted, max(_at(r["infused_at"]) + stay, today + timedelta(days=1)), "infused"
    if r["lymphodepletion_at"]:
        ld = _at(r["lymphodepletion_at"])
        return ld, max(ld + days["admission_to_infusion"] + stay, today + timedelta(days=1)), "lymphodepletion"
    if r["product_received_at"]:
        admit, basis = _at(r["product_received_at"]) + days["receipt_to_admission"], "product on site"
    elif r["first_released_at"]:
        admit = _at(r["first_released_at"]) + days["release_to_receipt"] + days["receipt_to_admission"]
        basis = "released"
    elif r["first_apheresis_at"] and r["stage"] != "manufacturing_failed":
        admit = (_at(r["first_apheresis_at"]) + days["apheresis_to_release"] + days["release_to_receipt"]
                 + days["receipt_to_admission"])
        basis = "manufacturing"
    elif r["ordered_at"]:
        collection = parse(r["planned_apheresis_date"]) or _at(r["ordered_at"]) + days["order_to_apheresis"]
        if r["stage"] == "manufacturing_failed":
            collection = _at(r["failed_at"])  # remanufacturing starts again from the failure
        admit = collection + days["apheresis_to_release"] + days["release_to_receipt"] + days["receipt_to_admission"]
        basis = "ordered" if r["stage"] != "manufacturing_failed" else "remanufacturing"
    else:
        return None
    admit = max(admit, today)
    return admit, admit + days["admission_to_infusion"] + stay, basis


def report(rows: Iterable[dict[str, Any]], tasks: list[tuple], *, now: datetime, weeks: int,
           beds: tuple[dict[str, int], int], center: str | None = None) -> dict[str, Any]:
    rows = list(rows)
    by_center: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_center.setdefault(r["center"], []).append(r)
    per_bed, default_beds = beds
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today.date() + timedelta(days=i) for i in range(weeks * 7)]
    centres, assumptions = [], {}
    for name in sorted(by_center):
        history = by_center[name]
        durations = centre_durations(history)
        assumptions[name] = durations
        inpatients = [r for r in history if r["status"] == "active" and not r["discharged_at"]
                      and (r["lymphodepletion_at"] or r["infused_at"])]
        stays, not_forecast = [], 0
        for r in history:
            if r["status"] != "active" or r["discharged_at"]:
                continue
            stay = expected_stay(r, durations, today)
            if stay is None:
                not_forecast += 1
            else:
                stays.append(stay)
        bed_count = per_bed.get(name, default_beds)
        forecast: list[dict[str, Any]] = []
        for day in days:
            occupied = sum(1 for admit, leave, _ in stays if admit.date() <= day < leave.date())
            forecast.append({"date": day.isoformat(), "expected_inpatients": occupied, "beds": bed_count,
                             "over_capacity": occupied > bed_count})
        peak = max(forecast, key=lambda f: f["expected_inpatients"]) if forecast else None
        bases: dict[str, int] = {}
        for _, _, basis in stays:
            bases[basis] = bases.get(basis, 0) + 1
        centres.append({
            "center": name, "beds": bed_count, "beds_source": "CARTPATH_BEDS" if name in per_bed else "default",
            "inpatients_today": len(inpatients), "forecast": forecast,
            "peak": peak and {"date": peak["date"], "expected_inpatients": peak["expected_inpatients"]},
            "days_over_capacity": sum(1 for f in forecast if f["over_capacity"]),
            "pathways_forecast": bases, "pathways_not_forecast": not_forecast,
        })
    load: dict[tuple[str, str], dict[str, Any]] = {}
    for t_center, lane, due in tasks:
        slot = load.setdefault((t_center, lane or "none"), {"center": t_center, "lane": lane, "open": 0, "overdue": 0})
        slot["open"] += 1
        if due and _at(due) < now:
            slot["overdue"] += 1
    return {
        "now": now.isoformat(), "weeks": weeks, "center": center, "centers": centres,
        "open_tasks": [load[k] for k in sorted(load)],
        "assumptions": {
            "stay": "inpatient from lymphodepletion admission (or infusion) to discharge; a stay already past its "
                    "expected end is assumed to end tomorrow",
            "forecast": "every active pathway with an order counts in full (no drop-out discount: the historical "
                        "drop-out rate is in /reports/kpis); pathways before place_order are not forecast",
            "durations": assumptions,
            "beds": f"CARTPATH_BEDS per centre, else CARTPATH_BEDS_DEFAULT ({default_beds})",
            "days": "calendar days in UTC; a patient counts on every day from admission up to the day before discharge",
        },
    }
