"""What changed in the user task forms (``cartpath:form``) between two versions.

SpiffWorkflow does not read cartpath's extension elements, so its spec diff cannot see
a field that became required; this compares the parsed ``TaskForm``s field by field.
Each change is one item with a sentence, e.g.
``Task 'Thaw and dispense product' (thaw_product): field 'thaw_ended_at' is now required``.
"""
from __future__ import annotations

import re
from typing import Any

from .forms import FormField, TaskForm


def diff_forms(old: dict[str, TaskForm], new: dict[str, TaskForm], alignment: dict[str, str | None],
               titles: dict[str, str]) -> list[dict[str, Any]]:
    """Changes of the forms of the user tasks present in both versions (``alignment``: old id -> new id)."""
    out: list[dict[str, Any]] = []
    for task in sorted(old):
        target = alignment.get(task, task)
        if target is None or target not in new:
            continue  # a removed task: the node diff says so
        title = titles.get(target, target)
        said = f"Task {task}" if title == task else f"Task '{title}' ({task})"
        for change in _diff_form(old[task], new[target]):
            text = change.pop("text")
            out.append({"task": task, "task_name": title, **change, "sentence": f"{said}: {text}"})
    return out


def _diff_form(old: TaskForm, new: TaskForm) -> list[dict[str, Any]]:
    changes = []
    before = {f.name: f for f in old.fields}
    after = {f.name: f for f in new.fields}
    for name, spec in after.items():
        if name not in before:
            need = "required" if spec.required and spec.default is None else "optional"
            changes.append(_change(name, "field_added", None, spec.describe(),
                                   f"new {need} field '{name}' ({_type(spec)})"))
    for name, spec in before.items():
        if name not in after:
            changes.append(_change(name, "field_removed", spec.describe(), None, f"field '{name}' removed"))
        else:
            changes += _diff_field(spec, after[name])
    if old.signed != new.signed:
        changes.append(_change(None, "signed", old.signed, new.signed,
                               "now needs an electronic signature" if new.signed else "no longer needs a signature"))
    for field in sorted(set(new.coi_checks) - set(old.coi_checks)):
        changes.append(_change(field, "coi_check_added", False, True, f"now checks the COI in field '{field}'"))
    for field in sorted(set(old.coi_checks) - set(new.coi_checks)):
        changes.append(_change(field, "coi_check_removed", True, False,
                               f"no longer checks the COI in field '{field}'"))
    if old.due != new.due:
        changes.append(_change(None, "due", old.due, new.due, f"due within {_due(old.due)} -> {_due(new.due)}"))
    return changes


def _diff_field(old: FormField, new: FormField) -> list[dict[str, Any]]:
    name = new.name
    changes = []
    if old.type != new.type:
        changes.append(_change(name, "type", _type(old), _type(new),
                               f"field '{name}' is now {_type(new)} (was {_type(old)})"))
    elif old.values != new.values:
        added = [v for v in new.values if v not in old.values]
        removed = [v for v in old.values if v not in new.values]
        parts = ([f"values added: {', '.join(added)}"] if added else []) + (
            [f"values removed: {', '.join(removed)}"] if removed else []) or ["values reordered"]
        changes.append(_change(name, "values", list(old.values), list(new.values),
                               f"field '{name}': {'; '.join(parts)}"))
    if old.required != new.required:
        changes.append(_change(name, "required", old.required, new.required,
                               f"field '{name}' is now {'required' if new.required else 'optional'}"))
    for attr, word in (("minimum", "minimum"), ("maximum", "maximum"), ("default", "default"), ("label", "label"),
                       ("label_fr", "French label")):
        was, now = getattr(old, attr), getattr(new, attr)
        if was != now:
            changes.append(_change(name, attr, was, now, f"field '{name}': {word} {_show(was)} -> {_show(now)}"))
    return changes


def _change(field: str | None, change: str, before: Any, after: Any, text: str) -> dict[str, Any]:
    return {"field": field, "change": change, "before": before, "after": after, "text": text}


def _type(spec: FormField) -> str:
    return f"enum of {', '.join(spec.values)}" if spec.type == "enum" else spec.type


def _show(value: Any) -> str:
    return "(none)" if value in (None, "") else f"'{value}'"


def _due(value: str | None) -> str:
    return (duration_words(value) or value) if value else "(no due time)"


def duration_words(text: str) -> str | None:
    """``P5D`` -> ``5 days``, ``PT12H`` -> ``12 hours``, ``R3/P1D`` -> ``every 1 day, 3 times``; None if not plain."""
    repeat = re.fullmatch(r"R(\d*)/(.+)", text)
    if repeat:
        inner = duration_words(repeat.group(2))
        if inner is None:
            return None
        return f"every {inner}" + (f", {repeat.group(1)} times" if repeat.group(1) else "")
    match = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    if not match or text in ("P", "PT"):
        return None
    units = ("year", "month", "week", "day", "hour", "minute", "second")
    parts = [f"{n} {unit}{'' if n == '1' else 's'}" for n, unit in zip(match.groups(), units) if n]
    return " ".join(parts) if parts else None
