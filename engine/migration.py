"""Moving running pathways to another version of their process (issue 13).

A CAR-T pathway runs for more than a year: a fixed grading table or a moved timer
must reach the patients in monitoring today. SpiffWorkflow 3 ships the pieces
(``SpiffWorkflow.bpmn.util.diff``): ``SpecDiff`` aligns the task specs of two
versions (by BPMN id, then by structure), ``WorkflowDiff`` finds which tasks of a
running workflow are removed or changed, and ``migrate_workflow`` moves the
workflow onto the new specs, resetting its ready and waiting tasks so that what
follows them is predicted again from the new version (a ready task keeps its id).

What this module adds is the clinical side of it:

- *checks* (``blockers``): a ready task or wait whose node was removed, matched to
  another id only by structure, or changed kind (a wait now waiting for another
  message) blocks the pathway until a ``task_mapping {old: new}`` names where it
  goes; so does a form the pathway already filled that lost a required field, or
  that now requires a field the pathway never recorded.
- *outcomes*: the move is an input event (``Migrated``) whose outcomes are derived
  like every command's, plus what SpiffWorkflow does silently: a ready task whose
  node changed (or was mapped) is withdrawn and offered again under its new form,
  a timer whose definition changed is re-armed (from the moment of the move, as
  Camunda's ``updateEventTrigger`` does); a timer that did not change keeps its
  deadline, and a message wait keeps its correlation.

It is deterministic, so ``verify`` re-executes a move exactly as it was recorded.
"""
from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.exceptions import SpiffWorkflowException

from . import determinism
from .definitions import SERIALIZER, ProcessModel
from .errors import EngineFailure
from .runtime import ERROR, READY, WAITING, Outcome, Runtime, _event_definitions, _timer_title, _utc_iso, due_after


class _Diffs:
    """SpecDiffs between two versions, for the top process and each subprocess. Aligning
    specs converts each of them; a bulk migration computes that once per pair of versions."""

    def __init__(self, source: ProcessModel, target: ProcessModel):
        registry = SERIALIZER.registry
        self.source, self.target = source, target
        self.top = SpecDiff(registry, source.spec, target.spec)
        self.subs: dict[str, SpecDiff | None] = {
            name: (SpecDiff(registry, spec, target.subprocess_specs[name])
                   if name in target.subprocess_specs else None)
            for name, spec in source.subprocess_specs.items()}
        self.others: dict[int, tuple[Any, SpecDiff]] = {}

    def of(self, spec: Any, top: bool) -> SpecDiff | None:
        """The diff for a (sub)workflow running ``spec``. SpecDiff aligns spec *objects*: a
        workflow whose spec is another parse of the same version gets its own."""
        base: Any = self.source.spec if top else self.source.subprocess_specs.get(spec.name)
        if base is spec:
            return self.top if top else self.subs.get(spec.name)
        new: Any = self.target.spec if top else self.target.subprocess_specs.get(spec.name)
        if new is None:
            return None
        if id(spec) not in self.others:
            self.others[id(spec)] = (spec, SpecDiff(SERIALIZER.registry, spec, new))
        return self.others[id(spec)][1]


_CACHE: dict[tuple[int, int], _Diffs] = {}
_CACHE_LOCK = threading.Lock()


def diffs(source: ProcessModel, target: ProcessModel) -> _Diffs:
    # keyed by the parsed models' identity: the cached entry holds both, so the ids stay theirs
    key = (id(source), id(target))
    with _CACHE_LOCK:
        found = _CACHE.get(key)
    if found is None:
        found = _Diffs(source, target)
        with _CACHE_LOCK:
            if len(_CACHE) > 16:
                _CACHE.clear()
            _CACHE[key] = found
    return found


def nodes(model: ProcessModel) -> set[str]:
    """Every task spec id of a version, subprocesses included (what a task_mapping may name)."""
    found = set(model.spec.task_specs)
    for spec in model.subprocess_specs.values():
        found |= set(spec.task_specs)
    return found


def _workflows(runtime: Runtime) -> Iterator[tuple[Any, bool]]:
    yield runtime.workflow, True
    yield from ((sp, False) for sp in runtime.workflow.subprocesses.values())


