"""Chain of custody: every hand-off of the patient's cells and product, with its COI check.

Hand-offs come from the tasks and manufacturer messages PATHWAY.md names:
collected (``apheresis``), shipped (``ship_apheresis``), received by the
manufacturer (``apheresis_received``), released (``product_released``),
shipped back (``product_shipped``), received by pharmacy and stored
(``product_receipt``), thawed (``thaw_product``), infused (``infusion``); a
``manufacturing_failed`` is kept too, as the product's end at the manufacturer.
The COI check compares what was scanned (or the message's correlation COI)
with the pathway's COI known at that moment: ``match``, ``mismatch``,
``not_scanned`` (nothing to compare), or ``no_coi_yet``.

Contract v2 adds: the product put in quarantine at receipt (``product_quarantined``,
sent) and the manufacturer's ``quarantine_decision``; the product's disposition when
it is not infused (``product_disposition``: the step is the disposition itself,
``destroyed``, ``returned_to_manufacturer`` or ``kept``, at its ``at``); and the
deviations the engine recorded (``DeviationRecorded``; step ``deviation``, kept apart
from the hand-offs by the report): an infusion outside the thaw window, a tocilizumab
dose over the 24-hour limit, each with the reason a person gave.
"""
from __future__ import annotations

from typing import Any

from ..log import Event
from ..store import Tx
from ..times import utc
from .base import Context, Table, View, actor_of, pathway_ids, to_json

HEADER = Table("view_custody_pathways", ("pathway_id", "center", "coi", "order_id", "manufacturer"), ("pathway_id",))
STEPS = Table("view_custody", ("pathway_id", "seq", "step", "at", "recorded_at", "place", "actor", "coi_expected",
                               "coi_scanned", "coi_result", "data"), ("pathway_id", "seq", "step"))

# task name -> (hand-off, the field giving its time, the fields scanned against the COI, place suffix)
TASK_HANDOFFS: dict[str, list[tuple[str, str | None, tuple[str, ...], str]]] = {
    "apheresis": [("collected", "collection_date", ("coi_scanned",), "apheresis")],
    "ship_apheresis": [("shipped", "pickup_at", (), "courier")],
    "product_receipt": [("received_by_pharmacy", "received_at", ("coi_scanned",), "pharmacy"),
                        ("stored", "received_at", (), "storage")],
    "thaw_product": [("thawed", "thaw_ended_at", ("coi_scanned",), "pharmacy")],
    "infusion": [("infused", "infused_at", ("coi_wristband", "coi_bag"), "ward")],
}
DISPOSITIONS = frozenset({"destroyed", "returned_to_manufacturer", "kept"})
DEVIATION_FIELDS = ("kind", "task", "reason", "limit_minutes", "actual_minutes", "limit_doses", "actual_doses")
MESSAGE_HANDOFFS: dict[str, tuple[str, str | None, str]] = {
    "quarantine_decision": ("quarantine_decision", None, "manufacturer"),
    "apheresis_received": ("received_by_manufacturer", "received_at", "manufacturer"),
    "manufacturing_failed": ("manufacturing_failed", None, "manufacturer"),
    "product_released": ("released", "released_at", "manufacturer"),
    "product_shipped": ("shipped_back", "shipped_at", "courier"),
}


def coi_result(expected: str | None, scanned: list[str]) -> str:
    if not scanned:
        return "not_scanned"
    if expected is None:
        return "no_coi_yet"
    return "match" if all(s == expected for s in scanned) else "mismatch"


class Batch:
    def __init__(self, headers: dict[str, dict[str, Any]]):
        self.headers = headers
        self.touched: set[str] = set()
        self.steps: list[dict[str, Any]] = []


