"""Where the pathways of one process are, node by node: how many wait at each task, timer or message
now, and how long each node held the pathways that went through it (median and p90, days). Read from
the timeline and pathways views; aggregates only (no patient appears). The process page draws it on
the diagram as a heatmap with count badges."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .stats import durations
from .times import days_between, utc

NODE_KINDS = ("task", "timer", "wait")
STEP_COLUMNS = ("kind", "name", "ready_at", "done_at", "how", "data", "status", "pathway_id")


def node_of(kind: str, name: str | None, data: str | None) -> str | None:
    """The BPMN element a step belongs to: a task's or timer's id; a message wait's catch event (its
    node_id), else the message's name."""
    if kind == "wait" and data:
        try:
            node = json.loads(data).get("node_id")
        except (ValueError, AttributeError):
            node = None
        if node:
            return str(node)
    return name


def report(rows: list[dict[str, Any]], *, now: datetime, filters: dict[str, Any]) -> dict[str, Any]:
    now_iso = utc(now)
    held: dict[str, list[float | None]] = {}
    waiting: dict[str, list[float | None]] = {}
    kinds: dict[str, str] = {}
    pathways: set[str] = set()
    for r in rows:
        node = node_of(r["kind"], r["name"], r["data"])
        if node is None:
            continue
        pathways.add(r["pathway_id"])
        kinds.setdefault(node, r["kind"])
        if r["done_at"] is not None:
            if r["how"] != "withdrawn":
                held.setdefault(node, []).append(days_between(r["ready_at"], r["done_at"]))
        elif r["status"] == "active":
            waiting.setdefault(node, []).append(days_between(r["ready_at"], now_iso))
    nodes = []
    for node in sorted(set(held) | set(waiting)):
        nodes.append({"node": node, "kind": kinds[node], "now": len(waiting.get(node, ())),
                      "waiting_now": durations(waiting.get(node, ())),
                      "held": durations(held.get(node, ()), reason="completed before it was ready")})
    return {"filters": filters, "now": now_iso, "pathways": len(pathways), "nodes": nodes,
            "definitions": {
                "now": "pathways at the node now (a ready task, an armed timer, an awaited message) among active ones",
                "waiting_now": "how long those have been there so far, days",
                "held": "ready (or armed, or awaited) to done, days, of the steps that were done (withdrawn ones "
                        "are left out: the pathway went another way)"}}
