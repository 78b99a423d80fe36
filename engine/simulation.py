"""What-if simulation: synthetic patients on the real engine's courses, in simulated time, in memory.

For each replication, patients arrive (Poisson, or at given days), each draws a route (the
branch probabilities) and an outpatient flag; the engine runs every distinct route once
(``simulation_routes.py``) and each patient replays its route's course with its own
sampled durations (lognormal, from the centre's history or PATHWAY.md's figures): the
segment ending at each milestone is drawn (order -> apheresis, manufacturing, shipping,
receipt -> admission, stay, ICU stay, readmission stay); what the engine decides itself
(days from lymphodepletion to infusion by ``product_rules``, the follow-up calendar, which
tasks each lane does) is kept from its run. A ward bed is held from admission
(lymphodepletion) to discharge, ICU time included (the pathway returns to the ward); when
every ward bed is taken, the admission waits for the first bed to free (first come, first
served) and everything after it moves by that delay, which is measured. ICU transfers and
readmissions never wait: they are counted, and may exceed capacity. Outpatients hold no
ward bed for their main stay. Day ``d``'s occupancy is the number of stays covering
``d + 0.5`` (midday), days counted from the scenario's start; arrivals begin
``warmup_days`` earlier so the first days are not empty.
"""
from __future__ import annotations

import heapq
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from multiprocessing import get_context
from typing import Any

from .simulation_results import Replication, summarise
from .simulation_routes import DROPOUT_STAGES, MILESTONES, Course, Route, run_routes

#: Which sampled duration ends at each milestone (the others keep the engine's own timing).
SEGMENTS = {"apheresis": "order_to_apheresis", "failed": "manufacturing_turnaround",
            "release": "manufacturing_turnaround", "receipt": "release_to_receipt",
            "admission": "receipt_to_admission", "icu_out": "icu_stay", "discharge2": "readmission_stay"}
DURATION_NAMES = ("order_to_apheresis", "manufacturing_turnaround", "release_to_receipt", "receipt_to_admission",
                  "length_of_stay", "icu_stay", "readmission_stay")
RATE_NAMES = ("eligible", "consent", "dropout_before_apheresis", "dropout_manufacturing", "dropout_lymphodepletion",
              "manufacturing_failure", "remanufacture", "icu", "readmission", "death_after_infusion")
_INFINITE = 10**9
ROUTES_PER_BATCH = 4


@dataclass(frozen=True)
class Lognormal:
    """A duration in days: ``exp(N(mu, sigma))``; ``sigma`` 0 is the fixed value ``exp(mu)``."""

    mu: float
    sigma: float

    @classmethod
    def fixed(cls, days: float) -> Lognormal:
        return cls(math.log(max(days, 1e-9)), 0.0)

    @classmethod
    def with_median(cls, days: float, sigma: float) -> Lognormal:
        return cls(math.log(max(days, 1e-9)), sigma)

    @property
    def median(self) -> float:
        return math.exp(self.mu)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma ** 2 / 2)

    def sample(self, rng: random.Random) -> float:
        return math.exp(self.mu) if self.sigma == 0 else rng.lognormvariate(self.mu, self.sigma)


def fit_lognormal(values: Sequence[float]) -> Lognormal:
    """Method of moments on the logs: mu and sigma are the mean and standard deviation of log-days."""
    logs = [math.log(max(v, 1e-3)) for v in values]
    return Lognormal(statistics.fmean(logs), statistics.stdev(logs) if len(logs) > 1 else 0.0)


@dataclass(frozen=True)
class Scenario:
    """One what-if, every number resolved (the caller fitted or defaulted them)."""

    name: str
    center: str
    start: date
    horizon_weeks: int
    arrivals_per_month: float
    mix: tuple[tuple[str, str, float], ...]  # (indication, product, share)
    beds: int | None  # None: unlimited
    icu_beds: int | None
    staff_hours: dict[str, float]  # configured hours per lane per week
    durations: dict[str, Lognormal]
    rates: dict[str, float]
    failure_by_indication: dict[str, float]
    effort: dict[str, float]  # hours per task; "*" for any other task
    outpatient_share: float = 0.0
    replications: int = 10
    seed: int = 1
    warmup_days: int = 120
    arrival_days: tuple[float, ...] | None = None  # exact arrivals (days from start) instead of Poisson

    @property
    def days(self) -> int:
        return self.horizon_weeks * 7


@dataclass
class Patient:
    arrival: float
    route: Route
    outpatient: bool


# -- drawing patients ------------------------------------------------------------------------------
def draw_patients(s: Scenario, replication: int) -> list[Patient]:
    rng = random.Random(f"{s.seed}/{replication}/patients")
    if s.arrival_days is not None:
        times = list(s.arrival_days)
    else:
        per_day = s.arrivals_per_month * 12 / 365.25
        times, t = [], -float(s.warmup_days)
        while per_day > 0:
            t += rng.expovariate(per_day)
            if t >= s.days:
                break
            times.append(t)
    weights = [share for _, _, share in s.mix]
    return [Patient(t, draw_route(s, rng, rng.choices(s.mix, weights)[0]), rng.random() < s.outpatient_share)
            for t in times]


