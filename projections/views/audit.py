"""The auditor's event index: one row per pathway event, across pathways, in log order.

It holds what an auditor filters and reads (``GET /api/v1/audit/events``): the log position,
pathway, patient_ref and centre, the event's type and recorded time, who recorded it (the
actor's subject and roles; the engine's outcomes have none), the reason a person gave
where the event has one, and a one-line summary (``projections/event_text.py``). Every
event class of the Pathway aggregate is indexed, including those added later (a
correction, an incident), read by their fields. Filtering by actor or type uses an index;
the rest scan in log order from the cursor.
"""
from __future__ import annotations

from typing import Any

from .. import event_text
from ..log import EVENT_KINDS, Event
from ..store import Tx
from .base import Context, Table, View, pathway_ids, to_json

HEADER = Table("view_audit_pathways", ("pathway_id", "center", "patient_ref"), ("pathway_id",))
COLUMNS = ("position", "pathway_id", "version", "type", "at", "actor_sub", "actor", "center", "patient_ref", "why",
           "summary")
EVENTS = Table("view_audit_events", COLUMNS, ("position",))


class Batch:
    def __init__(self, headers: dict[str, dict[str, Any]]):
        self.headers = headers
        self.new_headers: list[dict[str, Any]] = []
        self.rows: list[tuple] = []


class AuditView(View):
    name = "audit"
    version = 1
    tables = ("view_audit_pathways", "view_audit_events")
    ddl = (
        "CREATE TABLE IF NOT EXISTS view_audit_pathways (pathway_id TEXT PRIMARY KEY, center TEXT NOT NULL, "
        "patient_ref TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS view_audit_events (position BIGINT PRIMARY KEY, pathway_id TEXT NOT NULL, "
        "version BIGINT NOT NULL, type TEXT NOT NULL, at TEXT NOT NULL, actor_sub TEXT, actor TEXT, "
        "center TEXT NOT NULL, patient_ref TEXT NOT NULL, why TEXT, summary TEXT NOT NULL)",
        # the two selective filters; centre and time bounds scan in position order
        "CREATE INDEX IF NOT EXISTS view_audit_events_actor ON view_audit_events (actor_sub, position)",
        "CREATE INDEX IF NOT EXISTS view_audit_events_type ON view_audit_events (type, position)",
    )
    kinds = frozenset(EVENT_KINDS)

    def __init__(self) -> None:
        # one handler for every kind: events are read by their fields, whatever their class
        self._handlers = {kind: self._record for kind in self.kinds}

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> Batch:
        started = {ev.pathway_id for ev in events if ev.kind == "Started"}
        wanted = [p for p in pathway_ids(events) if p not in started]
        return Batch(HEADER.load(tx, wanted) if wanted else {})

    def flush(self, tx: Tx, batch: Batch) -> None:
        HEADER.insert(tx, batch.new_headers)  # a plain INSERT: a pathway started twice fails loudly
        tx.executemany(EVENTS.insert_sql, batch.rows)

    def _record(self, batch: Batch, ev: Event) -> None:
        d = ev.data
        if ev.kind == "Started":
            header = {"pathway_id": ev.pathway_id, "center": d["start"]["center"],
                      "patient_ref": d["start"]["patient_ref"]}
            batch.headers[ev.pathway_id] = header
            batch.new_headers.append(header)
        header = batch.headers[ev.pathway_id]  # KeyError: an event of a pathway that never started
        who = event_text.actor(d)
        batch.rows.append((ev.position, ev.pathway_id, ev.version, ev.kind, ev.at, who and who["sub"],
                           who and to_json(who), header["center"], header["patient_ref"],
                           event_text.why(ev.kind, d), event_text.summary(ev.kind, d)))
