"""What a centre's history says about the pathways it has in flight: the figures the capacity
forecast (projections/capacity.py) and the what-if simulation use.

Every figure is a ``Figure`` that says where it came from: the centre's own history when it
holds at least ``MIN_HISTORY`` examples, else PATHWAY.md's reference figures ("reference"),
else a stated assumption ("assumed"). Functions here are pure: they read view_pathways rows
(``MODEL_COLUMNS``) and never the store.
"""
from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .stats import quantile
from .times import days_between

MIN_HISTORY = 5
MODEL_COLUMNS = ("pathway_id", "center", "status", "stage", "started_at", "ordered_at", "planned_apheresis_date",
                 "first_apheresis_at", "apheresis_shipped_at", "release_apheresis_at", "first_released_at",
                 "failure_count", "failed_at", "product_shipped_at", "product_received_at", "lymphodepletion_at",
                 "infused_at", "bridging", "discharged_at", "first_discharged_at", "died_at", "icu_admitted_at",
                 "icu_stays", "icu_days", "readmissions", "first_readmitted_at", "ended_at")
READMISSION_DAYS = 28  # PATHWAY.md: readmission rate before day 28

# Stages a pathway passes on its way to infusion, in order, with the column that says it reached it.
STAGES = (("started", "started_at"), ("ordered", "ordered_at"), ("apheresis", "first_apheresis_at"),
          ("released", "first_released_at"), ("received", "product_received_at"),
          ("lymphodepletion", "lymphodepletion_at"))
STAGE_NAMES = tuple(name for name, _ in STAGES)
_LISO_CEL = 127 / 159  # PATHWAY.md: French liso-cel cohort, 159 ordered, 127 infused
# stage -> (probability of infusion once reached, source, why)
REFERENCE_INFUSION = {
    "started": (_LISO_CEL, "reference", "PATHWAY.md gives no figure before the order: its after-order figure "
                                        "(French liso-cel cohort, 127 of 159 ordered were infused)"),
    "ordered": (_LISO_CEL, "reference", "PATHWAY.md: French liso-cel cohort, 127 of 159 ordered were infused"),
    "apheresis": (127 / 154, "reference", "PATHWAY.md: the same cohort without the 5 never collected (127 of 154)"),
    "released": (0.92, "assumed", "deaths and progressions while the product travels and waits (PATHWAY.md has no "
                                  "figure after release)"),
    "received": (0.95, "assumed", "deaths, progressions and unusable products at the centre (no PATHWAY.md figure)"),
    "lymphodepletion": (0.98, "assumed", "infusion stopped after lymphodepletion (no PATHWAY.md figure)"),
}
# (name, from column, to column, default days, source, why): median durations between milestones.
STEPS = (
    ("started_to_order", "started_at", "ordered_at", 7.0, "assumed", "eligibility meeting, consent and order"),
    ("order_to_apheresis", "ordered_at", "first_apheresis_at", 14.0, "assumed", "slot and collection within 2 weeks"),
    ("apheresis_to_release", "release_apheresis_at", "first_released_at", 22.0, "reference",
     "PATHWAY.md: apheresis -> QP release ~19-25 days"),
    ("release_to_shipment", "first_released_at", "product_shipped_at", 2.0, "assumed", "release to shipment"),
    ("shipment_to_receipt", "product_shipped_at", "product_received_at", 2.0, "assumed", "transport"),
    ("receipt_to_lymphodepletion", "product_received_at", "lymphodepletion_at", 5.0, "assumed",
     "planning lymphodepletion"),
    ("lymphodepletion_to_infusion", "lymphodepletion_at", "infused_at", 5.0, "reference",
     "PATHWAY.md: product_rules infusion_window_min_days (5 for most products)"),
)
STEP_NAMES = tuple(s[0] for s in STEPS)
# The reference stay: PATHWAY.md's French mean of 18 days, shaped as discharge_readiness's
# earliest day (14) plus an exponential tail of mean 4 days (p90 23.2 days).
STAY_FLOOR, STAY_TAIL = 14.0, 4.0
ICU_TAIL = 4.0


@dataclass(frozen=True)
class Figure:
    """One number the forecast uses, and where it came from."""

    name: str
    value: float
    unit: str
    source: str  # history | reference | assumed | configured | default
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": round(self.value, 4), "unit": self.unit, "source": self.source,
                "detail": self.detail}


