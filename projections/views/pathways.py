"""One row of facts per pathway: the milestones KPIs, capacity and manufacturer reports read.

Each column is a fact recorded by an event (``infusion.infused_at``,
``product_released.released_at``...), never an aggregate: medians and rates
are computed at query time over the rows a report selects, so any filter
(centre, product, period) is exact and the view stays a pure function of
the events.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..log import Event
from ..store import Tx
from ..times import days_between, parse, utc
from .base import Context, Table, View

COLUMNS = (
    "pathway_id", "process_key", "process_version", "patient_ref", "center", "product", "indication",
    "started_at", "status", "outcome", "ended_at", "cancel_reason", "stage",
    "order_id", "manufacturer", "coi", "ordered_at", "slot_confirmed_at", "planned_apheresis_date",
    "manufacturing_slot", "apheresis_count", "adequate_apheresis_count", "first_apheresis_at", "last_apheresis_at",
    "apheresis_shipped_at", "manufacturer_received_at", "release_count", "first_released_at",
    "release_apheresis_at", "failure_count", "failed_before_release", "out_of_spec", "oos_refused",
    "product_shipped_at",
    "product_received_at", "temperature_ok", "lymphodepletion_at", "infused_at", "bridging", "crs_max",
    "icans_max", "icu_transfers", "discharged_at", "failed_at",
    # contract v2
    "first_round", "oos_releases", "oos_accepted", "quarantines", "quarantine_pending", "quarantine_unusable",
    "failure_stopped", "deferral_stopped", "disposition", "died_at", "death_cause", "icu_admitted_at", "icu_stays",
    "icu_days", "icu_excluded", "first_discharged_at", "readmissions", "first_readmitted_at", "thaw_deviations",
    "tocilizumab_overrides",
)
_INTS = {"process_version", "apheresis_count", "adequate_apheresis_count", "release_count", "failure_count",
         "failed_before_release", "out_of_spec", "oos_refused", "temperature_ok", "bridging", "crs_max", "icans_max",
         "icu_transfers", "oos_releases", "oos_accepted", "quarantines", "quarantine_pending", "quarantine_unusable",
         "failure_stopped", "deferral_stopped", "icu_stays", "icu_excluded", "readmissions", "thaw_deviations",
         "tocilizumab_overrides"}
_REALS = {"icu_days"}
_COUNTERS = ("apheresis_count", "adequate_apheresis_count", "release_count", "failure_count",
             "failed_before_release", "out_of_spec", "oos_refused", "icu_transfers", "oos_releases", "oos_accepted",
             "quarantines", "quarantine_pending", "quarantine_unusable", "failure_stopped", "deferral_stopped",
             "icu_stays", "icu_excluded", "readmissions", "thaw_deviations", "tocilizumab_overrides")
# A readmission counts for the KPI when it happens before this day after infusion (PATHWAY.md).
READMISSION_DAYS = 28
TABLE = Table("view_pathways", COLUMNS, ("pathway_id",))


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


MILESTONE_TASKS = frozenset({"place_order", "apheresis", "ship_apheresis", "oos_acceptance", "bridging_decision",
                             "product_receipt", "lymphodepletion_start", "infusion", "icu_transfer", "discharge",
                             # contract v2
                             "failure_decision", "deferral_decision", "product_disposition", "icu_discharge",
                             "post_discharge_visit", "follow_up_visit"})
MILESTONE_MESSAGES = frozenset({"slot_confirmed", "apheresis_received", "manufacturing_failed", "product_released",
                                "product_shipped", "quarantine_decision"})
# A corrected field -> the columns it fed (engine/corrections.py). A column holding the value
# first recorded takes the corrected one: the KPIs read the current value. Counters (how many
# apheresis were adequate...) are not recounted: a correction of such a flag says so in the log.
CORRECTED_COLUMNS = {
    ("place_order", "order_id"): ("order_id",), ("place_order", "manufacturer"): ("manufacturer",),
    ("apheresis", "collection_date"): ("first_apheresis_at", "last_apheresis_at", "release_apheresis_at"),
    ("ship_apheresis", "pickup_at"): ("apheresis_shipped_at",),
    ("bridging_decision", "bridging"): ("bridging",),
    ("product_receipt", "received_at"): ("product_received_at",),
    ("product_receipt", "temperature_ok"): ("temperature_ok",),
    ("lymphodepletion_start", "start_date"): ("lymphodepletion_at",),
    ("infusion", "infused_at"): ("infused_at",),
    ("icu_transfer", "admitted_at"): ("icu_admitted_at",),
    ("discharge", "discharged_at"): ("discharged_at", "first_discharged_at"),
    ("product_disposition", "disposition"): ("disposition",),
}
_FLAGS = frozenset({"bridging", "temperature_ok"})
_TEXTS = frozenset({"order_id", "manufacturer", "disposition"})
# Events that may need the pathway's row (the others are filtered out before any lookup).
_LOAD_FOR = frozenset({"Started", "TaskCompleted", "MessageReceived", "MessageSent", "NodeCompleted", "Cancelled",
                       "PathwayEnded", "DeviationRecorded", "TaskCorrected", "Migrated"})
# DeviationRecorded.kind -> its counter (engine/clinical.py: a reason given within the limit is no deviation)
DEVIATION_COUNTERS = {"thaw_to_infusion": "thaw_deviations", "tocilizumab_24h_limit": "tocilizumab_overrides"}


def _column_value(column: str, value: Any) -> Any:
    """A recorded field's value as the column keeps it."""
    if column in _FLAGS:
        return _flag(value)
    return value if column in _TEXTS else utc(value)


