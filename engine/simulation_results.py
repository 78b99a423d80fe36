"""The summary of a what-if simulation's replications: day-by-day bands, staff weeks, delays, outcomes."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol


class Scenario(Protocol):
    """What the summary reads of simulation.Scenario (a frozen dataclass: read-only members)."""

    @property
    def name(self) -> str: ...
    @property
    def center(self) -> str: ...
    @property
    def start(self) -> date: ...
    @property
    def horizon_weeks(self) -> int: ...
    @property
    def beds(self) -> int | None: ...
    @property
    def icu_beds(self) -> int | None: ...
    @property
    def staff_hours(self) -> dict[str, float]: ...
    @property
    def days(self) -> int: ...


@dataclass
class Replication:
    ward: list[int]
    demand: list[int]  # the ward beds the main stays would need on unlimited beds (no queue)
    icu: list[int]
    staff: dict[str, list[float]]
    delays: list[float]  # days an infused patient's admission waited for a bed (admissions in the horizon)
    vein_to_vein: list[float]
    outcomes: dict[str, int]
    patients: int


def _quantile(values: Sequence[float], q: float) -> float:
    values = sorted(values)
    pos = (len(values) - 1) * q
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def summarise(s: Scenario, reps: list[Replication], routes: int) -> dict[str, Any]:
    n = len(reps)
    daily: list[dict[str, Any]] = []
    for d in range(s.days):
        ward = [r.ward[d] for r in reps]
        demand = [r.demand[d] for r in reps]
        icu = [r.icu[d] for r in reps]
        daily.append({
            "date": (s.start + timedelta(days=d)).isoformat(), "day": d,
            "ward_p10": _quantile(ward, 0.1), "ward_p50": _quantile(ward, 0.5), "ward_p90": _quantile(ward, 0.9),
            "icu_p10": _quantile(icu, 0.1), "icu_p50": _quantile(icu, 0.5), "icu_p90": _quantile(icu, 0.9),
            "beds": s.beds, "icu_beds": s.icu_beds,
            "p_ward_over_capacity": sum(1 for w in ward if s.beds is not None and w > s.beds) / n,
            "p_icu_over_capacity": sum(1 for w in icu if s.icu_beds is not None and w > s.icu_beds) / n,
            "ward_demand_p50": _quantile(demand, 0.5), "ward_demand_p90": _quantile(demand, 0.9),
            "p_ward_demand_over_capacity": sum(1 for w in demand if s.beds is not None and w > s.beds) / n,
        })
    lanes = sorted({lane for r in reps for lane in r.staff} | set(s.staff_hours))
    staff = [{"week": w, "week_start": (s.start + timedelta(days=7 * w)).isoformat(),
              "lanes": {lane: {"hours": round(sum(r.staff.get(lane, [0.0] * s.horizon_weeks)[w] for r in reps) / n, 2),
                               "configured": s.staff_hours.get(lane)} for lane in lanes}}
             for w in range(s.horizon_weeks)]
    delays = [d for r in reps for d in r.delays]
    waited = [d for d in delays if d > 0]
    v2v = [d for r in reps for d in r.vein_to_vein]
    outcomes: dict[str, float] = {}
    for r in reps:
        for k, v in r.outcomes.items():
            outcomes[k] = outcomes.get(k, 0) + v / n
    total = sum(outcomes.values()) or 1
    return {
        "scenario": s.name, "center": s.center, "replications": n, "routes_run_on_engine": routes,
        "patients_simulated": sum(r.patients for r in reps),
        "daily": daily, "staff_weekly": staff,
        "bed_delay": {
            "infused_admissions": len(delays), "delayed": len(waited),
            "share_delayed": round(len(waited) / len(delays), 4) if delays else 0.0,
            "mean_days": round(statistics.fmean(delays), 3) if delays else 0.0,
            "p90_days": round(_quantile(delays, 0.9), 3) if delays else 0.0,
            "max_days": round(max(delays), 3) if delays else 0.0,
        },
        "vein_to_vein_days": {"median": round(_quantile(v2v, 0.5), 2) if v2v else None,
                              "p90": round(_quantile(v2v, 0.9), 2) if v2v else None},
        "outcomes": {k: {"patients_per_replication": round(v, 2), "share": round(v / total, 4)}
                     for k, v in sorted(outcomes.items())},
        "peak": {"ward_p90": max((float(d["ward_p90"]) for d in daily), default=0.0),
                 "icu_p90": max((float(d["icu_p90"]) for d in daily), default=0.0),
                 "days_ward_over_capacity_p50": sum(1 for d in daily if d["p_ward_over_capacity"] >= 0.5),
                 "ward_demand_p90": max((float(d["ward_demand_p90"]) for d in daily), default=0.0),
                 "days_demand_over_capacity_p50": sum(1 for d in daily if d["p_ward_demand_over_capacity"] >= 0.5)},
    }
