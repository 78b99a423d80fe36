"""The numbers a what-if simulation runs on: the centre's own history, else PATHWAY.md's figures.

Durations are lognormal, fitted by the method of moments on log-days (mu, sigma = mean and
standard deviation of the logs) from the centre's finished examples in the pathway view,
when it has at least ``MIN_HISTORY``; branch probabilities likewise from at least
``MIN_RATE_HISTORY`` pathways whose answer is known. Every number comes back in
``assumptions`` with where it came from. Overrides in the request win over both.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from cartpath.engine.settings import TASK_EFFORT, CapacitySettings
from cartpath.engine.simulation import RATE_NAMES, Lognormal, Scenario, fit_lognormal

from .capacity_model import MODEL_COLUMNS, STEPS, index_stays
from .kpis import KPI_COLUMNS
from .times import days_between, parse

MIN_HISTORY = 5
MIN_RATE_HISTORY = 10
HISTORY_COLUMNS = tuple(dict.fromkeys((*KPI_COLUMNS, *MODEL_COLUMNS)))

# name: (median days, sigma of log-days, where the median comes from); the spreads are assumed
REFERENCE_DURATIONS = {
    "order_to_apheresis": (14.0, 0.35, "assumed: slot and collection within 2 weeks of the order"),
    "manufacturing_turnaround": (22.0, 0.12, "PATHWAY.md: apheresis -> QP release ~19-25 days"),
    "release_to_receipt": (4.0, 0.35, "assumed: shipping back"),
    "receipt_to_admission": (5.0, 0.4, "assumed: planning lymphodepletion"),
    "length_of_stay": (17.2, 0.3, "PATHWAY.md: France mean inpatient stay 18 days (lognormal mean 18)"),
    "icu_stay": (4.0, 0.5, "assumed: ICU stay of a CRS/ICANS transfer"),
    "readmission_stay": (5.0, 0.5, "assumed: readmission before day 28"),
}
REFERENCE_RATES = {
    "eligible": (0.94, "assumed: RCP eligibility (as the demo)"),
    "consent": (0.97, "assumed: consent signed (as the demo)"),
    "dropout_before_apheresis": (0.03, "PATHWAY.md: liso-cel cohort, 5/159 without apheresis"),
    "dropout_manufacturing": (0.09, "PATHWAY.md: liso-cel cohort, 12 deaths + 2 progressions of 159 mostly "
                              "while the product is made"),
    "dropout_lymphodepletion": (0.02, "PATHWAY.md: liso-cel cohort, physician and patient decisions"),
    "manufacturing_failure": (0.04, "PATHWAY.md: manufacturing failure ~4% (LBCL)"),
    "remanufacture": (0.6, "assumed: share of failures manufactured again"),
    "icu": (0.10, "assumed: ICU transfers (as the demo)"),
    "readmission": (0.10, "assumed: readmission before day 28"),
    "death_after_infusion": (0.06, "assumed: deaths during the first year (as the demo)"),
}
FAILURE_BY_INDICATION = {"DLBCL": 0.04, "FL": 0.04, "MM": 0.05, "ALL": 0.07, "MCL": 0.14}
DEFAULT_MIX = (("DLBCL", "axi-cel", 0.6), ("MM", "cilta-cel", 0.25), ("ALL", "tisa-cel", 0.1),
               ("MCL", "brexu-cel", 0.05))
#: the capacity forecast's task effort (engine/settings.py TASK_EFFORT); "*": any task it does not list
OTHER_TASK_HOURS = 0.25
DEFAULT_EFFORT = {task: hours for task, (_, hours) in TASK_EFFORT.items()} | {"*": OTHER_TASK_HOURS}
DEFAULT_ARRIVALS_PER_MONTH = 4.0
OVERRIDES = {"manufacturing_turnaround_days": "manufacturing_turnaround", "length_of_stay_days": "length_of_stay",
             "order_to_apheresis_days": "order_to_apheresis", "icu_stay_days": "icu_stay"}


def _durations(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The examples of each duration, with the capacity model's definitions of its steps and stays."""
    steps = {name: (a, b) for name, a, b, *_ in STEPS}
    pairs = {"order_to_apheresis": steps["order_to_apheresis"],
             "manufacturing_turnaround": steps["apheresis_to_release"],
             "release_to_receipt": ("first_released_at", "product_received_at"),
             "receipt_to_admission": steps["receipt_to_lymphodepletion"]}
    out: dict[str, list[float]] = {}
    for name, (a, b) in pairs.items():
        out[name] = [d for d in (days_between(r[a], r[b]) for r in rows) if d is not None and d > 0]
    out["length_of_stay"] = [d for d in index_stays(rows) if d > 0]
    out["icu_stay"] = [r["icu_days"] / r["icu_stays"] for r in rows
                       if r["icu_stays"] and r["icu_admitted_at"] is None and not r["icu_excluded"]
                       and (r["icu_days"] or 0) > 0]
    out["readmission_stay"] = [d for d in (days_between(r["first_readmitted_at"], r["discharged_at"]) for r in rows
                                           if r["readmissions"] == 1 and r["discharged_at"]) if d is not None and d > 0]
    return out


