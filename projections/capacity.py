"""Beds and staff: who is in today, and a day-by-day forecast from the pathways in flight.

Each pathway in flight counts with its probability of reaching infusion from its current stage
(projections/capacity_model.py: the centre's history, else PATHWAY.md's reference figures).
Its infusion is expected on the date its facts give: the actual infusion, else the
manufacturer's shipment, release or confirmed apheresis slot when known, else the milestone
reached plus the centre's median durations. Around that date a patient is in hospital from
``CARTPATH_LD_INPATIENT_DAYS`` before infusion for a stay drawn from the centre's distribution
of stays; a stay already running continues by the conditional remaining stay. ICU stays and
readmissions come the same way. Every number used is listed in ``assumptions`` with its source.

Occupancy on a day is the sum of independent per-patient probabilities: its distribution is
Poisson-binomial, computed exactly (``occupancy_distribution``), which gives the p90 band and
the probability of exceeding the beds.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cartpath.engine.settings import TASK_EFFORT, CapacitySettings

from .capacity_model import MODEL_COLUMNS, STAGE_NAMES, CentreModel, centre_model, stage_of
from .times import DAY_SECONDS, parse

CAPACITY_COLUMNS = MODEL_COLUMNS
LANES = tuple(dict.fromkeys(lane for lane, _ in TASK_EFFORT.values()))
FOLLOW_UP_DAYS = (30, 91, 182, 365)  # follow_up_visit at months 1, 3, 6, 12
REGISTRY_DAYS = (100, 182, 365)  # registry_report after day 0: day 100, month 6, month 12
EPSILON = 1e-12
TRIM = 1e-15
NEXT_STAGE = dict(zip(STAGE_NAMES, (*STAGE_NAMES[1:], None)))


@dataclass
class Outlook:
    """One pathway's forecast: per-day probabilities of a ward and an ICU bed, and its expected tasks."""

    basis: str
    p_infusion: float
    ward: list[float]
    icu: list[float]
    tasks: list[tuple[str, datetime, float]] = field(default_factory=list)  # (task, when, probability)


def _at(value: Any) -> datetime:
    return parse(value)  # type: ignore[return-value]  # the caller checked the column


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / DAY_SECONDS


