"""The auditor's timeline: every step of a pathway, in order, with who, when ready, when done.

A step is opened by the event that starts it (a task becoming ready, a timer
armed, a message awaited) and closed by the one that ends it (completed,
withdrawn, wait ended); one-off steps (start, messages in and out, decisions,
cancellation, end) open and close at once. ``seq`` is the version of the
opening event, so the order is the pathway's own order.
"""
from __future__ import annotations

from typing import Any

from ..log import Event
from ..store import Tx
from .base import Context, Table, View, actor_of, to_json

COLUMNS = ("pathway_id", "seq", "kind", "name", "lane", "title", "actor", "ready_at", "done_at", "how",
           "task_id", "data")
TABLE = Table("view_timeline", COLUMNS, ("pathway_id", "seq"))
# Closing finds the step by its pathway (primary key prefix: a pathway's few hundred rows at
# most), which costs less than keeping a second index on task_id.
CLOSE_SQL = ("UPDATE view_timeline SET done_at = ?, how = ?, actor = COALESCE(?, actor), data = COALESCE(?, data) "
             "WHERE pathway_id = ? AND task_id = ? AND done_at IS NULL")
# inputs with an actor
INPUTS = frozenset({"Started", "TaskCompleted", "MessageReceived", "Cancelled", "TaskCorrected", "Migrated"})
END_SQL = "UPDATE view_timeline SET done_at = ?, how = 'ended' WHERE pathway_id = ? AND done_at IS NULL"


# Event fields that are not the step's data (the step has its own time and actor).
_NOT_CANCEL_DATA = frozenset({"at", "actor", "timestamp", "originator_id", "originator_version", "class_version"})
# Positions in a row (rows are lists in TABLE's column order until written).
ACTOR, DONE_AT, HOW, DATA = 6, 8, 9, 11


class Steps:
    def __init__(self) -> None:
        self.new: list[list[Any]] = []
        # An event-based gateway waits for several messages and a timer under one task id.
        self.open: dict[tuple[str, str], list[list[Any]]] = {}
        self.closes: list[tuple] = []
        self.ends: list[tuple] = []
        # Pathways whose current command began in this batch: a step they open now cannot have
        # siblings (same task id) in earlier batches, so closing it needs no UPDATE.
        self.commands: set[str] = set()
        self.whole: set[tuple[str, str]] = set()