def _live(runtime: Runtime) -> Iterator[tuple[Any, Any, bool]]:
    """(task, its workflow, top?) for each ready user task, each wait and each failed step (an
    incident: it is retried on the version the pathway runs then)."""
    for wf, top in _workflows(runtime):
        for task in wf.tasks.values():
            if (task.state == READY and task.task_spec.manual) or task.state in (WAITING, ERROR):
                yield task, wf, top


def _messages(spec) -> set[str]:
    return {d.name for d in _event_definitions(getattr(spec, "event_definition", None))
            if isinstance(d, MessageEventDefinition)}


def _describe(task) -> str:
    node = task.task_spec.bpmn_id or task.task_spec.name
    return {READY: f"ready task {node}", ERROR: f"failed step {node} (incident)"}.get(task.state, f"wait {node}")


def blockers(data: dict[str, Any], runtime: Runtime, target: ProcessModel, mapping: dict[str, str]) -> list[str]:
    """Why this pathway (its recorded ``data`` and live engine) cannot move to ``target`` as asked."""
    found = diffs(runtime.model, target)
    reasons = []
    for wf, top in _workflows(runtime):
        if not top and found.of(wf.spec, top) is None:
            reasons.append(f"it is inside {wf.spec.name}, which version {target.version} no longer has")
    for task, wf, top in _live(runtime):
        spec_diff = found.of(wf.spec, top)
        node = task.task_spec.bpmn_id or task.task_spec.name
        if spec_diff is None or node in mapping:
            continue
        aligned = spec_diff.alignment.get(task.task_spec)
        what = _describe(task)
        if aligned is None:
            reasons.append(f"its {what} was removed in version {target.version}: give a task_mapping "
                           f"{{{node}: <a node of version {target.version}>}}")
        elif aligned.name != task.task_spec.name:
            reasons.append(f"its {what} is not in version {target.version}, which has {aligned.name} in its "
                           f"place: an explicit task_mapping {{{node}: {aligned.name}}} is needed")
        elif "typename" in spec_diff.changed.get(task.task_spec, []):
            reasons.append(f"its {what} changed kind in version {target.version}: an explicit task_mapping "
                           f"{{{node}: {node}}} is needed")
        elif task.state == WAITING and _messages(task.task_spec) != _messages(aligned):
            reasons.append(f"its {what} waits for {', '.join(sorted(_messages(task.task_spec))) or 'no message'} "
                           f"but version {target.version} waits there for "
                           f"{', '.join(sorted(_messages(aligned))) or 'no message'}: an explicit task_mapping "
                           f"{{{node}: {node}}} is needed")
    reasons += _filled_forms(data, runtime.model, target)
    return reasons


def _filled_forms(data: dict[str, Any], source: ProcessModel, target: ProcessModel) -> list[str]:
    """A form this pathway filled must still make sense in the new version: a required field it
    lost, or a required field the recorded data lacks, would leave later steps reading nothing."""
    reasons = []
    for name, old in source.forms.items():
        recorded = data.get(name)
        new = target.forms.get(name)
        if not isinstance(recorded, dict) or new is None:
            continue
        kept = {f.name for f in new.fields}
        for field in old.fields:
            if field.required and field.name not in kept:
                reasons.append(f"the form {name} it already filled lost the required field {field.name} "
                               f"in version {target.version}")
        for field in new.fields:
            if field.required and field.default is None and field.name not in recorded:
                reasons.append(f"the form {name} it already filled has no {field.name}, which version "
                               f"{target.version} requires")
    return reasons


