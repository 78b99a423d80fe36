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
from ..times import utc
from .base import Context, Table, View, actor_of, to_json

COLUMNS = ("pathway_id", "seq", "kind", "name", "lane", "title", "actor", "ready_at", "done_at", "how",
           "task_id", "data")
TABLE = Table("view_timeline", COLUMNS, ("pathway_id", "seq"))
# Closing finds the step by its pathway (primary key prefix: a pathway's few hundred rows at
# most), which costs less than keeping a second index on task_id.
CLOSE_SQL = ("UPDATE view_timeline SET done_at = ?, how = ?, actor = COALESCE(?, actor), data = COALESCE(?, data) "
             "WHERE pathway_id = ? AND task_id = ? AND done_at IS NULL")
END_SQL = "UPDATE view_timeline SET done_at = ?, how = 'ended' WHERE pathway_id = ? AND done_at IS NULL"


def _json(value: Any) -> str | None:
    return None if value is None else to_json(value)


class Steps:
    def __init__(self) -> None:
        self.new: list[dict[str, Any]] = []
        # An event-based gateway waits for several messages and a timer under one task id.
        self.open: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.closes: list[tuple[str, tuple]] = []  # (statement, parameters), in event order


class TimelineView(View):
    name = "timeline"
    version = 2
    tables = ("view_timeline",)
    ddl = (
        "CREATE TABLE IF NOT EXISTS view_timeline (pathway_id TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, "
        "name TEXT, lane TEXT, title TEXT, actor TEXT, ready_at TEXT, done_at TEXT, how TEXT, task_id TEXT, "
        "data TEXT, PRIMARY KEY (pathway_id, seq)) WITHOUT ROWID",
    )
    kinds = frozenset({"Started", "TaskBecameReady", "TaskCompleted", "TaskWithdrawn", "TimerArmed",
                       "MessageAwaited", "WaitEnded", "MessageReceived", "MessageSent", "NodeCompleted",
                       "Cancelled", "PathwayEnded"})

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> Steps:
        return Steps()

    def flush(self, tx: Tx, steps: Steps) -> None:
        TABLE.insert(tx, steps.new)  # a plain INSERT: a step applied twice fails loudly
        # In event order; runs of the same statement go together (executemany).
        run: list[tuple] = []
        for index, (sql, params) in enumerate(steps.closes):
            run.append(params)
            if index + 1 == len(steps.closes) or steps.closes[index + 1][0] != sql:
                tx.executemany(sql, run)
                run = []

    # -- opening and closing -------------------------------------------------------------
    def _step(self, steps: Steps, ev: Event, kind: str, *, name: str | None = None, lane: str | None = None,
              title: str | None = None, task_id: str | None = None, data: Any = None, instant: bool = True) -> None:
        at = utc(ev.at)
        row = {"pathway_id": ev.pathway_id, "seq": ev.version, "kind": kind, "name": name, "lane": lane,
               "title": title, "actor": actor_of(ev.data), "ready_at": at, "done_at": at if instant else None,
               "how": None, "task_id": task_id, "data": _json(data)}
        steps.new.append(row)
        if task_id is not None and not instant:
            steps.open.setdefault((ev.pathway_id, task_id), []).append(row)

    def _close(self, steps: Steps, ev: Event, how: str, data: Any = None) -> None:
        at, actor, key = utc(ev.at), actor_of(ev.data), (ev.pathway_id, ev.data["task_id"])
        rows = steps.open.pop(key, None)
        # Rows of earlier batches (the SQL closes every open row of the task id, as here).
        steps.closes.append((CLOSE_SQL, (at, how, actor, _json(data), ev.pathway_id, ev.data["task_id"])))
        for row in rows or ():
            row.update(done_at=at, how=how)
            if actor is not None:
                row["actor"] = actor
            if data is not None:
                row["data"] = _json(data)

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

    def on_TaskWithdrawn(self, steps: Steps, ev: Event) -> None:
        self._close(steps, ev, "withdrawn")

    def on_TimerArmed(self, steps: Steps, ev: Event) -> None:
        d = ev.data
        self._step(steps, ev, "timer", name=d.get("node_id"), task_id=d["task_id"], data={"due_at": d.get("due_at")},
                   instant=False)

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
        self._step(steps, ev, "cancelled", name=ev.data.get("reason"),
                   data={"reason": ev.data.get("reason"), "comment": ev.data.get("comment")})

    def on_PathwayEnded(self, steps: Steps, ev: Event) -> None:
        # Whatever the pathway still waited for ends with it.
        at = utc(ev.at)
        for key in [k for k in steps.open if k[0] == ev.pathway_id]:
            for row in steps.open.pop(key):
                row.update(done_at=at, how="ended")
        steps.closes.append((END_SQL, (at, ev.pathway_id)))
        self._step(steps, ev, "ended", name=ev.data.get("outcome"), data={"end_node": ev.data.get("end_node")})