class TimelineView(View):
    name = "timeline"
    # 3: tasks carry their recorded due_at; 4: timers carry a title; 5: DeviationRecorded steps;
    # 6: corrections
    version = 6
    tables = ("view_timeline",)
    ddl = (
        "CREATE TABLE IF NOT EXISTS view_timeline (pathway_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, "
        "name TEXT, lane TEXT, title TEXT, actor TEXT, ready_at TEXT, done_at TEXT, how TEXT, task_id TEXT, "
        "data TEXT, PRIMARY KEY (pathway_id, seq)) WITHOUT ROWID",
    )
    kinds = frozenset({"Started", "TaskBecameReady", "TaskCompleted", "TaskWithdrawn", "TimerArmed",
                       "MessageAwaited", "WaitEnded", "MessageReceived", "MessageSent", "NodeCompleted",
                       "Cancelled", "PathwayEnded", "TimersFired", "DeviationRecorded", "TaskCorrected", "Migrated"})

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> Steps:
        return Steps()

    def flush(self, tx: Tx, steps: Steps) -> None:
        tx.executemany(TABLE.insert_sql, steps.new)  # a plain INSERT: a step applied twice fails loudly
        # A pathway's own closes come before its end (event order), so all closes, then all ends.
        tx.executemany(CLOSE_SQL, steps.closes)
        tx.executemany(END_SQL, steps.ends)

    # -- opening and closing -------------------------------------------------------------
    def _step(self, steps: Steps, ev: Event, kind: str, name: str | None = None, lane: str | None = None,
              title: str | None = None, task_id: str | None = None, data: Any = None, instant: bool = True) -> None:
        at = ev.data["at"]
        if ev.kind in INPUTS:
            actor = actor_of(ev.data)
            steps.commands.add(ev.pathway_id)
        else:
            actor = None
        row = [ev.pathway_id, ev.version, kind, name, lane, title, actor, at, at if instant else None, None, task_id,
               None if data is None else to_json(data)]
        steps.new.append(row)
        if not instant:
            key = (ev.pathway_id, task_id)
            steps.open.setdefault(key, []).append(row)  # type: ignore[arg-type]  # a waiting step has its task id
            if ev.pathway_id in steps.commands:
                steps.whole.add(key)  # type: ignore[arg-type]

    def _close(self, steps: Steps, ev: Event, how: str, data: Any = None) -> None:
        d = ev.data
        at, key = d["at"], (ev.pathway_id, d["task_id"])
        if ev.kind in INPUTS:
            actor = actor_of(d)
            steps.commands.add(ev.pathway_id)
        else:
            actor = None
        encoded = None if data is None else to_json(data)
        rows = steps.open.pop(key, None)
        if rows is None or key not in steps.whole:
            # (Some) rows are in earlier batches: the UPDATE closes every open row of the task id.
            steps.closes.append((at, how, actor, encoded, ev.pathway_id, d["task_id"]))
        for row in rows or ():
            row[DONE_AT], row[HOW] = at, how
            if actor is not None:
                row[ACTOR] = actor
            if encoded is not None:
                row[DATA] = encoded

    # -- events ------------------------------------------------------------------------
    def on_Started(self, steps: Steps, ev: Event) -> None:
        d = ev.data
        self._step(steps, ev, "started", name=d["definition"]["key"],
                   data={"definition": d["definition"], "start": d["start"], "business_key": d.get("business_key")})

    def on_TaskBecameReady(self, steps: Steps, ev: Event) -> None:
        d = ev.data
        self._step(steps, ev, "task", name=d["name"], lane=d.get("lane"), title=d.get("title"), task_id=d["task_id"],
                   instant=False)

    def on_TaskCompleted(self, steps: Steps, ev: Event) -> None:
        self._close(steps, ev, "completed", ev.data.get("data"))

    def on_TaskCorrected(self, steps: Steps, ev: Event) -> None:
        # A correction is a step of its own, right where it was made: the completed step keeps the original.
        d = ev.data
        self._step(steps, ev, "correction", name=d.get("task"), data={
            k: d.get(k) for k in ("task_id", "field", "value", "original", "reason", "decided_on_corrected_data")})

    def on_TaskWithdrawn(self, steps: Steps, ev: Event) -> None:
        self._close(steps, ev, "withdrawn")

    def on_TimerArmed(self, steps: Steps, ev: Event) -> None:
        d = ev.data
        self._step(steps, ev, "timer", name=d.get("node_id"), title=d.get("title") or d.get("node_id"),
                   task_id=d["task_id"], data={"due_at": d.get("due_at")}, instant=False)

    def on_MessageAwaited(self, steps: Steps, ev: Event) -> None:
        d = ev.data
        self._step(steps, ev, "wait", name=d.get("message"), lane="manufacturer", task_id=d["task_id"],
                   data={"node_id": d.get("node_id")}, instant=False)

    def on_WaitEnded(self, steps: Steps, ev: Event) -> None:
        self._close(steps, ev, ev.data.get("how") or "ended")

    def on_MessageReceived(self, steps: Steps, ev: Event) -> None:
        d = ev.data
        self._step(steps, ev, "message_in", name=d["name"], lane="manufacturer",
                   data={"message_id": d.get("message_id"), "correlation": d.get("correlation"),
                         "payload": d.get("payload"), "delivered": d.get("delivered")})

    def on_MessageSent(self, steps: Steps, ev: Event) -> None:
        d = ev.data
        self._step(steps, ev, "message_out", name=d["name"], lane="manufacturer",
                   data={"message_id": d.get("message_id"), "payload": d.get("payload")})

    def on_NodeCompleted(self, steps: Steps, ev: Event) -> None:
        # Gateways and plain flow nodes are engine mechanics; decisions are clinical facts.
        result = ev.data.get("result")
        if result:
            self._step(steps, ev, "decision", name=ev.data.get("node_id"), data=result)

    def on_Cancelled(self, steps: Steps, ev: Event) -> None:
        # Every field the cancel recorded (v2: death_date, death_cause), whatever its version.
        self._step(steps, ev, "cancelled", name=ev.data.get("reason"),
                   data={k: v for k, v in ev.data.items() if k not in _NOT_CANCEL_DATA})

    def on_DeviationRecorded(self, steps: Steps, ev: Event) -> None:
        # A clinical limit passed with a reason: the auditor sees it right after the completion.
        self._step(steps, ev, "deviation", name=ev.data.get("kind"),
                   data={k: v for k, v in ev.data.items() if k not in _NOT_CANCEL_DATA and v is not None})

    def on_Migrated(self, steps: Steps, ev: Event) -> None:
        # The move to another version, with who and why: the steps after it follow that version.
        d = ev.data
        self._step(steps, ev, "migrated", name=d["to"]["key"],
                   data={"from": d["from_"], "to": d["to"], "mapping": d.get("mapping"), "reason": d.get("reason")})

    def on_TimersFired(self, steps: Steps, ev: Event) -> None:
        steps.commands.add(ev.pathway_id)  # an input: the timer's own step closes on WaitEnded

    def on_PathwayEnded(self, steps: Steps, ev: Event) -> None:
        # Whatever the pathway still waited for ends with it.
        at = ev.at
        for key in [k for k in steps.open if k[0] == ev.pathway_id]:
            for row in steps.open.pop(key):
                row[DONE_AT], row[HOW] = at, "ended"
        steps.ends.append((at, ev.pathway_id))
        self._step(steps, ev, "ended", name=ev.data.get("outcome"), data={"end_node": ev.data.get("end_node")})