def draw_route(s: Scenario, rng: random.Random, pick: tuple[str, str, float]) -> Route:
    indication, product, _ = pick
    r = s.rates
    base = Route("infused", product, indication)
    if rng.random() >= r["eligible"]:
        return replace(base, end="not_eligible")
    if rng.random() >= r["consent"]:
        return replace(base, end="declined")
    u = rng.random()
    for stage in DROPOUT_STAGES:
        if u < r[f"dropout_{stage}"]:
            return replace(base, end="dropout", dropout_stage=stage)
        u -= r[f"dropout_{stage}"]
    remanufacture = False
    if rng.random() < s.failure_by_indication.get(indication, r["manufacturing_failure"]):
        if rng.random() >= r["remanufacture"]:
            return replace(base, end="failure_stop")
        remanufacture = True
    return replace(base, remanufacture=remanufacture, icu=rng.random() < r["icu"],
                   readmit=rng.random() < r["readmission"], dies=rng.random() < r["death_after_infusion"])


# -- one patient's course in time --------------------------------------------------------------------
def milestone_times(course: Course, arrival: float, s: Scenario, rng: random.Random) -> dict[str, float]:
    """Each milestone's time for this patient: sampled segments, else the engine's own gap."""
    marks = course.milestones
    out: dict[str, float] = {}
    prev_name, prev_ref = marks[0]
    out[prev_name] = arrival + prev_ref
    d = s.durations
    for name, ref in marks[1:]:
        prev = out[prev_name]
        if name == "discharge" and "infusion" in out:
            engine_stay = ref - dict(marks)["infusion"]  # discharge_readiness's earliest day on this route
            out[name] = max(out["infusion"] + max(d["length_of_stay"].sample(rng), engine_stay), prev + 1.0)
        elif name in SEGMENTS:
            out[name] = prev + d[SEGMENTS[name]].sample(rng)
        else:
            out[name] = prev + (ref - prev_ref)
        prev_name, prev_ref = name, ref
    return out


def _anchors(course: Course) -> list[tuple[str, str, str, float]]:
    """(task, lane, anchor milestone, days after it): a task follows the latest milestone at or before it."""
    marks = course.milestones
    out = []
    for name, lane, t in course.tasks:
        anchor = marks[0]
        for m in marks:
            if m[1] <= t and m[1] > anchor[1]:
                anchor = m
        out.append((name, lane, anchor[0], t - anchor[1]))
    return out


def replicate(s: Scenario, courses: dict[Route, Course], patients: list[Patient], replication: int) -> Replication:
    rng = random.Random(f"{s.seed}/{replication}/durations")
    days = s.days
    anchors = {route: _anchors(c) for route, c in courses.items()}
    timed = [(p, milestone_times(courses[p.route], p.arrival, s, rng)) for p in patients]
    # the ward queue: main stays in order of planned admission, first come first served
    free: list[float] = []
    beds = _INFINITE if s.beds is None else s.beds
    delays: list[float] = []
    waiting = sorted((m["admission"], i) for i, (p, m) in enumerate(timed) if "admission" in m and not p.outpatient)
    demand_diff = [0] * (days + 1)
    for planned, i in waiting:
        m = timed[i][1]
        _stay(demand_diff, planned, m.get("discharge", m["end"]), days)
    for planned, i in waiting:
        p, m = timed[i]
        wait = 0.0
        if len(free) >= beds:
            wait = max(0.0, heapq.heappop(free) - planned)
        if wait:
            order = MILESTONES.index("admission")
            timed[i] = (p, {k: v + wait if MILESTONES.index(k) >= order else v for k, v in m.items()})
            m = timed[i][1]
        heapq.heappush(free, m.get("discharge", m["end"]))
        if p.route.end == "infused" and 0 <= planned < days:
            delays.append(wait)
    ward_diff, icu_diff = [0] * (days + 1), [0] * (days + 1)
    staff: dict[str, list[float]] = {}
    weeks = s.horizon_weeks
    effort, default_effort = s.effort, s.effort.get("*", 0.0)
    outcomes: dict[str, int] = {}
    v2v: list[float] = []
    counted = 0
    for p, m in timed:
        course = courses[p.route]
        if 0 <= p.arrival < days:
            counted += 1
            outcomes[course.outcome] = outcomes.get(course.outcome, 0) + 1
            if "infusion" in m and "apheresis" in m:
                v2v.append(m["infusion"] - m["apheresis"])
        if "admission" in m and not p.outpatient:
            _stay(ward_diff, m["admission"], m.get("discharge", m["end"]), days)
        if "readmit" in m:
            _stay(ward_diff, m["readmit"], m.get("discharge2", m["end"]), days)
        if "icu_in" in m:
            _stay(icu_diff, m["icu_in"], m.get("icu_out", m["end"]), days)
        for name, lane, anchor, offset in anchors[p.route]:
            _hours(staff, lane, m[anchor] + offset, effort.get(name, default_effort), weeks)
        lanes = dict(course.assessment_lanes)
        for name, begin, end in (("daily_assessment", "infusion", "discharge"), ("daily_assessment", "readmit",
                                                                                "discharge2"),
                                 ("icu_assessment", "icu_in", "icu_out")):
            if begin in m and end in m:
                t, hours = m[begin], effort.get(name, default_effort)
                while t < m[end]:
                    _hours(staff, lanes.get(name, ""), t, hours, weeks)
                    t += 1.0
    return Replication(ward=_cumulate(ward_diff, days), demand=_cumulate(demand_diff, days),
                       icu=_cumulate(icu_diff, days), staff=staff, delays=delays,
                       vein_to_vein=v2v, outcomes=outcomes, patients=len(patients))