class Forecaster:
    """Forecasts the pathways of one centre over ``horizon`` days from ``today`` (midnight UTC)."""

    def __init__(self, model: CentreModel, *, today: datetime, now: datetime, horizon: int, ld_days: float):
        self.m = model
        self.today = today
        self.now = now
        self.horizon = horizon
        self.ld_days = ld_days
        # a patient counts on a day when still in hospital at its end (the next day's midnight)
        self.day_ends = [today + timedelta(days=i + 1) for i in range(horizon)]
        self.steps = {name: timedelta(days=f.value) for name, f in model.steps.items()}

    def _still_in(self, stay, began: datetime, elapsed: float | None = None) -> list[float]:
        """P(in on each day) of a stay that began at ``began``; ``elapsed``: it has lasted so long now."""
        out = [0.0] * self.horizon
        first = _days(self.day_ends[0] - began)
        for i in range(self.horizon):
            t = first + i
            if t <= 0:
                continue
            p = stay.still_in(t) if elapsed is None else stay.still_in_after(elapsed, t)
            if p <= EPSILON:
                break  # a stay never starts again: every later day is 0 too
            out[i] = p
        return out

    def _from(self, start: datetime) -> list[float]:
        """1 on every day from ``start``'s day on (a pre-infusion admission), 0 before."""
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return [1.0 if end > first else 0.0 for end in self.day_ends]

    def expected_infusion(self, r: dict[str, Any], stage: str) -> tuple[datetime, str]:
        s = self.steps
        to_infusion = s["receipt_to_lymphodepletion"] + s["lymphodepletion_to_infusion"]
        from_release = s["apheresis_to_release"] + s["release_to_shipment"] + s["shipment_to_receipt"] + to_infusion
        if stage == "lymphodepletion":
            return _at(r["lymphodepletion_at"]) + s["lymphodepletion_to_infusion"], "lymphodepletion"
        if stage == "received":
            return _at(r["product_received_at"]) + to_infusion, "product on site"
        if r["product_shipped_at"] and stage == "released":
            return _at(r["product_shipped_at"]) + s["shipment_to_receipt"] + to_infusion, "shipped (manufacturer)"
        if stage == "released":
            return (_at(r["first_released_at"]) + s["release_to_shipment"] + s["shipment_to_receipt"] + to_infusion,
                    "released (manufacturer)")
        if r["stage"] == "manufacturing_failed" and r["failed_at"]:
            return _at(r["failed_at"]) + from_release, "remanufacturing"
        if stage == "apheresis":
            return _at(r["first_apheresis_at"]) + from_release, "manufacturing"
        if stage == "ordered" and parse(r["planned_apheresis_date"]):
            return _at(r["planned_apheresis_date"]) + from_release, "apheresis slot (manufacturer)"
        if stage == "ordered":
            return _at(r["ordered_at"]) + s["order_to_apheresis"] + from_release, "ordered"
        return (_at(r["started_at"]) + s["started_to_order"] + s["order_to_apheresis"] + from_release,
                "before the order")

    def outlook(self, r: dict[str, Any]) -> Outlook | None:
        if r["status"] != "active" or r["died_at"] or not r["started_at"]:
            return None
        if r["infused_at"]:
            return self._after_infusion(r)
        stage = stage_of(r)
        p = self.m.infusion[stage].value
        infusion, basis = self.expected_infusion(r, stage)
        # Overdue (the next milestone's expected date has passed): it is taken to happen today,
        # and the median durations run from there.
        after = NEXT_STAGE[stage]
        infusion = max(infusion, self.today + timedelta(days=self.m.days_to_infusion(after) if after else 0))
        o = Outlook(basis, p, [0.0] * self.horizon, [0.0] * self.horizon)
        admitted = self._from(infusion - timedelta(days=self.ld_days))
        stay = self._still_in(self.m.stay, infusion)
        icu = self._icu_ahead(infusion, p)
        readmit = self._readmission(infusion + timedelta(days=self.m.stay.mean), infusion, p)
        for i in range(self.horizon):
            hospital = p * (stay[i] if self.day_ends[i] > infusion else admitted[i])
            o.icu[i] = icu[i]
            o.ward[i] = min(1.0, max(0.0, hospital - icu[i]) + readmit[i])
        self._pre_infusion_tasks(o, r, stage, infusion)
        self._post_infusion_tasks(o, infusion, infusion + timedelta(days=self.m.stay.mean), p)
        return o

    def _icu_ahead(self, infusion: datetime, p: float) -> list[float]:
        q = self.m.icu_probability.value
        if q <= 0:
            return [0.0] * self.horizon
        onset = infusion + timedelta(days=self.m.icu_onset.value)
        return [p * q * v for v in self._still_in(self.m.icu_stay, onset)]

    def _readmission(self, discharge: datetime, infusion: datetime, p: float) -> list[float]:
        r = self.m.readmission_rate.value
        back = max(discharge + timedelta(days=self.m.readmission_gap.value), self.today)
        if r <= 0 or back >= infusion + timedelta(days=28):
            return [0.0] * self.horizon
        return [p * r * v for v in self._still_in(self.m.readmission_stay, back)]

    def _after_infusion(self, r: dict[str, Any]) -> Outlook:
        infused = _at(r["infused_at"])
        o = Outlook("infused", 1.0, [0.0] * self.horizon, [0.0] * self.horizon)
        elapsed = _days(self.now - infused)
        if r["discharged_at"] is None and r["first_discharged_at"] and r["first_readmitted_at"]:
            o.basis = "readmitted"
            began = _at(r["first_readmitted_at"])
            o.ward = self._still_in(self.m.readmission_stay, began, _days(self.now - began))
            discharge = self.now + timedelta(days=self.m.readmission_stay.expected_remaining(_days(self.now - began)))
        elif r["discharged_at"] is None:
            o.basis = "inpatient"
            hospital = self._still_in(self.m.stay, infused, elapsed)
            if r["icu_admitted_at"]:
                o.basis = "in ICU"
                admitted = _at(r["icu_admitted_at"])
                icu = self._still_in(self.m.icu_stay, admitted, _days(self.now - admitted))
                hospital = [max(h, i) for h, i in zip(hospital, icu)]  # out of ICU means back to the ward
            elif not r["icu_stays"] and elapsed < self.m.icu_onset.value:
                icu = self._icu_ahead(infused, 1.0)
            else:
                icu = [0.0] * self.horizon
            discharge = self.now + timedelta(days=self.m.stay.expected_remaining(elapsed))
            readmit = self._readmission(discharge, infused, 1.0)
            o.icu = icu
            o.ward = [min(1.0, max(0.0, h - i) + x) for h, i, x in zip(hospital, icu, readmit)]
        else:
            o.basis = "follow-up"
            discharge = _at(r["discharged_at"])
            if not r["readmissions"]:
                o.ward = self._readmission(discharge, infused, 1.0)
        self._post_infusion_tasks(o, infused, discharge, 1.0, infused_already=True)
        return o

    def _pre_infusion_tasks(self, o: Outlook, r: dict[str, Any], stage: str, infusion: datetime) -> None:
        m, s = self.m, self.steps
        ld = infusion - s["lymphodepletion_to_infusion"]
        receipt = ld - s["receipt_to_lymphodepletion"]
        if not r["ordered_at"]:
            o.tasks.append(("place_order", _at(r["started_at"]) + s["started_to_order"], m.reach(stage, "ordered")))
        if not r["first_apheresis_at"]:
            collection = parse(r["planned_apheresis_date"]) or (
                receipt - s["shipment_to_receipt"] - s["release_to_shipment"] - s["apheresis_to_release"])
            for task in ("apheresis", "ship_apheresis", "bridging_decision"):
                o.tasks.append((task, collection, m.reach(stage, "apheresis")))
        if not r["product_received_at"]:
            o.tasks.append(("product_receipt", receipt, m.reach(stage, "received")))
        if not r["lymphodepletion_at"]:
            for task in ("lymphodepletion_start", "tocilizumab_reservation"):
                o.tasks.append((task, ld, m.reach(stage, "lymphodepletion")))
        for task in ("pre_infusion_check", "thaw_product", "infusion", "registry_report"):
            o.tasks.append((task, infusion, o.p_infusion))

    def _post_infusion_tasks(self, o: Outlook, infusion: datetime, discharge: datetime, p: float, *,
                             infused_already: bool = False) -> None:
        """Assessments on every expected day in a bed after infusion, then discharge, visits and reports;
        for a pathway infused already, what lies in the past was done."""
        for i in range(self.horizon):
            if self.day_ends[i] > infusion and (o.ward[i] or o.icu[i]):
                day = self.today + timedelta(days=i)
                o.tasks.append(("daily_assessment", day, o.ward[i]))
                o.tasks.append(("icu_assessment", day, o.icu[i]))
        later = [("discharge", discharge)]
        visit = discharge + timedelta(days=7)
        while visit < infusion + timedelta(days=28):
            later.append(("post_discharge_visit", visit))
            visit += timedelta(days=7)
        later += [("follow_up_visit", infusion + timedelta(days=d)) for d in FOLLOW_UP_DAYS]
        later += [("registry_report", infusion + timedelta(days=d)) for d in REGISTRY_DAYS]
        o.tasks += [(task, when, p) for task, when in later if not infused_already or when >= self.today]


