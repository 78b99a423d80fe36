"""Rebuilding a pathway's engine from its recorded inputs (load, and verify)."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from . import determinism
from .definitions import ProcessModel
from .errors import UnknownPathway
from .pathway import Pathway
from .runtime import Outcome, Runtime
from .times import parse_instant


def replay_events(aggregate, events):
    """eventsourcing's default projector checks each event against runtime Protocols,
    which costs more than applying our events; ours are all plain aggregate events."""
    for ev in events:
        aggregate = ev.mutate(aggregate)
    return aggregate


# version -> the parsed model of that version of the pathway's process
ModelOf = Callable[[int], ProcessModel]


def materialise(pathway: Pathway, model: ProcessModel, model_of: ModelOf | None = None) -> Runtime:
    """Rebuild the engine state: checkpoint (if any), then the inputs since, each at its own time.

    ``model`` is the version the pathway runs now; when a migration is among the inputs since
    the checkpoint, the checkpoint (or the start) is on the version it was moved from, which
    ``model_of`` gives."""
    moves = [e for e in pathway.engine_inputs if e["kind"] == "migrate"]
    if moves and model_of is None:
        raise ValueError("a pathway moved between versions needs model_of to be rebuilt")
    first = model_of(moves[0]["from"]) if moves and model_of is not None else model
    runtime = None
    if pathway.engine_checkpoint is not None:
        with determinism.engine_run(pathway.last_at, pathway.id, 0):
            runtime = Runtime.restore(first, pathway.engine_checkpoint)
    for entry in pathway.engine_inputs:
        runtime = replay_with_outcomes(runtime, first, pathway.id, entry, model_of)[0]
    if runtime is None:
        raise UnknownPathway(f"pathway {pathway.id} has no engine state (has it ended?)")
    return runtime


def replay_input(runtime: Runtime | None, model: ProcessModel, pathway_id: uuid.UUID, entry: dict[str, Any]):
    """Run one recorded input through the engine; returns the runtime and the outcomes."""
    return replay_with_outcomes(runtime, model, pathway_id, entry)[0]


def replay_with_outcomes(runtime: Runtime | None, model: ProcessModel, pathway_id: uuid.UUID,
                         entry: dict[str, Any], model_of: ModelOf | None = None) -> tuple[Runtime, list[Outcome]]:
    """``model`` starts an engine; a migration moves it to ``model_of(entry["to"])``."""
    at = parse_instant(entry["at"])
    with determinism.engine_run(at, pathway_id, entry["seq"]):
        kind = entry["kind"]
        if kind == "start":
            runtime = Runtime.create(model)
            outcomes = runtime.start(entry["data"])
        elif runtime is None:
            raise ValueError(f"engine input {kind} before the start")
        elif kind == "complete":
            outcomes = runtime.complete(entry["task_id"], entry["name"], entry["data"])
        elif kind == "message":
            outcomes = runtime.deliver(entry["name"], entry["payload"])
        elif kind == "timers":
            outcomes = runtime.fire_timers()
        elif kind == "retry":
            outcomes = runtime.retry(entry["incident_id"], entry.get("task_id"), entry.get("node"), entry.get("data"))
        elif kind == "migrate":
            from .migration import migrate_runtime
            if model_of is None:
                raise ValueError("a migration needs the version it moves to")
            outcomes = migrate_runtime(runtime, model_of(entry["to"]), entry["mapping"])
        else:
            raise ValueError(f"unknown engine input {kind}")
    return runtime, outcomes
