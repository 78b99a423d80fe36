"""How the API shows pathways, tasks and events (plain dicts; the schemas document them)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Response, current_app

from cartpath.engine.application import CartPath
from cartpath.engine.incidents import public_incident
from cartpath.engine.pathway import Pathway
from cartpath.engine.records import history_item, task_view
from cartpath.projections.directory import PathwayEntry, ReadyTask

POSITION_HEADER = "X-Cartpath-Position"


def engine() -> CartPath:
    return current_app.extensions["cartpath"]


def pathway_view(app: CartPath, pathway: Pathway) -> dict[str, Any]:
    model = app.model(pathway.definition["key"], pathway.definition["version"])
    cancellation = None
    if pathway.cancellation:
        c = pathway.cancellation
        cancellation = {"reason": c["reason"], "comment": c.get("comment"), "at": c.get("at"),
                        "by": (c.get("by") or {}).get("sub")}
        if c.get("death_date") is not None or c.get("death_cause") is not None:
            cancellation.update(death_date=c.get("death_date"), death_cause=c.get("death_cause"))
    return {
        "id": str(pathway.id), "business_key": pathway.business_key, "status": status_of(pathway),
        "outcome": pathway.outcome, "definition": dict(pathway.definition), "patient_ref": pathway.patient_ref,
        "center": pathway.center, "indication": pathway.indication, "product": pathway.product,
        "started_at": pathway.started_at, "ended_at": pathway.ended_at, "cancellation": cancellation,
        "correlation": {k: v for k, v in pathway.correlation.items() if v is not None},
        "tasks": [public_task(task_view(pathway, ready, model)) for ready in pathway.ready.values()],
        "waiting": [{"kind": w["kind"], "name": w["name"], "due_at": w.get("due_at"),
                     **({"title": w.get("title") or w["name"]} if w["kind"] == "timer" else {})}
                    for w in pathway.waiting.values()],
        "data": pathway.data, "version": pathway.version, "incident": public_incident(pathway.incident),
        "corrections": [correction_view(pathway, c) for c in pathway.corrections],
    }


def status_of(pathway: Pathway) -> str:
    """``active``, ``ended``, or ``incident``: active but stopped until its open incident is retried."""
    return "incident" if pathway.status == "active" and pathway.incident is not None else pathway.status


def correction_view(pathway: Pathway, c: dict[str, Any]) -> dict[str, Any]:
    """One correction as the API shows it: who by id (never a name), the public task id."""
    return {"task_id": f"{pathway.id}:{c['task_id']}", "task": c["task"], "field": c["field"], "value": c["value"],
            "original": c["original"], "reason": c["reason"], "by": (c.get("by") or {}).get("sub"), "at": c["at"],
            "decided_on_corrected_data": c["decided_on_corrected_data"]}


def public_task(view: dict[str, Any]) -> dict[str, Any]:
    """The engine's task view without its internal half-id (the public id is `<pathway>:<task>`)."""
    return {k: v for k, v in view.items() if k != "task_id"}


def listed_task(app: CartPath, entry: PathwayEntry, task: ReadyTask) -> dict[str, Any]:
    model = app.model(entry.definition["key"], entry.definition["version"])
    shell = SimpleNamespace(id=entry.id, center=entry.center, patient_ref=entry.patient_ref)
    ready = {"id": task.task_id, "name": task.name, "lane": task.lane, "title": task.title,
             "ready_since": task.ready_since, "due_at": task.due_at}
    return public_task(task_view(shell, ready, model))  # type: ignore[arg-type]  # it reads only these three


def summary(entry: PathwayEntry) -> dict[str, Any]:
    return {"id": str(entry.id), "position": entry.position, "business_key": entry.business_key,
            "patient_ref": entry.patient_ref, "center": entry.center, "indication": entry.indication,
            "product": entry.product, "definition": entry.definition, "status": entry.status,
            "outcome": entry.outcome, "started_at": entry.started_at, "ended_at": entry.ended_at}


def feed_item(position: int, ev) -> dict[str, Any]:
    item = history_item(ev)
    item.update(position=position, pathway_id=str(ev.originator_id), version=ev.originator_version)
    return item


def with_position(response: Response, position: int | None) -> Response:
    """Every write says where it landed in the log, so readers of projections can wait for it.
    A write that recorded nothing (an idempotent repeat) gives the current end of the log."""
    if position is None:
        position = engine().recorder.max_notification_id() or 0
    response.headers[POSITION_HEADER] = str(position)
    return response
