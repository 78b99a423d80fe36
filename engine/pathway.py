"""The Pathway aggregate: one patient's treatment, as a sequence of events.

Two kinds of events. *Inputs* record a command as it was given (who, when,
what, why): ``Started``, ``TaskCompleted``, ``MessageReceived``,
``TimersFired``, ``Cancelled``. *Outcomes* record what the engine did about
it: ``TaskBecameReady``, ``NodeCompleted``, ``TimerArmed``, ``MessageSent``,
``PathwayEnded``... Readers use the outcomes and never run the engine;
``verify`` re-runs the inputs and checks that it gets the same outcomes.

The engine state itself is not stored in events: it is a pure function of
the inputs. A snapshot carries a checkpoint of it (``engine_checkpoint``)
plus the inputs since (``engine_inputs``) so a pathway loads without
replaying its whole life through SpiffWorkflow.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from . import signatures
from .clinical import DEATH_CAUSES
from .errors import CancelRefused, CoiMismatch, PathwayEnded, TaskNotReady
from .incidents import IncidentClosed, IncidentOpen, UnknownIncident
from .runtime import Outcome, Runtime
from .topics import pin_topics

CANCEL_REASONS = ("death", "progression", "patient_decision", "physician_decision", "other", "lost_to_follow_up",
                  "transferred")
# (v2) after infusion: death ends the pathway `deceased`; these hand the patient's follow-up over
HANDOVER_REASONS = ("lost_to_follow_up", "transferred")
OUTCOMES = ("not_eligible", "declined", "not_infused", "cancelled", "deceased", "follow_up_handover")
# TaskCorrected is a command with its actor, like the others, but the engine never sees it
INPUT_EVENTS = ("Started", "TaskCompleted", "MessageReceived", "TimersFired", "Cancelled", "IncidentRetried",
                "TaskCorrected", "Migrated")


class Pathway(Aggregate):
    class_version = 1

    @event("Started")
    def __init__(self, id: uuid.UUID, definition: dict[str, Any], start: dict[str, Any], business_key: str | None,
                 actor: dict[str, Any], at: datetime):
        self.definition = definition
        self.business_key = business_key
        self.patient_ref = start["patient_ref"]
        self.center = start["center"]
        self.indication = start["indication"]
        self.product = start["product"]
        self.started_at = at
        self.started_by = actor
        self.status = "active"
        self.outcome: str | None = None
        self.ended_at: datetime | None = None
        self.cancellation: dict[str, Any] | None = None
        self.data: dict[str, Any] = dict(start)
        self.ready: dict[str, dict[str, Any]] = {}
        self.closed_tasks: dict[str, str] = {}
        self.waiting: dict[str, dict[str, Any]] = {}
        self.correlation: dict[str, Any] = {}
        self.last_at = at
        self.engine_checkpoint: str | None = None
        self.engine_inputs: list[dict[str, Any]] = [{"kind": "start", "seq": 1, "at": at.isoformat(),
                                                     "data": dict(start)}]

    # -- inputs ---------------------------------------------------------------
    class TaskCompleted(Aggregate.Event):
        """A user task completed; ``signatures`` (version 2) are its electronic signatures
        (engine/signatures.py): role, sub, printed name, roles, at, meaning, sha256 of what was signed."""

        class_version = 2
        task_id: str
        name: str
        lane: str | None
        data: dict[str, Any]
        actor: dict[str, Any]
        at: datetime
        signatures: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before signatures were: nothing was signed.
            state["signatures"] = []

    @event(TaskCompleted)
    def _task_completed(self, task_id: str, name: str, lane: str | None, data: dict[str, Any],
                        actor: dict[str, Any], at: datetime, signatures: list[dict[str, Any]]) -> None:
        self.ready.pop(task_id, None)
        self.closed_tasks[task_id] = "completed"
        self.data[name] = data
        self.latest_completion = {**self.latest_completion, name: task_id}
        if name == "toxicity_treatment" and data.get("drug") == "tocilizumab":
            self.tocilizumab_given_at = [*self.tocilizumab_given_at, str(data.get("given_at") or "")]
        self.last_at = max(self.last_at, at)
        self.engine_inputs.append({"kind": "complete", "seq": self.version + 1, "at": at.isoformat(),
                                   "task_id": task_id, "name": name, "data": data})

    @event("MessageReceived")
    def _message_received(self, name: str, message_id: str, correlation: dict[str, Any],
                          payload: dict[str, Any], delivered: bool, actor: dict[str, Any], at: datetime) -> None:
        self.data[name] = {**payload, **correlation}
        for key, value in correlation.items():
            if value is not None:
                self.correlation.setdefault(key, value)
        self.last_at = max(self.last_at, at)
        if delivered:
            self.engine_inputs.append({"kind": "message", "seq": self.version + 1, "at": at.isoformat(),
                                       "name": name, "payload": {**payload, **correlation}})

    @event("TaskCorrected")
    def _task_corrected(self, task_id: str, task: str, field: str, value: Any, original: Any, reason: str,
                        actor: dict[str, Any], at: datetime, decided_on_corrected_data: bool) -> None:
        """A completed task's field corrected: the original stays in the log; the engine is not re-run."""
        if self.latest_completion.get(task, task_id) == task_id and isinstance(self.data.get(task), dict):
            self.data[task] = {**self.data[task], field: value}
        self.corrections = [*self.corrections, {
            "task_id": task_id, "task": task, "field": field, "value": value, "original": original, "reason": reason,
            "by": actor, "at": at, "decided_on_corrected_data": decided_on_corrected_data}]
        self.last_at = max(self.last_at, at)

    @event("TimersFired")
    def _timers_fired(self, at: datetime) -> None:
        self.last_at = max(self.last_at, at)
        self.engine_inputs.append({"kind": "timers", "seq": self.version + 1, "at": at.isoformat()})

    @event("IncidentRetried")
    def _incident_retried(self, incident_id: str, task_id: str | None, node: str | None, data: dict[str, Any],
                          actor: dict[str, Any], at: datetime) -> None:
        """A person asked the engine to run the step an incident stopped at again (``data`` corrected first)."""
        self.last_at = max(self.last_at, at)
        self.engine_inputs.append({"kind": "retry", "seq": self.version + 1, "at": at.isoformat(),
                                   "incident_id": incident_id, "task_id": task_id, "node": node, "data": data})

    @event("Cancelled")
    def _cancelled(self, reason: str, comment: str | None, actor: dict[str, Any], at: datetime,
                   death_date: str | None = None, death_cause: str | None = None) -> None:
        # death_date and death_cause are (v2) optional members: Cancelled events written before have neither
        self.cancellation = {"reason": reason, "comment": comment, "by": actor, "at": at}
        if death_date is not None or death_cause is not None:
            self.cancellation.update(death_date=death_date, death_cause=death_cause)
        self.last_at = max(self.last_at, at)

    @event("Migrated")
    def _migrated(self, from_: dict[str, Any], to: dict[str, Any], mapping: dict[str, str], actor: dict[str, Any],
                  reason: str | None, at: datetime) -> None:
        """Moved to another version of its process (engine/migration.py); an input, so that
        verify re-executes the move itself. ``from_`` is shown as ``from`` (a Python keyword)."""
        self.definition = dict(to)
        self.migrations = [*self.migrations, {"from": from_["version"], "to": to["version"], "at": at,
                                              "by": actor, "reason": reason, "mapping": dict(mapping)}]
        self.last_at = max(self.last_at, at)
        self.engine_inputs.append({"kind": "migrate", "seq": self.version + 1, "at": at.isoformat(),
                                   "from": from_["version"], "to": to["version"], "mapping": dict(mapping)})

    # -- outcomes -------------------------------------------------------------
    class TaskBecameReady(Aggregate.Event):
        """A user task is ready; ``due_at`` (version 2) is its deadline, if its form declares one."""

        class_version = 2
        task_id: str
        name: str
        lane: str | None
        title: str
        due_at: str | None
        at: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before deadlines were: the model is not the event's to read, so none.
            state["due_at"] = None

    @event(TaskBecameReady)
    def _task_ready(self, task_id: str, name: str, lane: str | None, title: str, due_at: str | None,
                    at: datetime) -> None:
        self.ready[task_id] = {"id": task_id, "name": name, "lane": lane, "title": title, "ready_since": at,
                               "due_at": due_at}

    @event("TaskWithdrawn")
    def _task_withdrawn(self, task_id: str, name: str, at: datetime) -> None:
        self.ready.pop(task_id, None)
        self.closed_tasks[task_id] = "withdrawn"

    @event("NodeCompleted")
    def _node_completed(self, node_id: str, kind: str, flows: list[str], at: datetime,
                        result: dict[str, Any] | None = None) -> None:
        if result:
            self.data.setdefault("decisions", {})[node_id] = result

    @event("TimerArmed")
    def _timer_armed(self, task_id: str, node_id: str, due_at: str | None, at: datetime,
                     title: str | None = None) -> None:
        # ``title`` came later: events recorded before it have none, and readers show the node id
        self.waiting[f"{task_id}/timer/{node_id}"] = {"kind": "timer", "name": node_id, "due_at": due_at,
                                                      "task_id": task_id, "node_id": node_id,
                                                      "title": title or node_id}

    @event("MessageAwaited")
    def _message_awaited(self, task_id: str, node_id: str, message: str, at: datetime) -> None:
        self.waiting[f"{task_id}/message/{message}"] = {"kind": "message", "name": message, "node_id": node_id,
                                                         "task_id": task_id}

    @event("WaitEnded")
    def _wait_ended(self, task_id: str, node_id: str | None, how: str, at: datetime) -> None:
        for key in [k for k, w in self.waiting.items() if w["task_id"] == task_id]:
            del self.waiting[key]
        self.ready.pop(task_id, None)

    @event("DeviationRecorded")
    def _deviation_recorded(self, kind: str, task: str, reason: str, at: datetime, limit_minutes: int | None = None,
                            actual_minutes: int | None = None, limit_doses: int | None = None,
                            actual_doses: int | None = None) -> None:
        """A completion accepted outside a clinical limit because a person gave a reason (engine/clinical.py)."""
        self.deviations = [*self.deviations, {"kind": kind, "task": task, "reason": reason, "at": at}]

    @event("IncidentRaised")
    def _incident_raised(self, incident_id: str, node: str | None, task_id: str | None, error_class: str,
                         message: str, at: datetime) -> None:
        """A step of the model failed: the pathway stops here until the incident is retried."""
        if self.incident is not None:  # a retry that failed again: the new incident supersedes it
            self.closed_incidents = [*self.closed_incidents, self.incident["incident_id"]]
        self.incident = {"incident_id": incident_id, "node": node, "task_id": task_id, "error_class": error_class,
                         "message": message, "at": at}

    @event("IncidentResolved")
    def _incident_resolved(self, incident_id: str, at: datetime) -> None:
        self.closed_incidents = [*self.closed_incidents, incident_id]
        self.incident = None

    @event("MessageSent")
    def _message_sent(self, name: str, message_id: str, payload: dict[str, Any], at: datetime) -> None:
        for key in ("order_id", "coi"):
            if payload.get(key) is not None:
                self.correlation.setdefault(key, payload[key])
        if name == "order_placed" and payload.get("manufacturer"):
            self.correlation.setdefault("manufacturer", payload["manufacturer"])

    @event("PathwayEnded")
    def _ended(self, outcome: str, end_node: str | None, at: datetime) -> None:
        self.status = "ended"
        self.outcome = outcome
        self.ended_at = at
        self.ready.clear()
        self.waiting.clear()
        if self.incident is not None:  # an ended pathway has nothing left to retry
            self.closed_incidents = [*self.closed_incidents, self.incident["incident_id"]]
            self.incident = None
        self.engine_checkpoint = None
        self.engine_inputs = []

    # -- commands (the domain's verbs) --------------------------------------------
    def form_data(self, runtime: Runtime, task_id: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The ready task's name and ``data`` checked against its form and the chain of identity."""
        self.require_running()
        ready = self.ready.get(task_id)
        if ready is None:
            if task_id in self.closed_tasks:
                raise TaskNotReady(f"task {task_id} of pathway {self.id} is not ready: "
                                   f"it was {self.closed_tasks[task_id]}")
            runtime.ready_user_task(task_id)  # raises UnknownTask or TaskNotReady, naming the task
            raise TaskNotReady(f"task {task_id} is not ready in pathway {self.id}")
        name = ready["name"]
        form = runtime.model.forms.get(name)
        clean = form.validate(data, what=f"data for {name}") if form is not None else dict(data)
        self.check_coi(name, form, clean)
        return name, clean

    def complete_task(self, runtime: Runtime, task_id: str, data: dict[str, Any], actor: dict[str, Any],
                      at: datetime, deviations: Sequence[dict[str, Any]] = (),
                      signers: Sequence[dict[str, Any]] = ()) -> None:
        """Record the completion with its signatures, the deviations the clinical rules found in it,
        and what the engine did."""
        name, clean = self.form_data(runtime, task_id, data)
        signatures.check(runtime.model.forms.get(name), name, signers, actor)
        self._task_completed(task_id=task_id, name=name, lane=self.ready[task_id]["lane"], data=clean, actor=actor,
                             at=at, signatures=signatures.manifestations(self.id, task_id, name, clean, signers, at))
        found = [Outcome("DeviationRecorded", dict(d)) for d in deviations]
        self.apply_outcomes(found + runtime.complete(task_id, name, clean), at)

    def correct_task(self, task_id: str, task: str, field: str, value: Any, original: Any, reason: str,
                     decided_on_corrected_data: bool, actor: dict[str, Any], at: datetime) -> None:
        """Record a checked correction (engine/corrections.py decides it); an ended pathway is corrected too."""
        self._task_corrected(task_id=task_id, task=task, field=field, value=value, original=original, reason=reason,
                             actor=actor, at=at, decided_on_corrected_data=decided_on_corrected_data)

    def receive_message(self, runtime: Runtime | None, name: str, message_id: str, correlation: dict[str, Any],
                        payload: dict[str, Any], actor: dict[str, Any], at: datetime) -> None:
        self.require_active()
        if runtime is not None:  # an informative message moves no step: it is recorded even now
            self.require_running()
        self._message_received(name=name, message_id=message_id, correlation=correlation, payload=payload,
                               delivered=runtime is not None, actor=actor, at=at)
        if runtime is not None:
            self.apply_outcomes(runtime.deliver(name, {**payload, **correlation}), at)

    def fire_timers(self, runtime: Runtime, at: datetime) -> bool:
        """Fire what is due; a firing that moves nothing in the engine records nothing (False).

        A cycle timer that never advanced used to write an empty ``TimersFired`` on every
        round, forever. The caller must then drop ``runtime`` (its timer bookkeeping may
        have moved without an input to replay it from)."""
        self.require_running()
        outcomes = runtime.fire_timers()
        if not outcomes:
            return False
        self._timers_fired(at=at)
        self.apply_outcomes(outcomes, at)
        return True

    def retry_incident(self, runtime: Runtime | None, incident_id: str, data: dict[str, Any] | None,
                       actor: dict[str, Any], at: datetime) -> None:
        """Run the failed step again: resolved, with what followed; or a new incident."""
        self.require_active()
        incident = self.incident
        if incident is None or incident["incident_id"] != incident_id:
            if incident_id in self.closed_incidents:
                raise IncidentClosed(f"incident {incident_id} of pathway {self.id} is closed: nothing to retry")
            raise UnknownIncident(f"pathway {self.id} has no incident {incident_id}")
        assert runtime is not None  # an active pathway has its engine
        self._incident_retried(incident_id=incident_id, task_id=incident["task_id"], node=incident["node"],
                               data=dict(data or {}), actor=actor, at=at)
        self.apply_outcomes(runtime.retry(incident_id, incident["task_id"], incident["node"], data), at)

    def cancel(self, reason: str, comment: str | None, actor: dict[str, Any], at: datetime, *,
               death_date: str | None = None, death_cause: str | None = None) -> None:
        self.require_active()
        if reason not in CANCEL_REASONS:
            raise CancelRefused(f"reason must be one of {', '.join(CANCEL_REASONS)}",
                                errors={"reason": [f"must be one of {', '.join(CANCEL_REASONS)}"]})
        if self.infused and reason != "death" and reason not in HANDOVER_REASONS:
            raise CancelRefused(f"after infusion a pathway can only be ended for reason 'death', "
                                f"{', '.join(repr(r) for r in HANDOVER_REASONS)}",
                                errors={"reason": ["after infusion: death, " + ", ".join(HANDOVER_REASONS)]})
        if not self.infused and reason in HANDOVER_REASONS:
            raise CancelRefused(f"reason {reason!r} applies after infusion only",
                                errors={"reason": ["applies after infusion only"]})
        if reason == "death":
            missing = {n: ["required when the reason is death"] for n, v in
                       (("death_date", death_date), ("death_cause", death_cause)) if v in (None, "")}
            if missing:
                raise CancelRefused(f"a death cancel carries {' and '.join(missing)}", errors=missing)
            if death_cause not in DEATH_CAUSES:
                raise CancelRefused(f"death_cause must be one of {', '.join(DEATH_CAUSES)}",
                                    errors={"death_cause": [f"must be one of {', '.join(DEATH_CAUSES)}"]})
        elif death_date is not None or death_cause is not None:
            raise CancelRefused("death_date and death_cause belong to a cancel for reason death",
                                errors={n: ["only with reason death"] for n, v in
                                        (("death_date", death_date), ("death_cause", death_cause)) if v is not None})
        self._cancelled(reason=reason, comment=comment, actor=actor, at=at, death_date=death_date,
                        death_cause=death_cause)
        self.apply_outcomes(self.cancellation_outcomes(reason), at)

    def cancellation_outcomes(self, reason: str | None = None) -> list[Outcome]:
        """What a cancel for ``reason`` ends (``reason`` defaults to the recorded cancellation's)."""
        reason = reason or (self.cancellation or {}).get("reason")
        out = [Outcome("TaskWithdrawn", {"task_id": t, "name": r["name"]}) for t, r in self.ready.items()]
        waits = {w["task_id"]: w["node_id"] for w in self.waiting.values()}
        out += [Outcome("WaitEnded", {"task_id": t, "node_id": n, "how": "cancelled"}) for t, n in waits.items()]
        if not self.infused:
            outcome = "cancelled"
        else:
            outcome = "follow_up_handover" if reason in HANDOVER_REASONS else "deceased"
        out.append(Outcome("PathwayEnded", {"outcome": outcome, "end_node": None}))
        return out

    # -- helpers --------------------------------------------------------------------
    @property
    def infused(self) -> bool:
        return "infusion" in self.data

    # Kept in the state from v2 on; a snapshot taken before has neither (and nothing to put in them).
    @property
    def tocilizumab_given_at(self) -> list[str]:
        """``given_at`` of every tocilizumab toxicity_treatment recorded (the 24-hour limit counts them)."""
        return self.__dict__.get("_tocilizumab_given_at", [])

    @tocilizumab_given_at.setter
    def tocilizumab_given_at(self, value: list[str]) -> None:
        self.__dict__["_tocilizumab_given_at"] = value

    @property
    def latest_completion(self) -> dict[str, str]:
        """Task name -> id of its latest completion (whose data ``data[name]`` holds)."""
        return self.__dict__.get("_latest_completion", {})

    @latest_completion.setter
    def latest_completion(self, value: dict[str, str]) -> None:
        self.__dict__["_latest_completion"] = value

    @property
    def corrections(self) -> list[dict[str, Any]]:
        return self.__dict__.get("_corrections", [])

    @corrections.setter
    def corrections(self, value: list[dict[str, Any]]) -> None:
        self.__dict__["_corrections"] = value

    @property
    def deviations(self) -> list[dict[str, Any]]:
        return self.__dict__.get("_deviations", [])

    @deviations.setter
    def deviations(self, value: list[dict[str, Any]]) -> None:
        self.__dict__["_deviations"] = value

    @property
    def migrations(self) -> list[dict[str, Any]]:
        """The versions this pathway was moved between, oldest first (none before it was ever moved)."""
        return self.__dict__.get("_migrations", [])

    @migrations.setter
    def migrations(self, value: list[dict[str, Any]]) -> None:
        self.__dict__["_migrations"] = value

    def migrate(self, source: dict[str, Any], target: dict[str, Any], mapping: dict[str, str], actor: dict[str, Any],
                reason: str | None, at: datetime, move: Callable[[], list[Outcome]]) -> None:
        """Record the move, then let ``move`` move the engine (engine/migration.py) and record what it did.
        The input is recorded first, as for a completion: an engine that fails half-way is never kept."""
        self.require_active()
        self._migrated(from_=source, to=target, mapping=mapping, actor=actor, reason=reason, at=at)
        self.apply_outcomes(move(), at)

    @property
    def coi(self) -> str | None:
        return self.correlation.get("coi")

    def next_due(self) -> str | None:
        dues = [w["due_at"] for w in self.waiting.values() if w["kind"] == "timer" and w.get("due_at")]
        return min(dues) if dues else None

    def require_active(self) -> None:
        if self.status != "active":
            raise PathwayEnded(f"pathway {self.id} has ended ({self.outcome})")

    def require_running(self) -> None:
        """Active and not stopped by an incident: only then may a step run."""
        self.require_active()
        if self.incident is not None:
            raise IncidentOpen(f"pathway {self.id} is stopped by incident {self.incident['incident_id']} at "
                               f"{self.incident['node']}: retry it once the cause is fixed, or cancel the pathway",
                               incident_id=self.incident["incident_id"])

    # Kept in the state since incidents; a snapshot taken before has neither (and no incident).
    @property
    def incident(self) -> dict[str, Any] | None:
        """The open incident, if a step failed and was not retried successfully yet."""
        return self.__dict__.get("_incident")

    @incident.setter
    def incident(self, value: dict[str, Any] | None) -> None:
        self.__dict__["_incident"] = value

    @property
    def closed_incidents(self) -> list[str]:
        return self.__dict__.get("_closed_incidents", [])

    @closed_incidents.setter
    def closed_incidents(self, value: list[str]) -> None:
        self.__dict__["_closed_incidents"] = value

    def check_coi(self, name: str, form, clean: dict[str, Any]) -> None:
        if form is None or not form.coi_checks:
            return
        for field_name in form.coi_checks:
            scanned = clean.get(field_name)
            if self.coi is None or scanned != self.coi:
                raise CoiMismatch(
                    f"chain of identity broken at {name}: {field_name} is {scanned!r} "
                    f"but the pathway's COI is {self.coi!r}",
                    field=field_name, scanned=scanned, expected=self.coi)

    _APPLY = {
        "TaskBecameReady": "_task_ready", "TaskWithdrawn": "_task_withdrawn", "NodeCompleted": "_node_completed",
        "TimerArmed": "_timer_armed", "MessageAwaited": "_message_awaited", "WaitEnded": "_wait_ended",
        "MessageSent": "_message_sent", "PathwayEnded": "_ended", "DeviationRecorded": "_deviation_recorded",
        "IncidentRaised": "_incident_raised", "IncidentResolved": "_incident_resolved",
    }

    def apply_outcomes(self, outcomes: list[Outcome], at: datetime) -> None:
        for outcome in outcomes:
            getattr(self, self._APPLY[outcome.kind])(**outcome.data, at=at)


pin_topics("pathway", Pathway)