def occupancy_distribution(probabilities: Iterable[float]) -> list[float]:
    """P(exactly k patients in) for k = 0..n: the Poisson-binomial distribution of a sum of
    independent patients, each in with its own probability (dynamic programming), exact up to
    the counts less likely than TRIM, which are left out (trailing counts are absent: 0)."""
    pmf, offset = [1.0], 0
    for p in probabilities:
        if p <= EPSILON:
            continue
        if p >= 1 - EPSILON:
            offset += 1
            continue
        q = 1.0 - p
        pmf = [a * q + b * p for a, b in zip(pmf + [0.0], [0.0] + pmf)]
        # Counts whose probability is below TRIM at either end are dropped as they appear (with
        # hundreds of patients the total mass dropped stays below 1e-12): the work then grows with
        # the spread of the count, not with the number of patients squared.
        if pmf[-1] < TRIM:
            while len(pmf) > 1 and pmf[-1] < TRIM:
                pmf.pop()
        if pmf[0] < TRIM:
            start = 0
            while start < len(pmf) - 1 and pmf[start] < TRIM:
                start += 1
            pmf, offset = pmf[start:], offset + start
    return [0.0] * offset + pmf


def quantile_of(pmf: list[float], q: float) -> int:
    total = 0.0
    for k, mass in enumerate(pmf):
        total += mass
        if total >= q - 1e-9:
            return k
    return len(pmf) - 1