class CustodyView(View):
    name = "custody"
    version = 3
    tables = ("view_custody_pathways", "view_custody")
    ddl = (
        "CREATE TABLE IF NOT EXISTS view_custody_pathways (pathway_id TEXT PRIMARY KEY, center TEXT, coi TEXT, "
        "order_id TEXT, manufacturer TEXT)",
        "CREATE TABLE IF NOT EXISTS view_custody (pathway_id TEXT NOT NULL, seq BIGINT NOT NULL, step TEXT NOT NULL, "
        "at TEXT, recorded_at TEXT, place TEXT, actor TEXT, coi_expected TEXT, coi_scanned TEXT, coi_result TEXT, "
        "data TEXT, PRIMARY KEY (pathway_id, seq, step)) WITHOUT ROWID",
    )
    kinds = frozenset({"Started", "TaskCompleted", "MessageReceived", "MessageSent", "DeviationRecorded"})

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> Batch:
        started = {ev.pathway_id for ev in events if ev.kind == "Started"}
        wanted = [p for p in pathway_ids(events) if p not in started]
        return Batch(HEADER.load(tx, wanted) if wanted else {})

    def flush(self, tx: Tx, batch: Batch) -> None:
        HEADER.upsert(tx, [batch.headers[p] for p in batch.touched])
        STEPS.insert(tx, batch.steps)

    def _header(self, batch: Batch, ev: Event) -> dict[str, Any]:
        return batch.headers[ev.pathway_id]  # KeyError: an event of a pathway that never started

    def _learn(self, batch: Batch, ev: Event, values: dict[str, Any]) -> dict[str, Any]:
        header = self._header(batch, ev)
        for key in ("coi", "order_id", "manufacturer"):
            if header[key] is None and values.get(key):
                header[key] = values[key]
                batch.touched.add(ev.pathway_id)
        return header

    def _add(self, batch: Batch, ev: Event, step: str, at: Any, place: str | None, expected: str | None,
             scanned: list[str], data: dict[str, Any]) -> None:
        batch.steps.append({
            "pathway_id": ev.pathway_id, "seq": ev.version, "step": step, "at": utc(at) or ev.at,
            "recorded_at": ev.at, "place": place, "actor": actor_of(ev.data), "coi_expected": expected,
            "coi_scanned": ",".join(scanned) if scanned else None, "coi_result": coi_result(expected, scanned),
            "data": to_json(data)})

    def on_Started(self, batch: Batch, ev: Event) -> None:
        if ev.pathway_id in batch.headers:
            raise ValueError(f"pathway {ev.pathway_id} started twice")
        batch.headers[ev.pathway_id] = {"pathway_id": ev.pathway_id, "center": ev.data["start"]["center"],
                                        "coi": None, "order_id": None, "manufacturer": None}
        batch.touched.add(ev.pathway_id)

    def on_MessageSent(self, batch: Batch, ev: Event) -> None:
        payload = ev.data.get("payload") or {}
        header = self._learn(batch, ev, payload)
        if ev.data["name"] == "product_quarantined":
            scanned = [str(payload["coi"])] if payload.get("coi") else []
            self._add(batch, ev, "quarantined", None, f"{header['center']}/pharmacy", header["coi"], scanned,
                      {**payload, "message_id": ev.data.get("message_id")})

    def on_TaskCompleted(self, batch: Batch, ev: Event) -> None:
        d = ev.data
        data = d.get("data") or {}
        header = self._learn(batch, ev, data if d["name"] == "place_order" else {})
        for step, time_field, scan_fields, where in TASK_HANDOFFS.get(d["name"], ()):
            scanned = [str(data[f]) for f in scan_fields if data.get(f) is not None]
            if where == "courier":
                place = f"courier:{data.get('courier') or data.get('shipper_id') or 'unknown'}"
            elif where == "storage":
                place = f"{header['center']}/pharmacy:{data.get('storage_location') or 'unknown'}"
            else:
                place = f"{header['center']}/{where}"
            self._add(batch, ev, step, data.get(time_field) if time_field else None, place, header["coi"], scanned,
                      data)
        if d["name"] == "product_disposition" and data.get("disposition") in DISPOSITIONS:
            where = ((header["manufacturer"] or "manufacturer") if data["disposition"] == "returned_to_manufacturer"
                     else f"{header['center']}/pharmacy")
            self._add(batch, ev, data["disposition"], data.get("at"), where, header["coi"], [], data)

    def on_DeviationRecorded(self, batch: Batch, ev: Event) -> None:
        # Recorded in the same save as the completion it is about: its time is that command's.
        header = self._header(batch, ev)
        self._add(batch, ev, "deviation", None, f"{header['center']}/ward", header["coi"], [],
                  {k: ev.data[k] for k in DEVIATION_FIELDS if ev.data.get(k) is not None})

    def on_MessageReceived(self, batch: Batch, ev: Event) -> None:
        d = ev.data
        correlation = d.get("correlation") or {}
        header = self._header(batch, ev)
        expected = header["coi"]  # what the pathway knew before this message
        self._learn(batch, ev, correlation)
        handoff = MESSAGE_HANDOFFS.get(d["name"])
        if handoff is None:
            return
        step, time_field, where = handoff
        payload = d.get("payload") or {}
        manufacturer = header["manufacturer"] or (d.get("actor") or {}).get("org") or "manufacturer"
        place = f"courier:{payload.get('shipper_id') or 'unknown'}" if where == "courier" else manufacturer
        scanned = [correlation["coi"]] if correlation.get("coi") else []
        self._add(batch, ev, step, payload.get(time_field) if time_field else None, place, expected, scanned,
                  {**payload, "message_id": d.get("message_id")})
