"""The read side's queries: what the report endpoints and CLI commands return.

Every report reads view tables only (never the event store, never the engine).
``centers`` restricts a report to the centres a user may see (None: all); a
pathway outside them is reported as unknown, so its existence does not leak.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cartpath.engine.errors import UnknownPathway
from cartpath.engine.settings import capacity_settings

from . import capacity as capacity_report
from . import kpis as kpi_report
from . import process_nodes as nodes_report
from . import titles
from .runner import wait_for_position
from .stats import durations, rate
from .store import ViewStore
from .times import days_between, parse, utc
from .views import REPORT_VIEWS

CUSTODY_ORDER = ("collected", "shipped", "received_by_manufacturer", "manufacturing_failed", "released", "shipped_back",
                 "received_by_pharmacy", "stored", "quarantined", "quarantine_decision", "destroyed",
                 "returned_to_manufacturer", "kept", "thawed", "infused", "deviation")
# Hand-offs whose time is a date (apheresis.collection_date): compared by day, not instant.
DATE_STEPS = frozenset({"collected"})


class NotYet(Exception):
    """The views have not reached the position the caller wrote at (read-your-writes)."""

    def __init__(self, wanted: int, reached: int):
        super().__init__(f"the reports have reached event {reached}, not yet {wanted}; retry shortly")
        self.wanted = wanted
        self.reached = reached


class Reports:
    def __init__(self, store: ViewStore, *, beds_env: dict[str, str] | None = None):
        self.store = store
        self.beds_env = beds_env

    # -- read-your-writes ---------------------------------------------------------------
    def position(self, report: str) -> int:
        tracking = self.store.tracking()
        return min((tracking[n]["position"] if n in tracking else 0) for n in REPORT_VIEWS[report])

    def ensure(self, report: str, min_position: int | None, timeout: float = 2.0) -> int:
        """Wait briefly for the views behind ``report`` to reach ``min_position``, else raise NotYet."""
        if min_position is None:
            return self.position(report)
        reached = wait_for_position(self.store, REPORT_VIEWS[report], min_position, timeout)
        if reached < min_position:
            raise NotYet(min_position, reached)
        return reached

    def _rows(self, sql: str, params: Iterable[Any], columns: Iterable[str]) -> list[dict[str, Any]]:
        cols = tuple(columns)
        return [dict(zip(cols, r)) for r in self.store.query(sql, tuple(params))]

    @staticmethod
    def _where(filters: dict[str, Any], centers: Iterable[str] | None) -> tuple[str, list[Any]]:
        """``filters``: {"column": value} for equality, {"column >=": value} for a bound; None is no filter."""
        clauses, params = [], []
        for column, value in filters.items():
            if value is not None:
                clauses.append(f"{column} ?" if " " in column else f"{column} = ?")
                params.append(value)
        if centers is not None:
            centers = sorted(centers)
            if not centers:
                return " WHERE 1 = 0", []
            clauses.append(f"center IN ({','.join('?' * len(centers))})")
            params += centers
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    # -- per pathway ----------------------------------------------------------------------
    def timeline(self, pathway_id: str, *, now: datetime, centers: Iterable[str] | None = None) -> dict[str, Any]:
        cols = ("seq", "kind", "name", "lane", "title", "actor", "ready_at", "done_at", "how", "task_id", "data")
        rows = self._rows(f"SELECT {', '.join(cols)} FROM view_timeline WHERE pathway_id = ? ORDER BY seq",
                          (str(pathway_id),), cols)
        started = next((r for r in rows if r["kind"] == "started"), None)
        if started is None:
            raise UnknownPathway(f"pathway {pathway_id} is not in the timeline")
        head = json.loads(started["data"])
        center = head["start"]["center"]
        if centers is not None and center not in set(centers):
            raise UnknownPathway(f"pathway {pathway_id} is not in the timeline")
        ended = next((r for r in rows if r["kind"] == "ended"), None)
        now_iso = utc(now)
        steps = []
        for r in rows:
            step = {k: r[k] for k in ("seq", "kind", "name", "title", "lane", "actor", "ready_at", "done_at", "how")}
            if r["kind"] in ("task", "timer", "wait"):
                step["open"] = r["done_at"] is None
                step["waited_days"] = round(days_between(r["ready_at"], r["done_at"] or now_iso), 3)  # type: ignore[arg-type]
            if r["task_id"]:
                step["task_id"] = f"{pathway_id}:{r['task_id']}"
            if r["kind"] in ("message_in", "message_out"):
                step["direction"] = "from_manufacturer" if r["kind"] == "message_in" else "to_manufacturer"
            step["data"] = json.loads(r["data"]) if r["data"] else None
            step["title"] = titles.title(r["kind"], r["name"], r["title"], step["data"])
            steps.append(step)
        return {"pathway_id": str(pathway_id), "patient_ref": head["start"]["patient_ref"], "center": center,
                "product": head["start"]["product"], "indication": head["start"]["indication"],
                "process": head["definition"], "started_at": started["ready_at"],
                "status": "ended" if ended else "active", "outcome": ended["name"] if ended else None,
                "ended_at": ended["done_at"] if ended else None, "steps": steps}

    def custody(self, pathway_id: str, *, centers: Iterable[str] | None = None) -> dict[str, Any]:
        head = self.store.query("SELECT center, coi, order_id, manufacturer FROM view_custody_pathways "
                                "WHERE pathway_id = ?", (str(pathway_id),))
        if not head or (centers is not None and head[0][0] not in set(centers)):
            raise UnknownPathway(f"pathway {pathway_id} is not in the custody view")
        center, coi, order_id, manufacturer = head[0]
        cols = ("seq", "step", "at", "recorded_at", "place", "actor", "coi_expected", "coi_scanned",
                "coi_result", "data")
        rows = self._rows(f"SELECT {', '.join(cols)} FROM view_custody WHERE pathway_id = ?", (str(pathway_id),), cols)
        rows.sort(key=lambda r: (r["seq"], CUSTODY_ORDER.index(r["step"]) if r["step"] in CUSTODY_ORDER else 99))
        handoffs, deviations, quarantines, issues = [], [], [], []
        disposition = None
        latest: dict[str, Any] | None = None  # the latest hand-off so far, by its time
        for r in rows:
            data: Any = json.loads(r["data"]) if r["data"] else None
            if r["step"] == "deviation":
                deviations.append({**data, "at": r["at"]})
                continue
            in_order = latest is None or _not_before(r, latest)
            if not in_order:
                issues.append(f"{r['step']} at {r['at']} is before {latest['step']} at {latest['at']}")  # type: ignore[index]
            if latest is None or r["at"] > latest["at"]:
                latest = r
            if r["coi_result"] == "mismatch":
                issues.append(f"{r['step']}: scanned COI {r['coi_scanned']} is not the pathway's {r['coi_expected']}")
            if r["step"] == "quarantined":
                quarantines.append({"at": r["at"], "reason": (data or {}).get("reason"),
                                    "datalogger_ref": (data or {}).get("datalogger_ref"), "decision": None})
            elif r["step"] == "quarantine_decision" and quarantines:
                quarantines[-1]["decision"] = {"at": r["at"], "usable": (data or {}).get("usable"),
                                               "assessment_ref": (data or {}).get("assessment_ref")}
            elif r["step"] in ("destroyed", "returned_to_manufacturer", "kept"):
                disposition = {"disposition": r["step"], "at": r["at"], "actor": r["actor"]}
            handoffs.append({"step": r["step"], "at": r["at"], "recorded_at": r["recorded_at"], "place": r["place"],
                             "actor": r["actor"],
                             "coi_check": {"result": r["coi_result"], "expected": r["coi_expected"],
                                           "scanned": r["coi_scanned"].split(",") if r["coi_scanned"] else []},
                             "order_check": "in_order" if in_order else "out_of_order", "data": data})
        issues += [f"quarantined at {q['at']} without a quarantine_decision" for q in quarantines
                   if q["decision"] is None]
        return {"pathway_id": str(pathway_id), "center": center, "coi": coi, "order_id": order_id,
                "manufacturer": manufacturer, "handoffs": handoffs, "quarantines": quarantines,
                "disposition": disposition, "deviations": deviations,
                "chain_intact": not issues, "chain_issues": issues}

    # -- across pathways --------------------------------------------------------------------
    def worklists(self, *, now: datetime, center: str | None = None, lane: str | None = None,
                  centers: Iterable[str] | None = None, limit: int = 1000) -> dict[str, Any]:
        where, params = self._where({"center": center, "lane": lane}, centers)
        cols = ("pathway_id", "task_id", "name", "title", "lane", "center", "patient_ref", "ready_since", "due_at")
        rows = self._rows(f"SELECT {', '.join(cols)} FROM view_worklist{where} "
                          "ORDER BY ready_since, pathway_id, task_id",
                          params, cols)
        now_iso = utc(now)
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        tasks: list[dict[str, Any]] = []
        for r in rows:
            overdue = bool(r["due_at"] and r["due_at"] < now_iso)
            waiting = round(days_between(r["ready_since"], now_iso), 3)  # type: ignore[arg-type]
            g = groups.setdefault((r["center"], r["lane"] or ""), {"center": r["center"], "lane": r["lane"], "open": 0,
                                                                   "overdue": 0, "oldest_waiting_days": waiting})
            g["open"] += 1
            g["overdue"] += overdue
            if len(tasks) < limit:
                tasks.append({"id": f"{r['pathway_id']}:{r['task_id']}", **r, "waiting_days": waiting,
                              "overdue": overdue})
        return {"now": now_iso, "total": len(rows), "limit": limit, "tasks": tasks,
                "by_lane": [groups[k] for k in sorted(groups)]}

    def kpis(self, *, now: datetime, center: str | None = None, product: str | None = None, start: str | None = None,
             end: str | None = None, centers: Iterable[str] | None = None) -> dict[str, Any]:
        """``now`` (the engine's clock) ends the period when ``end`` does not: drop-out and
        readmissions only judge pathways old enough for their answer to be known."""
        where, params = self._where({"center": center, "product": product, "started_at >=": utc(start),
                                     "started_at <": utc(end)}, centers)
        rows = self._rows(f"SELECT {', '.join(kpi_report.KPI_COLUMNS)} FROM view_pathways{where}", params,
                          kpi_report.KPI_COLUMNS)
        return kpi_report.report(rows, {"center": center, "product": product, "from": start, "to": end}, now=now)

    def process_nodes(self, *, now: datetime, key: str, version: int | None = None, center: str | None = None,
                      start: str | None = None, end: str | None = None,
                      centers: Iterable[str] | None = None) -> dict[str, Any]:
        """Per BPMN node of one process: pathways there now, and how long the node held them (median, p90)."""
        where, params = self._where({"p.process_key": key, "p.process_version": version, "p.center": center,
                                     "p.started_at >=": utc(start), "p.started_at <": utc(end)}, centers)
        kinds = ", ".join("?" * len(nodes_report.NODE_KINDS))
        rows = self._rows("SELECT t.kind, t.name, t.ready_at, t.done_at, t.how, t.data, p.status, t.pathway_id "
                          f"FROM view_timeline t JOIN view_pathways p ON p.pathway_id = t.pathway_id{where} "
                          f"AND t.kind IN ({kinds})", [*params, *nodes_report.NODE_KINDS], nodes_report.STEP_COLUMNS)
        return nodes_report.report(rows, now=now, filters={"key": key, "version": version, "center": center,
                                                           "from": start, "to": end})

    def capacity(self, *, now: datetime, weeks: int = 8, center: str | None = None,
                 centers: Iterable[str] | None = None) -> dict[str, Any]:
        where, params = self._where({"center": center}, centers)
        rows = self._rows(f"SELECT {', '.join(capacity_report.CAPACITY_COLUMNS)} FROM view_pathways{where}", params,
                          capacity_report.CAPACITY_COLUMNS)
        tasks = self.store.query(f"SELECT center, lane, due_at FROM view_worklist{where}", tuple(params))
        return capacity_report.report(rows, tasks, now=now, weeks=weeks, center=center,
                                      settings=capacity_settings(self.beds_env))

    def manufacturers(self, *, centers: Iterable[str] | None = None, manufacturer: str | None = None) -> dict[str, Any]:
        where, params = self._where({"manufacturer": manufacturer}, centers)
        cols = ("manufacturer", "status", "ordered_at", "slot_confirmed_at", "apheresis_shipped_at",
                "release_apheresis_at", "first_released_at", "release_count", "failure_count", "failed_before_release",
                "out_of_spec", "oos_refused", "product_received_at", "first_round", "oos_releases")
        where = (where + " AND " if where else " WHERE ") + "order_id IS NOT NULL"
        rows = self._rows(f"SELECT {', '.join(cols)} FROM view_pathways{where}", params, cols)
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(r["manufacturer"] or "unknown", []).append(r)
        out = []
        for name in sorted(groups):
            g = groups[name]
            made = [r for r in g if r["release_count"] or r["failure_count"]]
            out.append({
                "manufacturer": name, "orders": len(g),
                "slots_confirmed": sum(1 for r in g if r["slot_confirmed_at"]),
                "order_to_slot": durations(days_between(r["ordered_at"], r["slot_confirmed_at"]) for r in g),
                "in_manufacturing": sum(1 for r in g if r["apheresis_shipped_at"] and not r["release_count"]
                                        and r["status"] == "active"),
                "turnaround": durations(days_between(r["release_apheresis_at"], r["first_released_at"]) for r in g),
                "releases": sum(1 for r in g if r["release_count"]),
                "out_of_spec": sum(1 for r in g if r["out_of_spec"]),
                "failures": sum(r["failure_count"] for r in g),
                "out_of_spec_refused": sum(r["oos_refused"] for r in g),
                "failure_rate": rate(sum(1 for r in made if r["failure_count"] or r["oos_refused"]), len(made)),
                "first_pass_success": kpi_report.first_pass_success(g),
                "oos_rate": kpi_report.oos_rate(g),
            })
        return {"manufacturers": out,
                "definitions": {"turnaround": kpi_report.DEFINITIONS["manufacturing_turnaround"],
                                "failure_rate": "orders with at least one manufacturing_failed or refused out-of-spec "
                                                "release / orders with a manufacturing outcome (released or failed)",
                                "order_to_slot": "place_order completion -> slot_confirmed received (days)",
                                "first_pass_success": kpi_report.DEFINITIONS["first_pass_success"],
                                "oos_rate": kpi_report.DEFINITIONS["oos_rate"]}}


def _not_before(step: dict[str, Any], latest: dict[str, Any]) -> bool:
    """Is this hand-off's time at or after the latest one before it (by day for a date)?"""
    if step["step"] in DATE_STEPS or latest["step"] in DATE_STEPS:
        return step["at"][:10] >= latest["at"][:10]
    return step["at"] >= latest["at"]


def parse_period(value: str | None, what: str) -> str | None:
    """A report bound: an ISO date or date-time (UTC if no offset); refuses anything else."""
    if value is None or value == "":
        return None
    if parse(value) is None:
        raise ValueError(f"{what} must be an ISO 8601 date or date-time, not {value!r}")
    return value