def above(pmf: list[float], beds: float) -> float:
    """P(more patients than ``beds``)."""
    return max(0.0, min(1.0, sum(pmf[int(beds) + 1:])))


def _day_figures(ward: list[float], icu: list[float], beds: float, icu_beds: float) -> dict[str, Any]:
    ward_pmf, icu_pmf = occupancy_distribution(ward), occupancy_distribution(icu)
    return {"ward_expected": round(sum(ward), 3), "ward_p90": quantile_of(ward_pmf, 0.9),
            "icu_expected": round(sum(icu), 3), "icu_p90": quantile_of(icu_pmf, 0.9),
            "beds": beds, "icu_beds": icu_beds,
            "p_over_capacity": round(above(ward_pmf, beds), 4),
            "p_icu_over_capacity": round(above(icu_pmf, icu_beds), 4),
            "_pmfs": (ward_pmf, icu_pmf)}


def staff_hours(outlooks: Iterable[Outlook], *, today: datetime, weeks: int,
                hours: dict[str, float]) -> list[dict[str, Any]]:
    """Expected staff hours per week (from today) per lane: each task's hours times its probability."""
    table: dict[tuple[int, str], dict[str, float]] = {(w, lane): {} for w in range(weeks) for lane in LANES}
    for o in outlooks:
        for task, when, p in o.tasks:
            if p <= 0:
                continue
            week = max(0, int(_days(when - today) // 7))
            if week >= weeks:
                continue
            slot = table[(week, TASK_EFFORT[task][0])]
            slot[task] = slot.get(task, 0.0) + p * hours[task]
    return [{"week": (today + timedelta(days=7 * w)).date().isoformat(), "lane": lane,
             "hours": round(sum(table[(w, lane)].values()), 2),
             "by_task": {t: round(h, 2) for t, h in sorted(table[(w, lane)].items())}}
            for w in range(weeks) for lane in LANES]


def report(rows: Iterable[dict[str, Any]], tasks: list[tuple], *, now: datetime, weeks: int,
           settings: CapacitySettings, center: str | None = None) -> dict[str, Any]:
    rows = list(rows)
    by_center: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_center.setdefault(r["center"], []).append(r)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    horizon = weeks * 7
    dates = [(today + timedelta(days=i)).date().isoformat() for i in range(horizon)]
    centres, figures, durations = [], [], {}
    totals: list[list[Any]] = [[] for _ in range(horizon)]
    for name in sorted(by_center):
        history = by_center[name]
        model = centre_model(name, history, now)
        beds, icu_beds, ld_days = settings.beds(name), settings.icu_beds(name), settings.ld_inpatient_days(name)
        figures += [{"center": name, **f.as_dict()} for f in model.figures()]
        figures += [{"center": name, "name": "beds", "value": beds, "unit": "beds",
                     "source": settings.beds.source(name), "detail": "ward beds"},
                    {"center": name, "name": "icu_beds", "value": icu_beds, "unit": "beds",
                     "source": settings.icu_beds.source(name), "detail": "ICU beds"},
                    {"center": name, "name": "ld_inpatient_days", "value": ld_days, "unit": "days",
                     "source": settings.ld_inpatient_days.source(name),
                     "detail": "days in hospital before infusion (lymphodepletion)"}]
        durations[name] = {k: {"days": round(f.value, 2), "source": f"{f.source}: {f.detail}"}
                           for k, f in model.steps.items()}
        durations[name]["length_of_stay"] = {"days": round(model.stay.mean, 2),
                                             "source": f"{model.stay.source}: {model.stay.detail}"}
        forecaster = Forecaster(model, today=today, now=now, horizon=horizon, ld_days=ld_days)
        outlooks, not_forecast = [], 0
        for r in history:
            if r["status"] != "active":
                continue
            o = forecaster.outlook(r)
            if o is None:
                not_forecast += 1
            else:
                outlooks.append(o)
        days = []
        for i, date in enumerate(dates):
            figs = _day_figures([o.ward[i] for o in outlooks], [o.icu[i] for o in outlooks], beds, icu_beds)
            totals[i].append(figs.pop("_pmfs"))
            days.append({"date": date, **figs})
        forecast = [{"date": d["date"], "expected_inpatients": round(d["ward_expected"] + d["icu_expected"], 2),
                     "beds": beds, "over_capacity": d["ward_expected"] > beds} for d in days]
        peak = max(forecast, key=lambda f: f["expected_inpatients"]) if forecast else None
        bases: dict[str, int] = {}
        for o in outlooks:
            bases[o.basis] = bases.get(o.basis, 0) + 1
        inpatients = [r for r in history if r["status"] == "active" and not r["discharged_at"] and not r["died_at"]
                      and (r["infused_at"] or (r["lymphodepletion_at"] and ld_days > 0))]
        centres.append({
            "center": name, "beds": beds, "icu_beds": icu_beds,
            "beds_source": "CARTPATH_BEDS" if name in settings.beds.by_centre else "default",
            "icu_beds_source": settings.icu_beds.source(name), "ld_inpatient_days": ld_days,
            "inpatients_today": len(inpatients),
            "in_icu_today": sum(1 for r in inpatients if r["icu_admitted_at"]),
            "expected_infusions": round(sum(o.p_infusion for o in outlooks if o.basis not in
                                            ("infused", "inpatient", "in ICU", "readmitted", "follow-up")), 2),
            "bed_days_expected": {"ward": round(sum(d["ward_expected"] for d in days), 2),
                                  "icu": round(sum(d["icu_expected"] for d in days), 2)},
            "days": days,
            "staff_hours": staff_hours(outlooks, today=today, weeks=weeks, hours=settings.task_hours),
            "forecast": forecast,
            "peak": peak and {"date": peak["date"], "expected_inpatients": peak["expected_inpatients"]},
            "days_over_capacity": sum(1 for f in forecast if f["over_capacity"]),
            "pathways_forecast": bases, "pathways_not_forecast": not_forecast,
        })
    figures += [{"center": None, "name": f"hours_{task}", "value": settings.task_hours[task], "unit": "hours",
                 "source": settings.task_source(task), "detail": f"staff time of one {task} ({lane} lane)"}
                for task, (lane, _) in TASK_EFFORT.items()]
    load: dict[tuple[str, str], dict[str, Any]] = {}
    for t_center, lane, due in tasks:
        slot = load.setdefault((t_center, lane or "none"), {"center": t_center, "lane": lane, "open": 0, "overdue": 0})
        slot["open"] += 1
        if due and _at(due) < now:
            slot["overdue"] += 1
    return {
        "now": now.isoformat(), "weeks": weeks, "center": center, "centers": centres,
        "days": _network_days(centres, totals, dates),
        "staff_hours": _network_hours(centres),
        "open_tasks": [load[k] for k in sorted(load)],
        "assumptions": {
            "forecast": "every active pathway counts with its probability of reaching infusion from its current "
                        "stage (p_infusion_from_*: centre history of ended or infused pathways, else PATHWAY.md's "
                        "figures); infusion expected from the manufacturer's dates when known (shipment, release, "
                        "confirmed apheresis slot), else from the milestone reached plus the median step durations; "
                        "when the next milestone is overdue, it is taken to happen today and the durations run "
                        "from there",
            "stay": "in hospital from ld_inpatient_days before infusion; after infusion for a stay drawn from the "
                    "centre's stays (infusion -> first discharge, a death ends it), else the reference shape; a "
                    "stay already running continues by the conditional remaining stay (past the longest observed "
                    "stay, by the exponential tail); ICU from icu_onset with probability p_icu_transfer for "
                    "icu_stay; a readmission (p_readmission) readmission_gap days after discharge, before day 28",
            "occupancy": "ward_expected / icu_expected: sums of the per-patient probabilities of being in a ward / "
                         "ICU bed at the end of the day; ward_p90 / icu_p90: the 90th percentile of that count",
            "p_over_capacity": "P(ward patients > beds) on the day, from the exact Poisson-binomial distribution of "
                               "independent patients (p_icu_over_capacity: ICU against icu_beds); over the network "
                               "(top-level days): the probability that at least one centre is over",
            "staff_hours": "per week from today and lane: the expected completions of each task (its probability "
                           "times hours_<task>); daily_assessment on every expected ward day, icu_assessment on "
                           "every ICU day",
            "beds": "CARTPATH_BEDS / CARTPATH_ICU_BEDS (a number, or per centre e.g. FR-01=6,FR-02=4; "
                    "CARTPATH_BEDS_DEFAULT for the centres CARTPATH_BEDS does not name)",
            "days": "calendar days in UTC; a patient counts on a day when in hospital at its end",
            "durations": durations,
            "figures": figures,
        },
    }


def _network_days(centres: list[dict[str, Any]], totals: list[list[Any]], dates: list[str]) -> list[dict[str, Any]]:
    """The centres' days added up; one centre's days as they are."""
    if len(centres) == 1:
        return centres[0]["days"]
    out = []
    for i, date in enumerate(dates):
        ward_pmf, icu_pmf = [1.0], [1.0]
        for w, c in totals[i]:
            ward_pmf, icu_pmf = _convolve(ward_pmf, w), _convolve(icu_pmf, c)
        none_over, none_icu_over = 1.0, 1.0
        for c in centres:
            none_over *= 1 - c["days"][i]["p_over_capacity"]
            none_icu_over *= 1 - c["days"][i]["p_icu_over_capacity"]
        out.append({"date": date,
                    "ward_expected": round(sum(c["days"][i]["ward_expected"] for c in centres), 3),
                    "ward_p90": quantile_of(ward_pmf, 0.9),
                    "icu_expected": round(sum(c["days"][i]["icu_expected"] for c in centres), 3),
                    "icu_p90": quantile_of(icu_pmf, 0.9),
                    "beds": sum(c["beds"] for c in centres), "icu_beds": sum(c["icu_beds"] for c in centres),
                    "p_over_capacity": round(1 - none_over, 4), "p_icu_over_capacity": round(1 - none_icu_over, 4)})
    return out


def _convolve(a: list[float], b: list[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out


def _network_hours(centres: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(centres) == 1:
        return centres[0]["staff_hours"]
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for c in centres:
        for row in c["staff_hours"]:
            slot = merged.setdefault((row["week"], row["lane"]), {"week": row["week"], "lane": row["lane"],
                                                                  "hours": 0.0, "by_task": {}})
            slot["hours"] = round(slot["hours"] + row["hours"], 2)
            for task, h in row["by_task"].items():
                slot["by_task"][task] = round(slot["by_task"].get(task, 0.0) + h, 2)
    return list(merged.values())