def _sql_type(column: str) -> str:
    return "BIGINT" if column in _INTS else "DOUBLE PRECISION" if column in _REALS else "TEXT"


def _died(row: dict[str, Any], death_date: Any, recorded_at: str, cause: Any) -> None:
    """A death ends whatever stay is open (ICU, inpatient): the first recorded death counts.

    ``death_date`` is a day: the death counts at the end of that day, or when it was recorded
    if that is earlier (a patient admitted to ICU at 10:00 who dies that day did not die at
    midnight, before admission); a v1 cancel has no date and its recording time is the death's."""
    day = parse(death_date)
    when = recorded_at
    if day is not None:
        end_of_day = utc(day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1, microseconds=-1))
        when = min(end_of_day, recorded_at)  # type: ignore[type-var, assignment]  # day is a date: utc() gives text
    if row["died_at"] is None:
        row["died_at"] = when
        row["death_cause"] = cause
        _close_icu_stay(row, when)


def _close_icu_stay(row: dict[str, Any], until: str) -> None:
    admitted = row["icu_admitted_at"]
    if admitted is None:
        return
    stay = days_between(admitted, until)
    row["icu_admitted_at"] = None
    row["icu_stays"] += 1
    if stay is None or stay < 0:
        # Facts out of order (old stores): kept out of the ICU length of stay, and counted.
        row["icu_excluded"] += 1
    else:
        row["icu_days"] = (row["icu_days"] or 0.0) + stay


class Facts:
    def __init__(self, rows: dict[str, dict[str, Any]]):
        self.rows = rows
        self.dirty: set[str] = set()