def migrate_runtime(runtime: Runtime, target: ProcessModel, mapping: dict[str, str]) -> list[Outcome]:
    """Move the live engine onto ``target`` (in place) and say what that changed.

    Run inside ``determinism.engine_run``: re-armed timers count from the injected clock."""
    source = runtime.model
    found = diffs(source, target)
    before = runtime._observe()
    ready_before = {t.id: t.task_spec for t, _, _ in _live(runtime) if t.state == READY}
    due_before = {t.id: _due(t) for t, _, _ in _live(runtime) if t.state == WAITING}
    kept: dict[Any, dict] = {}
    changed_nodes: set[Any] = set()
    try:
        for wf, top in list(_workflows(runtime)):
            spec_diff = found.of(wf.spec, top)
            if spec_diff is None:
                raise EngineFailure(f"{wf.spec.name} is not in version {target.version}")
            new_spec = target.spec if top else target.subprocess_specs[wf.spec.name]
            diff = WorkflowDiff(wf, spec_diff)
            for task in list(diff.alignment) + list(diff.removed):
                mapped = _mapped(task.task_spec.name, mapping)
                if mapped is not None:
                    diff.alignment[task] = _spec_named(target, mapped)
                    if task in diff.removed:
                        diff.removed.remove(task)
                    changed_nodes.add(task.id)
                elif task.task_spec in spec_diff.changed:
                    changed_nodes.add(task.id)
            for task in wf.tasks.values():
                # a wait whose definition did not change keeps its deadline and its correlation
                if task.state == WAITING and task.id not in changed_nodes:
                    kept[task.id] = copy.deepcopy(task.internal_data)
            migrate_workflow(diff, wf, new_spec)
        for wf, _ in _workflows(runtime):
            for task_id, internal in kept.items():
                task = wf.tasks.get(task_id)
                if task is not None and task.state == WAITING:
                    task.internal_data = internal
        # subprocesses started from now on are the new version's too (SpiffWorkflow keeps the specs
        # it was created with, and migrate_workflow moves only the workflows that exist)
        runtime.workflow.subprocess_specs = target.subprocess_specs
        runtime.model = target
    except SpiffWorkflowException as err:
        raise EngineFailure(f"the move to version {target.version} failed: {str(err).splitlines()[0]}") from None
    outcomes = runtime._step(before, lambda: None)
    return _silent_changes(runtime, ready_before, due_before, changed_nodes) + outcomes


def _silent_changes(runtime: Runtime, ready_before: dict, due_before: dict, changed: set) -> list[Outcome]:
    """What SpiffWorkflow does without a state change, made visible: a ready task that now
    stands for another or a changed node (withdrawn, offered again with its new form), and a
    timer armed again with a new deadline."""
    out: list[Outcome] = []
    model = runtime.model
    for task, _, _ in _live(runtime):
        tid = str(task.id)
        node = task.task_spec.bpmn_id
        if task.state == READY and task.id in ready_before and task.id in changed:
            old = ready_before[task.id]
            out.append(Outcome("TaskWithdrawn", {"task_id": tid, "name": old.bpmn_id or old.name}))
            form = model.forms.get(node)
            out.append(Outcome("TaskBecameReady", {
                "task_id": tid, "name": node,
                "lane": model.lanes.get(node) or getattr(task.task_spec, "lane", None),
                "title": model.titles.get(node, node),
                "due_at": due_after(determinism.current_time(), form.due) if form is not None else None}))
        elif task.state == WAITING and task.id in due_before and _due(task) != due_before[task.id]:
            for item in _event_definitions(getattr(task.task_spec, "event_definition", None)):
                if isinstance(item, TimerEventDefinition):
                    out.append(Outcome("TimerArmed", {"task_id": tid, "node_id": node, "due_at": _due(task),
                                                       "title": _timer_title(task, item)}))
    return out


def _due(task) -> str | None:
    try:
        return _utc_iso(task._get_internal_data("event_value"))
    except (ValueError, TypeError):
        return None


def _mapped(spec_name: str, mapping: dict[str, str]) -> str | None:
    """Where a task spec goes under ``mapping``. SpiffWorkflow surrounds a task that has boundary
    events with structural specs named after it (``chase_slot.BoundaryEventSplit``): they follow
    their task, or the moved task's join would wait for a split that was never reached."""
    if spec_name in mapping:
        return mapping[spec_name]
    node, dot, part = spec_name.partition(".")
    return f"{mapping[node]}.{part}" if dot and node in mapping else None


def _spec_named(target: ProcessModel, node: str):
    for spec in (target.spec, *target.subprocess_specs.values()):
        if node in spec.task_specs:
            return spec.task_specs[node]
    raise EngineFailure(f"version {target.version} has no node {node}")


def tasks_after(runtime: Runtime) -> dict[str, list[str]]:
    """The ready user tasks and the waits of a (moved) engine, by node id."""
    ready = sorted(t.task_spec.bpmn_id for t, _, _ in _live(runtime) if t.state == READY)
    waiting = sorted(t.task_spec.bpmn_id for t, _, _ in _live(runtime) if t.state == WAITING)
    return {"ready": ready, "waiting": waiting}

