"""Plain views of the write model for callers (API, CLI): events and ready tasks."""
from __future__ import annotations

from typing import Any

from . import signatures
from .definitions import ProcessModel
from .pathway import INPUT_EVENTS, Pathway

# attribute names that are Python keywords, and their public names (Migrated's ``from``)
_PUBLIC_NAMES = {"from_": "from"}


def event_record(ev) -> dict[str, Any]:
    data = {_PUBLIC_NAMES.get(k, k): v for k, v in ev.__dict__.items()
            if k not in ("originator_id", "originator_version", "timestamp")}
    return {
        "version": ev.originator_version,
        "type": type(ev).__name__,
        "recorded_at": ev.timestamp,
        "at": data.get("at"),
        "actor": data.get("actor"),
        "kind": "input" if type(ev).__name__ in INPUT_EVENTS else "outcome",
        "data": data,
    }


def history_item(ev) -> dict[str, Any]:
    """One event as the API's history shows it (and the CLI prints it): ``position`` is its number
    in the pathway (1 first); ``at`` and ``actor`` are lifted out of ``data``."""
    record = event_record(ev)
    data = {k: v for k, v in record["data"].items() if k not in ("at", "actor")}
    return {"position": record["version"], "type": record["type"], "kind": record["kind"], "at": record["at"],
            "recorded_at": record["recorded_at"], "actor": record["actor"], "data": data}


def history_items(events) -> list[dict[str, Any]]:
    """A pathway's events as ``history_item``s, each naming the version of the process in force
    (``definition_version``): the one it started on, then the one each ``Migrated`` moved it to.
    An auditor reads which version decided each step without replaying anything."""
    items, version = [], None
    for ev in events:
        name = type(ev).__name__
        if name == "Started":
            version = ev.definition.get("version")
        elif name == "Migrated":
            version = ev.to.get("version")
        items.append(dict(history_item(ev), definition_version=version))
    return items


def task_view(pathway: Pathway, ready: dict[str, Any], model: ProcessModel) -> dict[str, Any]:
    form = model.forms.get(ready["name"])
    return {
        "id": f"{pathway.id}:{ready['id']}", "task_id": ready["id"], "pathway_id": str(pathway.id),
        "name": ready["name"], "lane": ready["lane"], "title": ready["title"],
        "center": pathway.center, "patient_ref": pathway.patient_ref,
        "ready_since": ready["ready_since"], "due_at": ready.get("due_at"),
        "signed": bool(form and form.signed),
        "signatures_required": signatures.required_roles(form),
        "countersign_role": form.countersign if form is not None and form.signed else None,
        "fields": form.describe() if form is not None else [],
    }