@dataclass(frozen=True)
class Stay:
    """A length of stay in days: the centre's observed stays (``values``, sorted), or, with none,
    ``floor`` plus an exponential tail of mean ``tail``. A stay that has lasted longer than every
    observed one continues by the exponential tail too (the conditional remaining stay)."""

    name: str
    values: tuple[float, ...]
    floor: float
    tail: float
    source: str
    detail: str

    @classmethod
    def observed(cls, name: str, values: Iterable[float], *, floor: float, tail: float, reference: str,
                 reference_source: str = "reference") -> Stay:
        clean = tuple(sorted(v for v in values if v is not None and v >= 0))
        if len(clean) >= MIN_HISTORY:
            return cls(name, clean, floor, tail, "history", f"centre history: {len(clean)} stays")
        return cls(name, (), floor, tail, reference_source,
                   f"{reference}; centre history has {len(clean)} of {MIN_HISTORY} stays needed")

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else self.floor + self.tail

    @property
    def p90(self) -> float:
        if self.values:
            return quantile(list(self.values), 0.9) or 0.0
        return self.floor + self.tail * math.log(10)

    def still_in(self, t: float) -> float:
        """P(stay >= t days): the patient is still in hospital t days after the stay began."""
        if t <= 0:
            return 1.0
        if self.values:
            return (len(self.values) - bisect_left(self.values, t)) / len(self.values)
        return 1.0 if t <= self.floor else math.exp(-(t - self.floor) / self.tail)

    def still_in_after(self, elapsed: float, t: float) -> float:
        """P(stay >= t | stay >= elapsed): a stay that has lasted ``elapsed`` days, still running at ``t``
        (the conditional remaining stay; past the longest observed stay, the exponential tail)."""
        if t <= elapsed:
            return 1.0
        base = self.still_in(elapsed)
        if base <= 0:
            return math.exp(-(t - elapsed) / self.tail)
        return self.still_in(t) / base

    def expected_remaining(self, elapsed: float) -> float:
        """Mean days left of a stay that has lasted ``elapsed`` days."""
        if self.values:
            left = [v - elapsed for v in self.values if v > elapsed]
            return sum(left) / len(left) if left else self.tail
        return (self.floor - elapsed if elapsed < self.floor else 0.0) + self.tail

    def sample(self, rng: random.Random) -> float:
        """One stay drawn from the distribution (for simulation)."""
        if self.values:
            return rng.choice(self.values)
        return self.floor + rng.expovariate(1.0 / self.tail)

    def figures(self) -> list[Figure]:
        return [Figure(f"{self.name}_mean", self.mean, "days", self.source, self.detail),
                Figure(f"{self.name}_p90", self.p90, "days", self.source, self.detail)]


@dataclass(frozen=True)
class CentreModel:
    """The figures of one centre: infusion probability by stage, median step durations, stays,
    ICU and readmissions. ``figures()`` lists every one with its source."""

    center: str
    infusion: dict[str, Figure]
    steps: dict[str, Figure]
    stay: Stay
    icu_probability: Figure
    icu_onset: Figure
    icu_stay: Stay
    readmission_rate: Figure
    readmission_gap: Figure
    readmission_stay: Stay

    def figures(self) -> list[Figure]:
        return [*self.infusion.values(), *self.steps.values(), *self.stay.figures(), self.icu_probability,
                self.icu_onset, *self.icu_stay.figures(), self.readmission_rate, self.readmission_gap,
                *self.readmission_stay.figures()]

    def reach(self, current: str, step: str) -> float:
        """P(the pathway reaches ``step``'s stage | it is at ``current``), taking drop-out to be what
        separates the two stages' infusion probabilities (1 for a stage already passed)."""
        here, there = self.infusion[current].value, self.infusion[step].value
        return 1.0 if there <= 0 or STAGE_NAMES.index(step) <= STAGE_NAMES.index(current) else min(1.0, here / there)

    def days_to_infusion(self, stage: str) -> float:
        """Median days from reaching ``stage`` to infusion, the steps' medians added up."""
        first = {"started": 0, "ordered": 1, "apheresis": 2, "released": 3, "received": 5, "lymphodepletion": 6}
        return sum(self.steps[name].value for name in STEP_NAMES[first[stage]:])


def _resolved(r: dict[str, Any]) -> bool:
    return bool(r["infused_at"]) or r["status"] == "ended"


def infusion_probabilities(rows: list[dict[str, Any]]) -> dict[str, Figure]:
    """P(infusion | stage reached), from the pathways that reached it and whose answer is known
    (infused, or ended), else REFERENCE_INFUSION."""
    out = {}
    for name, column in STAGES:
        reached = [r for r in rows if r[column] and _resolved(r)]
        infused = sum(1 for r in reached if r["infused_at"])
        if len(reached) >= MIN_HISTORY:
            out[name] = Figure(f"p_infusion_from_{name}", infused / len(reached), "probability", "history",
                               f"centre history: {infused} of {len(reached)} pathways that reached {name} "
                               "were infused")
        else:
            value, source, why = REFERENCE_INFUSION[name]
            out[name] = Figure(f"p_infusion_from_{name}", value, "probability", source,
                               f"{why}; centre history has {len(reached)} of {MIN_HISTORY} needed")
    return out