def _rates(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(numerator, denominator) of each branch probability the history answers."""
    ended = [r for r in rows if r["status"] == "ended" or r["infused_at"]]
    not_eligible = sum(1 for r in ended if r["outcome"] == "not_eligible")
    declined = sum(1 for r in ended if r["outcome"] == "declined")
    ordered = [r for r in ended if r["ordered_at"]]
    stopped = [r for r in ordered if not r["infused_at"] and r["status"] == "ended" and not r["failure_stopped"]]
    stage = {"before_apheresis": sum(1 for r in stopped if not r["first_apheresis_at"]),
             "manufacturing": sum(1 for r in stopped if r["first_apheresis_at"] and not r["product_received_at"]),
             "lymphodepletion": sum(1 for r in stopped if r["product_received_at"])}
    made = [r for r in rows if r["first_round"] is not None]
    failed = [r for r in ended if r["failure_count"]]
    infused = [r for r in rows if r["infused_at"]]
    discharged = [r for r in infused if r["first_discharged_at"]]
    return {
        "eligible": (len(ended) - not_eligible, len(ended)),
        "consent": (len(ended) - not_eligible - declined, len(ended) - not_eligible),
        **{f"dropout_{k}": (n, len(ordered)) for k, n in stage.items()},
        "manufacturing_failure": (sum(1 for r in made if r["failure_count"]), len(made)),
        "remanufacture": (sum(1 for r in failed if r["release_count"]), len(failed)),
        "icu": (sum(1 for r in infused if r["icu_transfers"]), len(infused)),
        "readmission": (sum(1 for r in discharged if r["readmissions"]), len(discharged)),
        "death_after_infusion": (sum(1 for r in infused if r["outcome"] == "deceased" or r["died_at"]),
                                 sum(1 for r in infused if r["status"] == "ended")),
    }


def observed_arrivals_per_month(rows: Iterable[dict[str, Any]], now: datetime) -> tuple[float, int]:
    """Pathways started in the last 12 months, per month; and how many that is."""
    since = now - timedelta(days=365)
    started = [r for r in rows if r["started_at"] and parse(r["started_at"]) >= since]  # type: ignore[operator]
    return len(started) / 12, len(started)


def fitted_inputs(rows: list[dict[str, Any]]) -> tuple[dict[str, Lognormal], dict[str, float], dict[str, Any]]:
    """Durations and branch probabilities with the assumptions that say where each came from."""
    durations: dict[str, Lognormal] = {}
    rates: dict[str, float] = {}
    assumptions: dict[str, Any] = {"durations": {}, "rates": {}}
    for name, values in _durations(rows).items():
        median, sigma, why = REFERENCE_DURATIONS[name]
        if len(values) >= MIN_HISTORY:
            durations[name] = fit_lognormal(values)
            source = f"centre history: lognormal fitted on {len(values)} examples (method of moments on log-days)"
        else:
            durations[name] = Lognormal.with_median(median, sigma)
            source = f"default ({why}; spread assumed); centre history has {len(values)} of {MIN_HISTORY} needed"
        d = durations[name]
        assumptions["durations"][name] = {"mu": round(d.mu, 4), "sigma": round(d.sigma, 4),
                                          "median_days": round(d.median, 2), "mean_days": round(d.mean, 2),
                                          "source": source}
    for name, (num, den) in _rates(rows).items():
        p, why = REFERENCE_RATES[name]
        if den >= MIN_RATE_HISTORY:
            rates[name] = num / den
            source = f"centre history: {num}/{den}"
        else:
            rates[name] = p
            source = f"default ({why}); centre history has {den} of {MIN_RATE_HISTORY} needed"
        assumptions["rates"][name] = {"p": round(rates[name], 4), "source": source}
    return durations, rates, assumptions


def build_scenario(spec: dict[str, Any], rows: list[dict[str, Any]], *, now: datetime,
                   capacity: CapacitySettings | None = None) -> tuple[Scenario, dict]:
    """A validated request (api/simulations.py's schema) and the centre's history rows -> a Scenario.
    ``capacity``: the deployment's beds and task hours (CARTPATH_BEDS, CARTPATH_ICU_BEDS,
    CARTPATH_TASK_HOURS), used where the request gives none."""
    durations, rates, assumptions = fitted_inputs(rows)
    center = spec["center"]
    beds: dict[str, int | None] = {}
    for key, configured in (("beds", capacity.beds if capacity else None),
                            ("icu_beds", capacity.icu_beds if capacity else None)):
        if key in spec:
            beds[key] = spec[key]
            source = "request" if spec[key] is not None else "request: unlimited"
        elif configured is not None:
            beds[key] = int(configured(center))
            source = configured.source(center)
        else:
            beds[key], source = None, "unlimited (nothing configured)"
        assumptions[key] = {"value": beds[key], "source": source}
    for key, name in OVERRIDES.items():
        value = (spec.get("overrides") or {}).get(key)
        if value is not None:
            sigma = 0.0 if (spec.get("overrides") or {}).get("fixed_durations") else durations[name].sigma
            durations[name] = Lognormal.with_median(float(value), sigma)
            assumptions["durations"][name] = {"mu": round(math.log(value), 4), "sigma": sigma,
                                              "median_days": value, "source": f"override {key}"}
    outpatient = (spec.get("overrides") or {}).get("outpatient_share", 0.0)
    assumptions["outpatient_share"] = {"value": outpatient, "source": "override" if outpatient else "default: none"}
    arrivals = spec.get("arrivals") or {}
    observed, count = observed_arrivals_per_month(rows, now)
    if arrivals.get("per_month") is not None:
        per_month = float(arrivals["per_month"])
        source = "request"
    else:
        base = observed if count >= MIN_RATE_HISTORY else DEFAULT_ARRIVALS_PER_MONTH
        per_month = base * (1 + float(arrivals.get("growth") or 0.0))
        source = (f"centre's observed rate ({count} pathways started in the last 12 months)"
                  if count >= MIN_RATE_HISTORY
                  else f"default {DEFAULT_ARRIVALS_PER_MONTH}/month (centre history has {count} starts in 12 months)")
        if arrivals.get("growth"):
            source += f", x(1 + {arrivals['growth']})"
    assumptions["arrivals_per_month"] = {"value": round(per_month, 3), "source": source}
    mix = tuple((m["indication"], m["product"], float(m["share"])) for m in spec.get("mix") or ()) or DEFAULT_MIX
    assumptions["mix"] = {"value": [list(m) for m in mix], "source": "request" if spec.get("mix") else "default"}
    hours = (dict(capacity.task_hours) | {"*": OTHER_TASK_HOURS}) if capacity else DEFAULT_EFFORT
    effort = hours | dict(spec.get("task_hours") or {})
    assumptions["task_hours"] = {"value": effort, "source": "the capacity forecast's task hours (TASK_EFFORT, "
                                 "CARTPATH_TASK_HOURS), the request's task_hours over them; '*': any other task "
                                 "(assumed)"}
    assumptions["model"] = ("a ward bed from lymphodepletion to discharge (ICU time included); admissions queue for a "
                            "free ward bed, first come first served; ICU transfers and readmissions never wait; "
                            "outpatients hold no ward bed for their main stay; occupancy counted at midday")
    start = spec.get("start")
    scenario = Scenario(
        name=spec.get("name") or "scenario", center=spec["center"],
        start=start if isinstance(start, date) else now.date(),
        horizon_weeks=spec["horizon_weeks"], arrivals_per_month=per_month, mix=mix, beds=beds["beds"],
        icu_beds=beds["icu_beds"], staff_hours=dict(spec.get("staff_hours") or {}), durations=durations,
        rates={n: rates[n] for n in RATE_NAMES}, failure_by_indication=FAILURE_BY_INDICATION
        if assumptions["rates"]["manufacturing_failure"]["source"].startswith("default") else {},
        effort=effort, outpatient_share=outpatient, replications=spec.get("replications", 10), seed=spec.get("seed", 1))
    return scenario, assumptions
