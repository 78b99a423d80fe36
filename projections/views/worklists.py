"""Ready tasks, per lane and centre: the coordinating nurse's and the pharmacy's worklists.

A row exists while its task is ready: ``TaskBecameReady`` adds it; completion,
withdrawal, a wait ending or the pathway ending remove it. The deadline is the
one the engine recorded on ``TaskBecameReady`` (``due_at``): the view never reads the model.
"""
from __future__ import annotations

from typing import Any

from ..log import Event
from ..store import Tx
from ..times import utc
from .base import Context, Table, View

HEADER = Table("view_worklist_pathways", ("pathway_id", "process_key", "process_version", "center", "patient_ref"),
               ("pathway_id",))
TASKS = Table("view_worklist", ("pathway_id", "task_id", "name", "lane", "title", "center", "patient_ref",
                                "ready_since", "due_at"), ("pathway_id", "task_id"))


class Batch:
    def __init__(self, ctx: Context, headers: dict[str, dict[str, Any]]):
        self.ctx = ctx
        self.headers = headers
        self.new_headers: dict[str, dict[str, Any]] = {}
        self.ended: set[str] = set()
        self.ready: dict[str, dict[str, dict[str, Any]]] = {}  # pathway -> task -> row
        self.gone: set[tuple[str, str]] = set()
        self.moved: dict[str, int] = {}  # pathway -> the version it was migrated to


class WorklistsView(View):
    name = "worklists"
    version = 1
    tables = ("view_worklist_pathways", "view_worklist")
    ddl = (
        "CREATE TABLE IF NOT EXISTS view_worklist_pathways (pathway_id TEXT PRIMARY KEY, process_key TEXT, "
        "process_version BIGINT, center TEXT, patient_ref TEXT)",
        "CREATE TABLE IF NOT EXISTS view_worklist (pathway_id TEXT NOT NULL, task_id TEXT NOT NULL, name TEXT, "
        "lane TEXT, title TEXT, center TEXT, patient_ref TEXT, ready_since TEXT, due_at TEXT, "
        "PRIMARY KEY (pathway_id, task_id))",
        "CREATE INDEX IF NOT EXISTS view_worklist_lane ON view_worklist (center, lane, ready_since)",
    )
    kinds = frozenset({"Started", "TaskBecameReady", "TaskCompleted", "TaskWithdrawn", "WaitEnded", "PathwayEnded",
                       "Migrated"})

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> Batch:
        started = {ev.pathway_id for ev in events if ev.kind == "Started"}
        wanted = {ev.pathway_id for ev in events if ev.kind == "TaskBecameReady"} - started
        return Batch(ctx, HEADER.load(tx, wanted) if wanted else {})

    def flush(self, tx: Tx, batch: Batch) -> None:
        TASKS.delete(tx, batch.gone)
        tx.executemany("DELETE FROM view_worklist WHERE pathway_id = ?", [(p,) for p in batch.ended])
        tx.executemany("DELETE FROM view_worklist_pathways WHERE pathway_id = ?", [(p,) for p in batch.ended])
        HEADER.insert(tx, batch.new_headers.values())
        tx.executemany("UPDATE view_worklist_pathways SET process_version = ? WHERE pathway_id = ?",
                       [(v, p) for p, v in batch.moved.items() if p not in batch.ended])
        TASKS.insert(tx, [row for tasks in batch.ready.values() for row in tasks.values()])

    def on_Started(self, batch: Batch, ev: Event) -> None:
        d = ev.data
        header = {"pathway_id": ev.pathway_id, "process_key": d["definition"]["key"],
                  "process_version": d["definition"]["version"], "center": d["start"]["center"],
                  "patient_ref": d["start"]["patient_ref"]}
        batch.headers[ev.pathway_id] = batch.new_headers[ev.pathway_id] = header

    def on_TaskBecameReady(self, batch: Batch, ev: Event) -> None:
        header = batch.headers[ev.pathway_id]  # KeyError: a task of a pathway that never started
        d = ev.data
        ready_since = ev.at
        batch.ready.setdefault(ev.pathway_id, {})[d["task_id"]] = {
            "pathway_id": ev.pathway_id, "task_id": d["task_id"], "name": d["name"], "lane": d.get("lane"),
            "title": d.get("title"), "center": header["center"], "patient_ref": header["patient_ref"],
            "ready_since": ready_since, "due_at": utc(d.get("due_at"))}

    def _gone(self, batch: Batch, ev: Event) -> None:
        task_id = ev.data["task_id"]
        if batch.ready.get(ev.pathway_id, {}).pop(task_id, None) is None:
            batch.gone.add((ev.pathway_id, task_id))

    on_TaskCompleted = on_TaskWithdrawn = on_WaitEnded = _gone

    def on_Migrated(self, batch: Batch, ev: Event) -> None:
        version = ev.data["to"]["version"]
        batch.moved[ev.pathway_id] = version
        if ev.pathway_id in batch.headers:
            batch.headers[ev.pathway_id]["process_version"] = version

    def on_PathwayEnded(self, batch: Batch, ev: Event) -> None:
        batch.ready.pop(ev.pathway_id, None)
        batch.new_headers.pop(ev.pathway_id, None)
        batch.headers.pop(ev.pathway_id, None)
        batch.ended.add(ev.pathway_id)
