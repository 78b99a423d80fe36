"""One row of facts per pathway: the milestones KPIs, capacity and manufacturer reports read.

Each column is a fact recorded by an event (``infusion.infused_at``,
``product_released.released_at``...), never an aggregate: medians and rates
are computed at query time over the rows a report selects, so any filter
(centre, product, period) is exact and the view stays a pure function of
the events.
"""
from __future__ import annotations

from typing import Any

from ..log import Event
from ..store import Tx
from ..times import utc
from .base import Context, Table, View

COLUMNS = (
    "pathway_id", "process_key", "process_version", "patient_ref", "center", "product", "indication",
    "started_at", "status", "outcome", "ended_at", "cancel_reason", "stage",
    "order_id", "manufacturer", "coi", "ordered_at", "slot_confirmed_at", "planned_apheresis_date",
    "manufacturing_slot", "apheresis_count", "adequate_apheresis_count", "first_apheresis_at", "last_apheresis_at",
    "apheresis_shipped_at", "manufacturer_received_at", "release_count", "first_released_at",
    "release_apheresis_at", "failure_count", "failed_before_release", "out_of_spec", "oos_refused", "product_shipped_at",
    "product_received_at", "temperature_ok", "lymphodepletion_at", "infused_at", "bridging", "crs_max",
    "icans_max", "icu_transfers", "discharged_at", "failed_at",
)
_INTS = {"process_version", "apheresis_count", "adequate_apheresis_count", "release_count", "failure_count",
         "failed_before_release", "out_of_spec", "oos_refused", "temperature_ok", "bridging", "crs_max", "icans_max",
         "icu_transfers"}
_COUNTERS = ("apheresis_count", "adequate_apheresis_count", "release_count", "failure_count",
             "failed_before_release", "out_of_spec", "oos_refused", "icu_transfers")
TABLE = Table("view_pathways", COLUMNS, ("pathway_id",))


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


MILESTONE_TASKS = frozenset({"place_order", "apheresis", "ship_apheresis", "oos_acceptance", "bridging_decision",
                             "product_receipt", "lymphodepletion_start", "infusion", "icu_transfer", "discharge"})
MILESTONE_MESSAGES = frozenset({"slot_confirmed", "apheresis_received", "manufacturing_failed", "product_released",
                                "product_shipped"})
# Events that may need the pathway's row (the others are filtered out before any lookup).
_LOAD_FOR = frozenset({"Started", "TaskCompleted", "MessageReceived", "MessageSent", "NodeCompleted", "Cancelled",
                       "PathwayEnded"})


class Facts:
    def __init__(self, rows: dict[str, dict[str, Any]]):
        self.rows = rows
        self.dirty: set[str] = set()