class PathwaysView(View):
    name = "pathways"
    version = 6  # 6: corrections
    tables = ("view_pathways",)
    ddl = (
        "CREATE TABLE IF NOT EXISTS view_pathways (pathway_id TEXT PRIMARY KEY, "
        + ", ".join(f"{c} {_sql_type(c)}" for c in COLUMNS[1:]) + ")",
        "CREATE INDEX IF NOT EXISTS view_pathways_center ON view_pathways (center, product)",
        "CREATE INDEX IF NOT EXISTS view_pathways_status ON view_pathways (status, center)",
    )
    # Readiness, waits and timers say nothing about milestones: not reading them halves the work.
    kinds = frozenset({"Started", "TaskCompleted", "MessageReceived", "MessageSent", "NodeCompleted", "Cancelled",
                       "PathwayEnded", "DeviationRecorded", "TaskCorrected", "Migrated"})

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> Facts:
        wanted = [ev.pathway_id for ev in events if ev.kind in _LOAD_FOR]
        return Facts(TABLE.load(tx, dict.fromkeys(wanted)) if wanted else {})

    def flush(self, tx: Tx, facts: Facts) -> None:
        TABLE.upsert(tx, [facts.rows[p] for p in facts.dirty])

    def _row(self, facts: Facts, ev: Event) -> dict[str, Any]:
        """The pathway's row, marked to be written (only rows a milestone changed are)."""
        row = facts.rows[ev.pathway_id]  # KeyError: an event of a pathway that never started
        facts.dirty.add(ev.pathway_id)
        return row

    def on_Started(self, facts, ev: Event) -> None:
        d = ev.data
        start = d["start"]
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update({c: 0 for c in _COUNTERS})
        row.update(pathway_id=ev.pathway_id, process_key=d["definition"]["key"],
                   process_version=d["definition"]["version"], patient_ref=start["patient_ref"],
                   center=start["center"], product=start["product"], indication=start["indication"],
                   started_at=ev.at, status="active", stage="started")
        if ev.pathway_id in facts.rows:
            raise ValueError(f"pathway {ev.pathway_id} started twice")
        facts.rows[ev.pathway_id] = row
        self._row(facts, ev)

    def on_Migrated(self, facts, ev: Event) -> None:
        self._row(facts, ev)["process_version"] = ev.data["to"]["version"]

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
        elif name == "oos_acceptance" and data.get("accept"):
            row["oos_accepted"] += 1
        elif name == "failure_decision" and data.get("option") == "stop":
            row["failure_stopped"] = 1
        elif name == "deferral_decision" and data.get("option") == "stop":
            row["deferral_stopped"] = 1
        elif name == "product_disposition":
            row["disposition"] = data.get("disposition")
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
            row["icu_admitted_at"] = utc(data.get("admitted_at")) or at
        elif name == "icu_discharge":
            _close_icu_stay(row, utc(data.get("discharged_at")) or at)
        elif name == "discharge":
            # ``discharged_at`` is the current discharge (a readmission clears it: capacity counts
            # the patient in again); the index stay of the length-of-stay KPI ends at the first one.
            row["discharged_at"] = utc(data.get("discharged_at")) or at
            row["first_discharged_at"] = row["first_discharged_at"] or row["discharged_at"]
            row["stage"] = "discharged"
        elif name == "post_discharge_visit" and data.get("readmit"):
            when = utc(data.get("visit_date")) or at
            since = days_between(row["infused_at"], when)
            if since is not None and 0 <= since < READMISSION_DAYS:
                row["readmissions"] += 1
                row["first_readmitted_at"] = row["first_readmitted_at"] or when
            row["discharged_at"] = None
            row["stage"] = "readmitted"
        elif name == "follow_up_visit" and data.get("alive") is False:
            _died(row, data.get("death_date"), at, data.get("death_cause"))

    def on_TaskCorrected(self, facts, ev: Event) -> None:
        d = ev.data
        columns = CORRECTED_COLUMNS.get((str(d.get("task")), str(d.get("field"))))
        if not columns or d.get("original") is None:
            return
        row = self._row(facts, ev)
        for column in columns:
            old, new = _column_value(column, d["original"]), _column_value(column, d.get("value"))
            if row[column] is not None and row[column] == old:
                row[column] = new

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
            row["first_round"] = row["first_round"] or "failed"
            if row["release_count"] == 0:
                row["failed_before_release"] = 1
            row["stage"] = "manufacturing_failed"
        elif name == "product_released":
            if row["first_round"] is None:
                row["first_round"] = "out_of_spec" if payload.get("out_of_spec") else "in_spec"
            if payload.get("out_of_spec"):
                row["oos_releases"] += 1
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
        elif name == "quarantine_decision":
            row["quarantine_pending"] = 0
            if payload.get("usable") is False:
                row["quarantine_unusable"] += 1
            row["stage"] = "quarantine_decided"

    def on_MessageSent(self, facts, ev: Event) -> None:
        payload = ev.data.get("payload") or {}
        row = facts.rows[ev.pathway_id]
        if ev.data["name"] == "product_quarantined":
            row = self._row(facts, ev)
            row["quarantines"] += 1
            row["quarantine_pending"] = 1
            row["stage"] = "quarantined"
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
        d = ev.data
        row = self._row(facts, ev)
        row["cancel_reason"] = d.get("reason")
        if d.get("reason") == "death":
            # v2 cancels carry death_date (a date: the day counts from its midnight UTC); v1 only the time.
            _died(row, d.get("death_date"), ev.at, d.get("death_cause"))

    def on_DeviationRecorded(self, facts, ev: Event) -> None:
        counter = DEVIATION_COUNTERS.get(str(ev.data.get("kind")))
        if counter is not None:
            self._row(facts, ev)[counter] += 1

    def on_PathwayEnded(self, facts, ev: Event) -> None:
        row = self._row(facts, ev)
        row.update(status="ended", outcome=ev.data.get("outcome"), ended_at=ev.at, stage="ended")
