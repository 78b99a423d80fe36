"""The domain model with no store: SpiffWorkflow's Runtime on the mini process, and the Pathway
aggregate deciding and recording events in memory (nothing saved, nothing read back)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cartpath.engine import determinism, errors
from cartpath.engine.definitions import parse_model
from cartpath.engine.lint import read_paths
from cartpath.engine.pathway import Pathway
from cartpath.engine.replay import materialise
from cartpath.engine.runtime import Runtime
from tests.support.store import FIXTURES, T0

START = {"patient_ref": "P-0001", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel"}
ACTOR = {"sub": "nurse-1", "roles": ["coordination"]}
PID = uuid.UUID(int=42)


@pytest.fixture(scope="module")
def model():
    files = read_paths([FIXTURES / "mini_pathway.bpmn"])
    return parse_model("mini_pathway", 1, files)


def started(model) -> tuple[Pathway, Runtime]:
    with determinism.engine_run(T0, PID, 1):
        runtime = Runtime.create(model)
        outcomes = runtime.start(dict(START))
    pathway = Pathway(id=PID, definition={"key": model.key, "version": 1, "sha256": model.sha256}, start=START,
                      business_key=None, actor=ACTOR, at=T0)
    pathway.apply_outcomes(outcomes, T0)
    return pathway, runtime


def only_ready(pathway: Pathway, name: str) -> str:
    [task_id] = [t for t, r in pathway.ready.items() if r["name"] == name]
    return task_id


def test_runtime_start_readies_the_first_task_with_its_recorded_deadline(model):
    with determinism.engine_run(T0, PID, 1):
        outcomes = Runtime.create(model).start(dict(START))
    assert [o.kind for o in outcomes] == ["NodeCompleted", "TaskBecameReady"]
    ready = outcomes[1].data
    assert (ready["name"], ready["lane"]) == ("intake", "coordination")
    assert ready["due_at"] == (T0 + timedelta(days=2)).isoformat()  # <cartpath:due duration="P2D"/>


def test_runtime_outside_an_engine_run_is_refused(model):
    with pytest.raises(determinism.NoEngineRun):
        Runtime.create(model).start(dict(START))


def test_pathway_start_complete_message_timer_in_memory(model):
    pathway, runtime = started(model)
    assert pathway.status == "active" and pathway.ready[only_ready(pathway, "intake")]["due_at"] is not None

    at = T0 + timedelta(hours=1)
    with determinism.engine_run(at, PID, pathway.version + 1):
        pathway.complete_task(runtime, only_ready(pathway, "intake"), {"ok": True, "order_id": "ORD-1"}, ACTOR, at)
    sent = [e for e in pathway.pending_events if type(e).__name__ == "MessageSent"]
    assert [e.name for e in sent] == ["order_placed"] and pathway.correlation["order_id"] == "ORD-1"
    assert runtime.waits_for("slot_confirmed")

    at += timedelta(hours=1)
    with determinism.engine_run(at, PID, pathway.version + 1):
        pathway.receive_message(runtime, "slot_confirmed", "m-1", {"order_id": "ORD-1", "coi": "COI-1"},
                                {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}, ACTOR, at)
    assert pathway.coi == "COI-1"
    due = pathway.next_due()
    assert due == (at + timedelta(days=1)).isoformat()  # the mini process waits one day before the check

    fire_at = at + timedelta(days=1, microseconds=1)
    with determinism.engine_run(fire_at, PID, pathway.version + 1):
        pathway.fire_timers(runtime, fire_at)
    check = only_ready(pathway, "check")

    before = pathway.version
    with pytest.raises(errors.CoiMismatch):  # the chain of identity: a wrong scan changes nothing
        with determinism.engine_run(fire_at, PID, pathway.version + 1):
            pathway.complete_task(runtime, check, {"coi_scanned": "COI-X", "n": 1}, ACTOR, fire_at)
    assert pathway.version == before and check in pathway.ready
    with determinism.engine_run(fire_at, PID, pathway.version + 1):
        pathway.complete_task(runtime, check, {"coi_scanned": "COI-1", "n": 1}, ACTOR, fire_at)
    assert (pathway.status, pathway.outcome) == ("ended", "follow_up_handover")
    with pytest.raises(errors.PathwayEnded):
        pathway.cancel("other", None, ACTOR, fire_at)


def test_the_engine_rebuilt_from_recorded_inputs_continues_the_same(model):
    pathway, runtime = started(model)
    at = T0 + timedelta(hours=1)
    with determinism.engine_run(at, PID, pathway.version + 1):
        pathway.complete_task(runtime, only_ready(pathway, "intake"), {"ok": True, "order_id": "ORD-1"}, ACTOR, at)
    rebuilt = materialise(pathway, model)  # what a load does: replay the inputs the aggregate recorded
    assert rebuilt.waits_for("slot_confirmed") and rebuilt.checkpoint() == runtime.checkpoint()


def test_cancel_withdraws_ready_tasks_and_ends_cancelled(model):
    pathway, _ = started(model)
    with pytest.raises(errors.CancelRefused):
        pathway.cancel("boredom", None, ACTOR, T0)
    pathway.cancel("patient_decision", "moved abroad", ACTOR, T0)
    kinds = [type(e).__name__ for e in pathway.pending_events]
    assert kinds[-3:] == ["Cancelled", "TaskWithdrawn", "PathwayEnded"]
    assert (pathway.status, pathway.outcome, pathway.ready) == ("ended", "cancelled", {})


def test_a_checkpoint_is_the_serializers_state_without_the_specs_and_restores(model):
    import json

    from cartpath.engine.definitions import SERIALIZER
    _, runtime = started(model)
    mine = json.loads(runtime.checkpoint())
    SERIALIZER.registry._encoder_mode = True
    try:
        full = SERIALIZER.to_dict(runtime.workflow)
    finally:
        SERIALIZER.registry._encoder_mode = False
    full.pop("spec"), full.pop("subprocess_specs")
    assert mine == json.loads(json.dumps(full, cls=SERIALIZER._encoder_cls))
    with determinism.engine_run(T0, PID, 2):
        again = Runtime.restore(model, runtime.checkpoint())
    assert again.checkpoint() == runtime.checkpoint()