class PathwaysView(View):
    name = "pathways"
    version = 3
    tables = ("view_pathways",)
    ddl = (
        "CREATE TABLE IF NOT EXISTS view_pathways (pathway_id TEXT PRIMARY KEY, "
        + ", ".join(f"{c} {'BIGINT' if c in _INTS else 'TEXT'}" for c in COLUMNS[1:]) + ")",
        "CREATE INDEX IF NOT EXISTS view_pathways_center ON view_pathways (center, product)",
        "CREATE INDEX IF NOT EXISTS view_pathways_status ON view_pathways (status, center)",
    )
    # Readiness, waits and timers say nothing about milestones: not reading them halves the work.
    kinds = frozenset({"Started", "TaskCompleted", "MessageReceived", "MessageSent", "NodeCompleted", "Cancelled",
                       "PathwayEnded"})

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> "Facts":
        wanted = [ev.pathway_id for ev in events if ev.kind in _LOAD_FOR]
        return Facts(TABLE.load(tx, dict.fromkeys(wanted)) if wanted else {})

    def flush(self, tx: Tx, facts: "Facts") -> None:
        TABLE.upsert(tx, [facts.rows[p] for p in facts.dirty])

    def _row(self, facts: "Facts", ev: Event) -> dict[str, Any]:
        """The pathway's row, marked to be written (only rows a milestone changed are)."""
        row = facts.rows[ev.pathway_id]  # KeyError: an event of a pathway that never started
        facts.dirty.add(ev.pathway_id)
        return row

    def on_Started(self, facts, ev: Event) -> None:
        d = ev.data
        start = d["start"]
        row = {c: None for c in COLUMNS}
        row.update({c: 0 for c in _COUNTERS})
        row.update(pathway_id=ev.pathway_id, process_key=d["definition"]["key"],
                   process_version=d["definition"]["version"], patient_ref=start["patient_ref"],
                   center=start["center"], product=start["product"], indication=start["indication"],
                   started_at=ev.at, status="active", stage="started")
        if ev.pathway_id in facts.rows:
            raise ValueError(f"pathway {ev.pathway_id} started twice")
        facts.rows[ev.pathway_id] = row
        self._row(facts, ev)

    def on_TaskCompleted(self, facts, ev: Event) -> None:
        name = ev.data["name"]
        if name not in MILESTONE_TASKS:
            return
        row = self._row(facts, ev)
        data, at = ev.data.get("data") or {}, ev.at
        if name == "place_order":
            row["ordered_at"] = row["ordered_at"] or at
            row["order_id"] = row["order_id"] or data.get("order_id")
            row["manufacturer"] = row["manufacturer"] or data.get("manufacturer")
            row["stage"] = "ordered"
        elif name == "apheresis":
            row["apheresis_count"] += 1
            if data.get("adequate", True):
                collected = utc(data.get("collection_date")) or at
                row["adequate_apheresis_count"] += 1
                row["first_apheresis_at"] = row["first_apheresis_at"] or collected
                row["last_apheresis_at"] = collected
                row["stage"] = "apheresis"
        elif name == "ship_apheresis":
            row["apheresis_shipped_at"] = utc(data.get("pickup_at")) or at
            row["stage"] = "manufacturing"
        elif name == "oos_acceptance" and data.get("accept") is False:
            # An out-of-spec product refused is a failed manufacturing pass, like manufacturing_failed.
            row["oos_refused"] += 1
            if row["release_count"] == 1:
                row["failed_before_release"] = 1
        elif name == "bridging_decision":
            row["bridging"] = _flag(data.get("bridging"))
        elif name == "product_receipt":
            row["product_received_at"] = utc(data.get("received_at")) or at
            row["temperature_ok"] = _flag(data.get("temperature_ok"))
            row["stage"] = "received"
        elif name == "lymphodepletion_start":
            row["lymphodepletion_at"] = row["lymphodepletion_at"] or utc(data.get("start_date")) or at
            row["stage"] = "lymphodepletion"
        elif name == "infusion":
            row["infused_at"] = utc(data.get("infused_at")) or at
            row["stage"] = "infused"
        elif name == "icu_transfer":
            row["icu_transfers"] += 1
        elif name == "discharge":
            row["discharged_at"] = utc(data.get("discharged_at")) or at
            row["stage"] = "discharged"

    def on_MessageReceived(self, facts, ev: Event) -> None:
        d = ev.data
        name, payload, correlation, at = d["name"], d.get("payload") or {}, d.get("correlation") or {}, ev.at
        row = facts.rows[ev.pathway_id]
        if name not in MILESTONE_MESSAGES and row["order_id"] and (row["coi"] or not correlation.get("coi")):
            return  # informative, and nothing new to learn from its correlation
        row = self._row(facts, ev)
        row["order_id"] = row["order_id"] or correlation.get("order_id")
        row["coi"] = row["coi"] or correlation.get("coi")
        if name == "slot_confirmed":
            row["slot_confirmed_at"] = row["slot_confirmed_at"] or at
            row["planned_apheresis_date"] = utc(payload.get("apheresis_date"))
            row["manufacturing_slot"] = payload.get("manufacturing_slot")
        elif name == "apheresis_received":
            row["manufacturer_received_at"] = utc(payload.get("received_at")) or at
        elif name == "manufacturing_failed":
            row["failure_count"] += 1
            row["failed_at"] = at
            if row["release_count"] == 0:
                row["failed_before_release"] = 1
            row["stage"] = "manufacturing_failed"
        elif name == "product_released":
            row["release_count"] += 1
            if row["first_released_at"] is None:
                row["first_released_at"] = utc(payload.get("released_at")) or at
                row["release_apheresis_at"] = row["last_apheresis_at"]
            if payload.get("out_of_spec"):
                row["out_of_spec"] = 1
            row["stage"] = "released"
        elif name == "product_shipped":
            row["product_shipped_at"] = utc(payload.get("shipped_at")) or at
            row["stage"] = "shipped"

    def on_MessageSent(self, facts, ev: Event) -> None:
        payload = ev.data.get("payload") or {}
        row = facts.rows[ev.pathway_id]
        if ev.data["name"] != "order_placed" and (row["coi"] or not payload.get("coi")):
            return
        row = self._row(facts, ev)
        row["order_id"] = row["order_id"] or payload.get("order_id")
        row["coi"] = row["coi"] or payload.get("coi")
        if ev.data["name"] == "order_placed":
            row["ordered_at"] = row["ordered_at"] or ev.at
            row["manufacturer"] = row["manufacturer"] or payload.get("manufacturer")
            if row["stage"] == "started":
                row["stage"] = "ordered"

    def on_NodeCompleted(self, facts, ev: Event) -> None:
        result = ev.data.get("result")
        if not result:
            return
        row = facts.rows[ev.pathway_id]
        for key, column in (("crs_grade", "crs_max"), ("icans_grade", "icans_max")):
            grade = result.get(key)
            if isinstance(grade, (int, float)) and not isinstance(grade, bool):
                if row[column] is None or int(grade) > row[column]:
                    self._row(facts, ev)[column] = int(grade)

    def on_Cancelled(self, facts, ev: Event) -> None:
        self._row(facts, ev)["cancel_reason"] = ev.data.get("reason")

    def on_PathwayEnded(self, facts, ev: Event) -> None:
        row = self._row(facts, ev)
        row.update(status="ended", outcome=ev.data.get("outcome"), ended_at=ev.at, stage="ended")