def step_durations(rows: list[dict[str, Any]]) -> dict[str, Figure]:
    out = {}
    for name, start, end, default, source, why in STEPS:
        values = sorted(d for d in (days_between(r[start], r[end]) for r in rows) if d is not None and d >= 0)
        if len(values) >= MIN_HISTORY:
            out[name] = Figure(name, quantile(values, 0.5) or 0.0, "days", "history",
                               f"centre history: median of {len(values)}")
        else:
            out[name] = Figure(name, default, "days", source,
                               f"{why}; centre history has {len(values)} of {MIN_HISTORY} needed")
    return out


def index_stays(rows: list[dict[str, Any]]) -> list[float]:
    """Infusion -> first discharge (a death in hospital ends the stay), of the stays that ended."""
    out = []
    for r in rows:
        end = r["first_discharged_at"] or (r["died_at"] if r["infused_at"] else None)
        d = days_between(r["infused_at"], end)
        if d is not None and d >= 0:
            out.append(d)
    return out


def _share(name: str, hits: int, total: int, reference: float, why: str, detail: str) -> Figure:
    if total >= MIN_HISTORY:
        return Figure(name, hits / total, "probability", "history", f"centre history: {hits} of {total} {detail}")
    return Figure(name, reference, "probability", "assumed", f"{why}; centre history has {total} of "
                  f"{MIN_HISTORY} needed")


def _median(name: str, values: list[float], default: float, why: str) -> Figure:
    clean = sorted(v for v in values if v >= 0)
    if len(clean) >= MIN_HISTORY:
        return Figure(name, quantile(clean, 0.5) or 0.0, "days", "history", f"centre history: median of {len(clean)}")
    return Figure(name, default, "days", "assumed", f"{why}; centre history has {len(clean)} of {MIN_HISTORY} needed")


def centre_model(center: str, rows: Iterable[dict[str, Any]], now: datetime) -> CentreModel:
    """The figures of one centre from its view_pathways rows (every row, ended or not)."""
    rows = list(rows)
    stay = Stay.observed("length_of_stay", index_stays(rows), floor=STAY_FLOOR, tail=STAY_TAIL,
                         reference="PATHWAY.md: France mean inpatient stay 18 days; shape assumed: at least 14 days "
                                   "(discharge_readiness) plus an exponential tail of mean 4 days")
    stays_done = [r for r in rows if r["infused_at"] and (r["first_discharged_at"] or r["status"] == "ended")]
    icu_lengths = [float(r["icu_days"]) / r["icu_stays"] for r in rows if r["icu_stays"] and r["icu_days"] is not None]
    old_enough = [r for r in rows if r["infused_at"]
                  and ((days_between(r["infused_at"], now) or 0) >= READMISSION_DAYS or r["status"] == "ended")]
    readmitted = [r for r in rows if r["readmissions"] and r["first_readmitted_at"]]
    return CentreModel(
        center=center,
        infusion=infusion_probabilities(rows),
        steps=step_durations(rows),
        stay=stay,
        icu_probability=_share("p_icu_transfer", sum(1 for r in stays_done if r["icu_stays"]), len(stays_done), 0.15,
                               "assumed: 15% of infused patients need intensive care (no PATHWAY.md figure)",
                               "finished stays went through ICU"),
        icu_onset=Figure("icu_onset", 3.0, "days after infusion", "assumed",
                         "ICU admission on day 3 after infusion (CRS onset; closed ICU stays keep no admission time)"),
        icu_stay=Stay.observed("icu_stay", icu_lengths, floor=0.0, tail=ICU_TAIL,
                               reference="assumed: exponential, mean 4 days (no PATHWAY.md figure)",
                               reference_source="assumed"),
        readmission_rate=_share("p_readmission", sum(1 for r in old_enough if r["readmissions"]), len(old_enough),
                                0.10, "assumed: 10% readmitted before day 28 (no PATHWAY.md figure)",
                                f"infused patients were readmitted before day {READMISSION_DAYS}"),
        readmission_gap=_median("readmission_gap", [d for d in (days_between(r["first_discharged_at"],
                                                                             r["first_readmitted_at"])
                                                                for r in readmitted) if d is not None],
                                7.0, "assumed: readmitted 7 days after discharge"),
        readmission_stay=Stay.observed(
            "readmission_stay",
            [d for d in (days_between(r["first_readmitted_at"], r["discharged_at"]) for r in readmitted
                         if r["discharged_at"] and r["readmissions"] == 1) if d is not None],
            floor=0.0, tail=5.0, reference="assumed: exponential, mean 5 days", reference_source="assumed"),
    )


def stage_of(r: dict[str, Any]) -> str:
    """The furthest stage towards infusion a pathway in flight has reached."""
    for name, column in reversed(STAGES):
        if r[column]:
            return name
    return "started"
