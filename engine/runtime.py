"""SpiffWorkflow, driven one command at a time, with its outcome written down.

:class:`Runtime` wraps a live ``BpmnWorkflow``. Each action (start, complete a
user task, catch a message, fire timers) runs the engine to a stable state and
returns the *outcomes*: what became ready, what completed (and through which
sequence flow), which timers were armed, which messages went out, whether the
pathway ended. Outcomes are derived by comparing task states before and after,
since SpiffWorkflow has no state-change callback for user tasks.

The same code produces the outcomes when a command is first run and when
``verify`` re-runs it, so a divergence means the history and the definition
disagree, not that two implementations do.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from . import determinism
from .clinical_facts import FILLED_INPUTS, GRADES, ClinicalFacts
from .definitions import SERIALIZER, ProcessModel
from .errors import CartpathError, TaskNotReady, UnknownTask
from .incidents import RetryImpossible, incident_record
from .sandbox import SCRIPT_ENGINE, step_budget
from .times import parse_instant

# SpiffWorkflow logs every task state change at INFO (six lines a command on the engine bench, task
# data in their extras). A process that logs at INFO (`cartpath scheduler`) wrote and paid for them
# on every command; the events are the record of what the engine did. Its warnings still show, and
# an operator who wants the engine's trace can lower the level again after import.
logging.getLogger("spiff").setLevel(logging.WARNING)

COMPLETED, READY, WAITING, CANCELLED, ERROR = (TaskState.COMPLETED, TaskState.READY, TaskState.WAITING,
                                               TaskState.CANCELLED, TaskState.ERROR)


@dataclass(frozen=True)
class Outcome:
    """One engine outcome, to become a Pathway event of the same name."""

    kind: str
    data: dict[str, Any]


def _utc_iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # cycle timers keep {"next": ...}
        value = value.get("next")
    return parse_instant(value if isinstance(value, datetime) else str(value), naive_is_utc=True).isoformat()


def due_after(ready_since: datetime, duration: str | None) -> str | None:
    """The deadline a user task declares with ``<cartpath:due duration="P2D"/>``, counted from
    the moment it became ready (recorded on ``TaskBecameReady``: readers never parse the model)."""
    if not duration:
        return None
    delta = TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(duration),
                                                          ready_since)
    return (ready_since + delta).isoformat()


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class Runtime:
    def __init__(self, model: ProcessModel, workflow: BpmnWorkflow):
        self.model = model
        self.workflow = workflow
        self._running: Any = None  # the engine task being run: where a failure without a task happened

    # -- life cycle ---------------------------------------------------------
    @classmethod
    def create(cls, model: ProcessModel) -> Runtime:
        workflow = BpmnWorkflow(model.spec, model.subprocess_specs, script_engine=SCRIPT_ENGINE)
        return cls(model, workflow)

    @classmethod
    def restore(cls, model: ProcessModel, checkpoint: str) -> Runtime:
        """Rebuild a workflow from a checkpoint on the model's already-parsed specs.

        SpiffWorkflow's own ``from_dict`` would rebuild the specs from their serialised
        form on every load (and consumes the dicts it is given); the specs of a version
        never change, so the workflow is rebuilt around the cached ones, using the
        serializer's converter for everything else."""
        converter = _workflow_converter()
        state = json.loads(checkpoint, cls=SERIALIZER.json_decoder_cls)
        workflow = BpmnWorkflow(model.spec, model.subprocess_specs, script_engine=SCRIPT_ENGINE, deserializing=True)
        workflow.tasks = converter.mapping_from_dict(state["tasks"], uuid.UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(uuid.UUID(state["root"]))
        converter.set_default_attributes(workflow, state)
        converter.subprocesses_from_dict(state["subprocesses"], workflow)
        workflow.bpmn_events = SERIALIZER.registry.restore(state.pop("bpmn_events", []))
        return cls(model, workflow)

    def checkpoint(self) -> str:
        """The engine state without the (per-version, cached) specs.

        The serializer's own to_dict would convert every spec (DMN tables included) only for
        us to drop them: with the v2 tables that was a third of a snapshot's cost. The
        workflow converter's parts are called directly instead; restore() reads the same keys."""
        converter = _workflow_converter()
        registry = SERIALIZER.registry
        registry._encoder_mode = True
        try:
            state = WorkflowConverter.to_dict(converter, self.workflow)
            state["subprocesses"] = converter.mapping_to_dict(self.workflow.subprocesses)
            state["bpmn_events"] = registry.convert(self.workflow.bpmn_events)
            state["typename"] = registry.typenames[BpmnWorkflow]
        finally:
            registry._encoder_mode = False
        return json.dumps(state, cls=SERIALIZER._encoder_cls, separators=(",", ":"))

    # -- reading ------------------------------------------------------------
    def _all_tasks(self) -> Iterator[Any]:
        yield from self.workflow.tasks.values()
        for sub in list(self.workflow.subprocesses.values()):
            yield from sub.tasks.values()

    def ready_user_task(self, task_id: str):
        try:
            key = uuid.UUID(str(task_id))
        except ValueError:
            raise UnknownTask(f"task {task_id} does not exist") from None
        task = self.workflow.get_task_from_id(key) if self._has_task(key) else None
        if task is None:
            raise UnknownTask(f"task {task_id} does not exist in this pathway")
        if task.state != READY or not task.task_spec.manual:
            raise TaskNotReady(f"task {task.task_spec.bpmn_id} ({task_id}) is not ready: "
                               f"it is {TaskState.get_name(task.state)}")
        return task

    def _has_task(self, key: uuid.UUID) -> bool:
        if key in self.workflow.tasks:
            return True
        return any(key in sub.tasks for sub in self.workflow.subprocesses.values())

    def _observe(self) -> dict[uuid.UUID, int]:
        return {t.id: t.state for t in self._all_tasks()}

    # -- actions ------------------------------------------------------------
    def start(self, data: dict[str, Any]) -> list[Outcome]:
        before: dict[uuid.UUID, int] = {}
        for task in self.workflow.get_tasks(state=READY):
            task.data.update(data)
        return self._step(before, lambda: None)

    def complete(self, task_id: str, name: str, data: dict[str, Any]) -> list[Outcome]:
        task = self.ready_user_task(task_id)
        before = self._observe()

        def act():
            ClinicalFacts.of(self.workflow).task_completed(name, data)
            task.data[name] = data
            task.run()
        return self._step(before, act)

    def deliver(self, name: str, payload: dict[str, Any]) -> list[Outcome]:
        before = self._observe()
        definition = self._waiting_definition(name)

        def act():
            correlations = definition.calculate_correlations(SCRIPT_ENGINE, definition.correlation_properties, payload)
            self.workflow.send_event(BpmnEvent(definition, payload, correlations))
        return self._step(before, act)

    def fire_timers(self) -> list[Outcome]:
        before = self._observe()
        dues = self._timer_dues()
        outcomes = self._step(before, self.workflow.refresh_timers)
        return outcomes + self._rearmed(dues)

    def _timer_dues(self) -> dict[uuid.UUID, str | None]:
        """The deadline of every waiting timer, as text (a cycle's is a dict SpiffWorkflow moves in place)."""
        return {t.id: _utc_iso(t._get_internal_data("event_value")) for t in self._all_tasks()
                if t.state == WAITING and t.task_spec.bpmn_id in self.model.timer_nodes}

    def _rearmed(self, before: dict[uuid.UUID, str | None]) -> list[Outcome]:
        """A cycle timer that fired and still waits has a new deadline: recorded as armed again, or
        its recorded deadline would stay the one it passed and it would be 'due' on every round."""
        out = []
        for task_id, due in self._timer_dues().items():
            if task_id in before and before[task_id] != due and due is not None:
                task = self.workflow.get_task_from_id(task_id)
                out += [o for o in self._waits(task, task.task_spec.bpmn_id, str(task_id)) if o.kind == "TimerArmed"]
        return out

    def waits_for(self, name: str) -> bool:
        try:
            self._waiting_definition(name)
            return True
        except LookupError:
            return False

    def _waiting_definition(self, name: str) -> MessageEventDefinition:
        for wf in (self.workflow, *self.workflow.subprocesses.values()):
            for task in wf.tasks.values():
                if task.state != WAITING:
                    continue
                for item in _event_definitions(getattr(task.task_spec, "event_definition", None)):
                    if isinstance(item, MessageEventDefinition) and item.name == name:
                        return item
        raise LookupError(name)

    def retry(self, incident_id: str, task_id: str | None, node: str | None,
              data: dict[str, Any] | None = None) -> list[Outcome]:
        """Run the step an incident stopped at once more (with ``data`` merged into its task first).

        A task the error left in ERROR is made ready again; a task whose preparation
        failed (a timer expression, say) is prepared again. The task is found by its id,
        else (a pathway moved to another version meanwhile) by its node. Success resolves
        the incident; failing again raises a new one."""
        task = self._incident_task(task_id, node)
        if task is None:
            raise RetryImpossible(f"the failed step {node} is not in this pathway's engine any more: migrate the "
                                  f"pathway to a version that has it, or cancel the pathway")
        before = self._observe()

        def act():
            if data:
                task.data.update(data)
                if task.state != ERROR and task.parent is not None:
                    task.parent.data.update(data)  # a task prepared again inherits its parent's data
            if task.state == ERROR:
                task._set_state(READY)
            elif not task.has_state(TaskState.FINISHED_MASK):
                task.task_spec._update(task)
            else:  # it completed, but preparing what follows failed
                for child in task.children:
                    if not child.has_state(TaskState.FINISHED_MASK):
                        child.task_spec._update(child)
        outcomes = self._step(before, act)
        if any(o.kind == "IncidentRaised" for o in outcomes):
            return outcomes
        return [Outcome("IncidentResolved", {"incident_id": incident_id}), *outcomes]

    def _incident_task(self, task_id: str | None, node: str | None):
        try:
            key = uuid.UUID(str(task_id)) if task_id else None
        except ValueError:
            key = None
        if key is not None and self._has_task(key):
            return self.workflow.get_task_from_id(key)
        candidates = [t for t in self._all_tasks() if getattr(t.task_spec, "bpmn_id", None) == node
                      and not t.has_state(TaskState.COMPLETED | TaskState.CANCELLED)]
        errored = [t for t in candidates if t.state == ERROR]
        return (errored or candidates or [None])[0]

    def _step(self, before: dict[uuid.UUID, int], act) -> list[Outcome]:
        """Run ``act`` and the engine steps it leads to; a failure is an incident, not an exception.

        Refusals (CartpathError) still propagate: they are decided before the engine moves.
        Anything else the model raises (a script's error, a condition, a DMN table, a date
        overflow, SpiffWorkflow's own exceptions) stops this pathway with an
        ``IncidentRaised`` after the outcomes of what did happen (a timer that fired, a
        message sent), so that replaying the same input fails the same way."""
        self._running = None
        failure: Outcome | None = None
        try:
            with step_budget():  # every script, condition and DMN cell of the step shares one budget
                act()
                self.workflow.do_engine_steps(will_complete_task=self._before_engine_task,
                                              did_complete_task=self._note_grade)
        except (CartpathError, determinism.NoEngineRun):
            raise
        except Exception as err:  # noqa: BLE001 - every failure of the model is an incident
            failure = self._incident(err)
        outcomes = self._outcomes(before)
        if failure is None:
            failure = self._silent_error(before)
        if failure is not None:
            outcomes.append(failure)
        self._compact()
        return outcomes

    def _before_engine_task(self, task) -> None:
        self._running = task
        self._fill_decision_inputs(task)

    def _incident(self, err: Exception) -> Outcome:
        task = getattr(err, "task", None)
        if task is None:
            errored = [t for t in self._all_tasks() if t.state == ERROR]
            task = errored[0] if errored else self._running
        node = getattr(task.task_spec, "bpmn_id", None) if task is not None else None
        return Outcome("IncidentRaised", incident_record(str(determinism.next_id()), node,
                                                         str(task.id) if task is not None else None, err,
                                                         self.model.text))

    def _silent_error(self, before: dict[uuid.UUID, int]) -> Outcome | None:
        """A task that went to ERROR without raising (a spec whose run returned False)."""
        for task in self._all_tasks():
            if task.state == ERROR and before.get(task.id) != ERROR:
                err = RuntimeError(f"the step at {task.task_spec.bpmn_id} reported an error")
                return Outcome("IncidentRaised", incident_record(str(determinism.next_id()), task.task_spec.bpmn_id,
                                                                 str(task.id), err, self.model.text))
        return None

    def _fill_decision_inputs(self, task) -> None:
        """Right before a decision the engine feeds evaluates, put the derived inputs in its data."""
        decision = self.model.decisions.get(getattr(task.task_spec, "bpmn_id", ""))
        if decision in FILLED_INPUTS:
            task.data.update(ClinicalFacts.of(self.workflow).inputs_for(decision))

    def _note_grade(self, task) -> None:
        decision = self.model.decisions.get(getattr(task.task_spec, "bpmn_id", ""))
        if decision in GRADES:
            ClinicalFacts.of(self.workflow).graded(decision, _json_safe(task.data.get(decision)))

    # Kinds whose completed instances carry nothing later steps look at once their
    # successor has completed too (joins and subprocess hosts are never removed).
    _PRUNABLE = frozenset({"userTask", "scriptTask", "businessRuleTask", "intermediateCatchEvent",
                           "intermediateThrowEvent", "exclusiveGateway", "task", "manualTask", "sendTask",
                           "receiveTask"})

    def _compact(self) -> None:
        """Drop completed links from the middle of the task tree.

        SpiffWorkflow keeps every task instance forever; a loop (daily assessments,
        deferral re-checks) grows the tree with each turn, so each step, checkpoint and
        load would cost more as a pathway ages, and TaskIterator silently stops at
        depth 1000. A completed task whose only child has completed too is spliced
        out (its child takes its place), keeping joins, their inputs, subprocess hosts
        and everything not yet finished. The rule is deterministic, so replay and
        verify compact identically."""
        kinds = self.model.kinds
        for wf in (self.workflow, *self.workflow.subprocesses.values()):
            for task in list(wf.tasks.values()):
                if task.state != COMPLETED or task._parent is None or len(task._children) != 1:
                    continue
                spec = task.task_spec
                if (kinds.get(getattr(spec, "bpmn_id", "")) not in self._PRUNABLE
                        or task.id in self.workflow.subprocesses):
                    continue
                child = wf.tasks.get(task._children[0])
                parent = wf.tasks.get(task._parent)
                if child is None or parent is None or child.state != COMPLETED:
                    continue
                if getattr(child.task_spec, "bpmn_id", None) not in kinds:
                    # a structural child (the split SpiffWorkflow puts before a task with
                    # boundary events) is transparent to _flows_into, which walks up through
                    # it to this node: keep it, or the flow into the guarded task is lost
                    continue
                if (isinstance(child.task_spec, UnstructuredJoin)
                        or any(isinstance(o, UnstructuredJoin) for o in spec.outputs)):
                    continue
                parent._children = [child.id if c == task.id else c for c in parent._children]
                child._parent = parent.id
                del wf.tasks[task.id]

    # -- outcomes -----------------------------------------------------------
    def _outcomes(self, before: dict[uuid.UUID, int]) -> list[Outcome]:
        model = self.model
        out: list[Outcome] = []
        seen = set()
        for task in list(self._all_tasks()):
            seen.add(task.id)
            node = getattr(task.task_spec, "bpmn_id", None)
            if node is None or node not in model.kinds:
                continue
            prev, state = before.get(task.id), task.state
            if state == prev:
                continue
            tid = str(task.id)
            if state == ERROR:
                continue  # the step's incident says so
            if state == COMPLETED:
                data = {"node_id": node, "kind": model.kinds[node], "flows": self._flows_into(task)}
                decision = self._decision_result(task)
                if decision is not None:
                    data["result"] = decision
                out.append(Outcome("NodeCompleted", data))
                if prev == WAITING:
                    out.append(Outcome("WaitEnded", {"task_id": tid, "node_id": node, "how": "done"}))
            elif state == READY and task.task_spec.manual:
                form = model.forms.get(node)
                out.append(Outcome("TaskBecameReady", {
                    "task_id": tid, "name": node,
                    "lane": model.lanes.get(node) or getattr(task.task_spec, "lane", None),
                    "title": model.titles.get(node, node),
                    "due_at": due_after(determinism.current_time(), form.due) if form is not None else None,
                }))
            elif state == WAITING and prev != WAITING:
                out += self._waits(task, node, tid)
            if state == CANCELLED and prev in (READY, WAITING):
                out.append(self._withdrawn(task, prev))  # type: ignore[arg-type]  # READY or WAITING
        for task_id, prev in before.items():
            if task_id not in seen and prev in (READY, WAITING):
                out.append(Outcome("WaitEnded", {"task_id": str(task_id), "node_id": None, "how": "removed"}))
        for thrown in self.workflow.get_events():
            if not isinstance(thrown.event_definition, MessageEventDefinition):
                # a terminate end event inside a subprocess (SpiffWorkflow 3.2) throws its event up
                # to the top workflow, which nothing catches: it lands here, but is no message
                continue
            out.append(Outcome("MessageSent", {
                "name": thrown.event_definition.name,
                "message_id": str(determinism.next_id()),
                "payload": _json_safe(thrown.payload or {}),
            }))
        if self.workflow.is_completed():
            end = self._end_node()
            out.append(Outcome("PathwayEnded",
                               {"outcome": model.outcomes.get(end or "", "completed"), "end_node": end}))
        return out

    def _waits(self, task, node: str, tid: str) -> list[Outcome]:
        """What a newly waiting task waits for. An event-based gateway waits for several
        things at once: SpiffWorkflow puts them all on the gateway task."""
        definition = getattr(task.task_spec, "event_definition", None)
        if definition is None:
            return []
        out = []
        for item in _event_definitions(definition):
            if isinstance(item, TimerEventDefinition):
                due = _utc_iso(task._get_internal_data("event_value"))
                out.append(Outcome("TimerArmed", {"task_id": tid, "node_id": node, "due_at": due,
                                                   "title": _timer_title(task, item)}))
            elif isinstance(item, MessageEventDefinition):
                out.append(Outcome("MessageAwaited", {"task_id": tid, "node_id": node, "message": item.name}))
        return out

    def _withdrawn(self, task, prev: int) -> Outcome:
        node = task.task_spec.bpmn_id
        if prev == READY and task.task_spec.manual:
            return Outcome("TaskWithdrawn", {"task_id": str(task.id), "name": node})
        return Outcome("WaitEnded", {"task_id": str(task.id), "node_id": node, "how": "cancelled"})

    def _flows_into(self, task) -> list[str]:
        node = task.task_spec.bpmn_id
        if self.model.kinds.get(node) == "parallelGateway" and len(self.model.incoming.get(node, [])) > 1:
            return list(self.model.incoming[node])
        parent = task.parent
        while parent is not None and getattr(parent.task_spec, "bpmn_id", None) not in self.model.kinds:
            parent = parent.parent
        if parent is None:
            return []
        flow = self.model.flows.get((parent.task_spec.bpmn_id, node))
        return [flow] if flow else []

    @staticmethod
    def _decision_result(task) -> dict[str, Any] | None:
        engine = getattr(task.task_spec, "dmnEngine", None)
        if engine is None:
            return None
        names = [o.name for o in engine.decision_table.outputs]
        return {n: _json_safe(task.data.get(n)) for n in names}

    def _end_node(self) -> str | None:
        ends = [t.task_spec.bpmn_id for t in self.workflow.tasks.values()
                if t.state == COMPLETED and self.model.kinds.get(getattr(t.task_spec, "bpmn_id", "")) == "endEvent"]
        marked = [e for e in ends if e in self.model.outcomes]
        return (marked or ends or [None])[-1]


def _workflow_converter():
    """The serializer's registered converter for BpmnWorkflow (its from_dict is bound to it)."""
    registry = SERIALIZER.registry
    restore = registry.convert_from_dict[registry.typenames[BpmnWorkflow]]
    return restore.args[0].__self__  # a partial(_obj_from_dict, converter.from_dict)


def _timer_title(task, timer) -> str | None:
    """A person's name for a timer ("5 days without answer"): the timer event's documentation, else
    its name. Recorded with TimerArmed so that readers never parse BPMN. Behind an event-based
    gateway the waiting task is the gateway's: SpiffWorkflow moves the events that follow it onto
    the gateway, in the order of its outgoing flows, so the timer's own event is at the same place."""
    spec = task.task_spec
    moved = list(getattr(spec.event_definition, "event_definitions", None) or [])
    outputs = list(getattr(spec, "outputs", None) or [])
    place = next((i for i, d in enumerate(moved) if d is timer), None)
    if place is not None and len(moved) == len(outputs):
        spec = outputs[place]
    text = (getattr(spec, "documentation", None) or getattr(spec, "bpmn_name", None) or "").strip()
    return " ".join(text.split()) or None


def _event_definitions(definition) -> list:
    if definition is None:
        return []
    return list(getattr(definition, "event_definitions", None) or [definition])