def _stay(diff: list[int], begin: float, end: float, days: int) -> None:
    first, stop = max(0, math.ceil(begin - 0.5)), min(days, math.ceil(end - 0.5))
    if first < stop:
        diff[first] += 1
        diff[stop] -= 1


def _cumulate(diff: list[int], days: int) -> list[int]:
    out, level = [], 0
    for d in range(days):
        level += diff[d]
        out.append(level)
    return out


def _hours(staff: dict[str, list[float]], lane: str, t: float, hours: float, weeks: int) -> None:
    if 0 <= t < weeks * 7 and hours:
        staff.setdefault(lane, [0.0] * weeks)[int(t // 7)] += hours


# -- running and summing up -----------------------------------------------------------------------
@dataclass
class Run:
    scenario: Scenario
    files: dict[str, bytes]
    workers: int = 1
    progress: Callable[[float, str], None] = field(default=lambda _f, _m: None)


_COURSES: dict[tuple[int, Route], Course] = {}  # per process: the same files and route give the same course


def run(job: Run) -> dict[str, Any]:
    """Every replication of the scenario; the summary of :func:`summarise`."""
    s = job.scenario
    cpu_start = time.process_time()
    plans = [draw_patients(s, r) for r in range(s.replications)]
    key = hash(tuple(sorted(job.files.items())))
    needed = sorted({p.route for plan in plans for p in plan if (key, p.route) not in _COURSES}, key=repr)
    job.progress(0.05, f"{len(needed)} routes to run on the engine")
    pool = (ProcessPoolExecutor(max_workers=job.workers, mp_context=get_context("forkserver"))
            if job.workers > 1 else None)
    try:
        # small batches, so that progress moves while the engine runs them
        chunks = [needed[i:i + ROUTES_PER_BATCH] for i in range(0, len(needed), ROUTES_PER_BATCH)]
        mapper = pool.map if pool else map
        routes_cpu = replay_cpu = 0.0
        done = 0
        for course_list, spent in mapper(_run_routes, [job.files] * len(chunks), chunks):
            routes_cpu += spent
            for course in course_list:
                _COURSES[(key, course.route)] = course
            done += len(course_list)
            job.progress(0.05 + 0.25 * done / len(needed), f"{done}/{len(needed)} routes run on the engine")
        job.progress(0.3, "routes run; replaying patients")
        results = []
        args = [(s, {p.route: _COURSES[(key, p.route)] for p in plan}, plan, r) for r, plan in enumerate(plans)]
        for rep, spent in mapper(_replicate, args):
            replay_cpu += spent
            results.append(rep)
            job.progress(0.3 + 0.7 * len(results) / s.replications, f"replication {len(results)}/{s.replications}")
    finally:
        if pool:
            pool.shutdown()
    summary = summarise(s, results, routes=len({p.route for plan in plans for p in plan}))
    # inline, the routes' and replications' CPU is the parent's own; in workers, it is theirs
    total = time.process_time() - cpu_start + (routes_cpu + replay_cpu if pool else 0.0)
    summary["cost"] = {"routes_run_now": len(needed), "workers": job.workers, "cpu_seconds": round(total, 2),
                       "routes_cpu_seconds": round(routes_cpu, 2), "replay_cpu_seconds": round(replay_cpu, 2)}
    return summary


def _run_routes(files: dict[str, bytes], routes: list[Route]) -> tuple[list[Course], float]:
    """In a worker: the courses, and the CPU time they took (the parent cannot see a worker's)."""
    cpu = time.process_time()
    return run_routes(files, routes), time.process_time() - cpu


def _replicate(args: tuple[Scenario, dict[Route, Course], list[Patient], int]) -> tuple[Replication, float]:
    cpu = time.process_time()
    return replicate(*args), time.process_time() - cpu
