"""Corrections, never rewrites (21 CFR Part 11 §11.10(e), EU GMP Annex 11 §9).

A value recorded wrongly is corrected by a new event, ``TaskCorrected``, that keeps the
original, who corrected it, when and why. The corrected value must pass what a fresh
completion would: the form's type and the clinical rules of PATHWAY.md v2 (time and
order, limits, checklists, the chain of identity). The engine is not re-run: the pathway
went where the data said at the time, and if a decision downstream read the corrected
field the correction says so (``decided_on_corrected_data``) for a person to review.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from . import clinical, decision_inputs
from .definitions import ProcessModel
from .errors import CorrectionRefused, TaskNotCompleted, UnknownTask
from .forms import coerce
from .pathway import Pathway
from .text import text_problem

MAX_REASON = 2000


def prepare(pathway: Pathway, events: list, model: ProcessModel, task_id: str, field: Any, value: Any,
            reason: Any, at: datetime) -> dict[str, Any]:
    """The correction to record, checked; refused (nothing recorded) with the reason why not."""
    completion = _completion(pathway, events, task_id)
    name = completion.name
    if not isinstance(reason, str) or not reason.strip():
        raise CorrectionRefused("a correction needs a reason", {"reason": ["required"]})
    if len(reason) > MAX_REASON:
        raise CorrectionRefused(f"reason: at most {MAX_REASON} characters", {"reason": [f"at most {MAX_REASON}"]})
    if (problem := text_problem(reason, prose=True)) is not None:
        raise CorrectionRefused(f"reason: {problem}", {"reason": [problem]})
    form = model.forms.get(name)
    spec = next((f for f in form.fields if f.name == field), None) if form is not None else None
    if spec is None:
        raise CorrectionRefused(f"task {name} has no field {field!r}", {"field": [f"not a field of {name}"]})
    if value is None:
        if spec.required:
            raise CorrectionRefused(f"{name}.{field} is required: it cannot be cleared", {"value": ["required"]})
        clean = None
    else:
        try:
            clean = coerce(spec, value)
        except ValueError as err:
            raise CorrectionRefused(f"invalid value for {name}.{field}: {err}", {"value": [str(err)]}) from None
    current = _current(pathway, completion)
    if clean == current.get(field):
        raise CorrectionRefused(f"{name}.{field} is already {clean!r}: nothing to correct",
                                {"value": ["equals the current value"]})
    corrected = {k: v for k, v in {**current, field: clean}.items() if v is not None}
    declared = frozenset(f.name for f in form.fields)  # type: ignore[union-attr]  # spec came from it
    # as a fresh completion would be checked: the chain of identity, then the clinical rules
    pathway.check_coi(name, form, corrected)
    clinical.check_completion(clinical.Facts.of(pathway), name, corrected, at, declared)
    later = [ev.node_id for ev in events if type(ev).__name__ == "NodeCompleted"
             and ev.originator_version > completion.originator_version]
    if name not in pathway.latest_completion:  # a snapshot older than corrections: learn it from the log
        latest = [ev.task_id for ev in events if type(ev).__name__ == "TaskCompleted" and ev.name == name]
        pathway.latest_completion = {**pathway.latest_completion, name: latest[-1]}
    return {"task_id": task_id, "task": name, "field": field, "value": clean,
            "original": completion.data.get(field), "reason": reason.strip(),
            "decided_on_corrected_data": decision_inputs.decided_on(model, field, later)}


def _completion(pathway: Pathway, events: list, task_id: str):
    for ev in events:
        if type(ev).__name__ == "TaskCompleted" and ev.task_id == task_id:
            return ev
    if task_id in pathway.ready or pathway.closed_tasks.get(task_id) == "withdrawn":
        state = "ready" if task_id in pathway.ready else "withdrawn"
        raise TaskNotCompleted(f"task {task_id} of pathway {pathway.id} is {state}, not completed: "
                               "only a completed task is corrected")
    raise UnknownTask(f"task {task_id} does not exist in pathway {pathway.id}")


def _current(pathway: Pathway, completion) -> dict[str, Any]:
    """The completion's data with the corrections made to it so far."""
    data = dict(completion.data)
    for c in pathway.corrections:
        if c["task_id"] == completion.task_id:
            data[c["field"]] = c["value"]
    return data
