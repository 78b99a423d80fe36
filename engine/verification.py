"""``verify``: re-execute a pathway's recorded inputs and compare the outcomes.

Auditors need more than a log: they need to know the log is what the process
definition, given those inputs, actually does. Verification starts from an
empty engine on the recorded definition version, replays each input at its
recorded time, and compares the outcomes it gets with the recorded ones, event
by event. The first difference is reported with both sides.

A pathway moved between versions (``Migrated``) is replayed segment by segment:
each on the version it ran on, the move itself re-executed on the recorded
engine state, and each version's files checked against the fingerprint the
pathway recorded for it.
"""
from __future__ import annotations

import uuid
from typing import Any

from . import clinical, signatures
from .definitions import ProcessModel
from .pathway import INPUT_EVENTS, Pathway
from .replay import ModelOf
from .runtime import Outcome

_IGNORED = {"originator_id", "originator_version", "timestamp", "at"}


def _recorded(ev) -> tuple[str, dict[str, Any]]:
    return type(ev).__name__, {k: v for k, v in ev.__dict__.items() if k not in _IGNORED and v is not None}


# Optional fields an outcome gained after stores were written: an event recorded before
# carries none, and that is not a divergence.
_ADDED_LATER = {"TimerArmed": frozenset({"title"}),
                "TaskBecameReady": frozenset({"due_at"})}  # (upcast: None) nothing recorded to compare


def _expected(outcome: Outcome) -> tuple[str, dict[str, Any]]:
    return outcome.kind, {k: v for k, v in outcome.data.items() if v is not None}


def _same(got: tuple[str, dict[str, Any]] | None, want: tuple[str, dict[str, Any]] | None) -> bool:
    if got is None or want is None or got[0] != want[0]:
        return got == want
    later = _ADDED_LATER.get(got[0], frozenset())
    return {k: v for k, v in got[1].items() if k not in later or k in want[1]} == want[1]


def verify_pathway(pathway_id: uuid.UUID, events: list, model: ProcessModel,
                   model_of: ModelOf | None = None) -> dict[str, Any]:
    """``model``: the version the pathway started on; ``model_of``: any other version, for the
    segments after a migration."""
    from .replay import replay_with_outcomes  # one replay path for load and verify

    if not events:
        return {"ok": False, "pathway_id": str(pathway_id), "reason": "no events"}
    first = events[0]
    recorded_sha = first.definition.get("sha256")
    if recorded_sha != model.sha256:
        return _diverged(pathway_id, first, "definition fingerprint differs",
                         {"sha256": recorded_sha}, {"sha256": model.sha256})
    runtime = None
    state: Pathway | None = None
    i = 0
    while i < len(events):
        ev = events[i]
        name = type(ev).__name__
        if name not in INPUT_EVENTS:
            return _diverged(pathway_id, ev, "outcome event without a preceding input", None, _recorded(ev))
        j = i + 1
        while j < len(events) and type(events[j]).__name__ not in INPUT_EVENTS:
            j += 1
        entry = _engine_input(ev)
        signed = getattr(ev, "signatures", None) or [] if name == "TaskCompleted" else []
        forged = signatures.mismatches(pathway_id, ev.task_id, ev.name, ev.data, signed) if signed else []
        if forged:
            return _diverged(pathway_id, ev, "a signature's sha256 is not that of the recorded completion",
                             {"signatures": forged}, None)
        if name == "Migrated":
            target = model_of(ev.to["version"]) if model_of is not None else None
            if target is None or target.sha256 != ev.to.get("sha256"):
                return _diverged(pathway_id, ev, "definition fingerprint differs", {"sha256": ev.to.get("sha256")},
                                 {"sha256": target.sha256 if target is not None else None})
        try:
            if name == "Cancelled":
                outcomes = state.cancellation_outcomes(ev.reason) if state else []
            elif entry is None:
                outcomes = []
            else:
                runtime, outcomes = replay_with_outcomes(runtime, model, pathway_id, entry, model_of)
                model = runtime.model  # a migration moved it: the next segment runs on the new version
                if name == "TaskCompleted" and state is not None:
                    outcomes = _deviations(state, ev, model) + outcomes
        except Exception as err:  # the definition refuses what was once accepted: a divergence
            return _diverged(pathway_id, ev, f"re-execution failed: {err}", None, _recorded(ev))
        recorded = events[i + 1:j]
        for k in range(max(len(recorded), len(outcomes))):
            got = _expected(outcomes[k]) if k < len(outcomes) else None
            want = _recorded(recorded[k]) if k < len(recorded) else None
            if not _same(got, want):
                at = recorded[k] if k < len(recorded) else ev
                return _diverged(pathway_id, at, "outcome differs from re-execution", want, got)
        for rec in events[i:j]:
            state = rec.mutate(state)
        i = j
    return {"ok": True, "pathway_id": str(pathway_id), "events": len(events)}


def _deviations(state: Pathway, ev, model: ProcessModel) -> list[Outcome]:
    """The deviations the clinical rules find in a recorded completion, given the history before it."""
    form = model.forms.get(ev.name)
    declared = [f.name for f in form.fields] if form is not None else []
    found = clinical.deviations(clinical.Facts.of(state), ev.name, ev.data, declared)
    return [Outcome("DeviationRecorded", d.as_event()) for d in found]


def _engine_input(ev) -> dict[str, Any] | None:
    name = type(ev).__name__
    seq, at = ev.originator_version, ev.at.isoformat()
    if name == "Started":
        return {"kind": "start", "seq": 1, "at": at, "data": _start_data(ev)}
    if name == "TaskCompleted":
        return {"kind": "complete", "seq": seq, "at": at, "task_id": ev.task_id, "name": ev.name, "data": ev.data}
    if name == "MessageReceived":
        return {"kind": "message", "seq": seq, "at": at, "name": ev.name,
                "payload": {**ev.payload, **ev.correlation}} if ev.delivered else None
    if name == "TimersFired":
        return {"kind": "timers", "seq": seq, "at": at}
    if name == "IncidentRetried":
        return {"kind": "retry", "seq": seq, "at": at, "incident_id": ev.incident_id, "task_id": ev.task_id,
                "node": ev.node, "data": ev.data}
    if name == "Migrated":
        return {"kind": "migrate", "seq": seq, "at": at, "from": ev.from_["version"], "to": ev.to["version"],
                "mapping": ev.mapping}
    return None


def _start_data(ev) -> dict[str, Any]:
    return dict(ev.start)


def _diverged(pathway_id, ev, reason: str, recorded, reexecuted) -> dict[str, Any]:
    return {
        "ok": False, "pathway_id": str(pathway_id), "reason": reason,
        "first_divergent_event": {"version": ev.originator_version, "type": type(ev).__name__},
        "recorded": _plain(recorded), "re_executed": _plain(reexecuted),
    }


def _plain(value):
    if isinstance(value, tuple):
        return {"type": value[0], "data": value[1]}
    return value
