"""Determinism, snapshots and verification: history must be reproducible from its inputs."""
import dataclasses
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartpath.engine.application import CartPath, materialise
from cartpath.engine.lint import read_paths
from cartpath.engine.pathway import Pathway
from cartpath.engine.verification import verify_pathway
from tests.support.store import FIXTURES, T0, ready_named, store_env


def fresh_app(directory) -> CartPath:
    app = CartPath(env=store_env(Path(directory)))
    app.deploy(read_paths([FIXTURES / "mini_pathway.bpmn", FIXTURES / "loop_pathway.bpmn"]))
    return app


def drive_loop(app: CartPath, days: int, key: str = "bk-loop"):
    p = app.start_pathway("P-1", "FR-01", "MM", "cilta-cel", business_key=key, process_key="loop_pathway").pathway
    for day in range(1, days + 1):
        p = app.complete_task(p.id, ready_named(app.get_pathway(p.id), "assess"), {"value": day})
        app.fire_due_timers(T0 + timedelta(days=day, hours=1))
    return app.get_pathway(p.id)


def comparable(history):
    return [(h["version"], h["type"], h["at"], {k: v for k, v in h["data"].items()}) for h in history]


def test_same_inputs_give_identical_histories_in_two_stores():
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        app_a, app_b = fresh_app(a), fresh_app(b)
        pa, pb = drive_loop(app_a, 8), drive_loop(app_b, 8)
        assert pa.id == pb.id
        assert comparable(app_a.history(pa.id)) == comparable(app_b.history(pb.id))


def test_snapshot_checkpoint_equals_straight_replay(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = drive_loop(app, 20)
    assert p.version > 100
    # a cold process loads from the snapshot + checkpoint ...
    cold = CartPath(env=app.env)
    from_snapshot = cold.get_pathway(p.id)
    assert from_snapshot.engine_checkpoint is not None and len(from_snapshot.engine_inputs) < 10
    model = cold.model("loop_pathway", 1)
    # ... and must hold exactly the engine state of replaying every input from event zero
    straight = None
    for ev in cold.events.get(p.id):
        straight = ev.mutate(straight)
    assert straight.engine_checkpoint is None and len(straight.engine_inputs) > 20
    assert materialise(from_snapshot, model).checkpoint() == materialise(straight, model).checkpoint()
    # restoring must not consume anything shared: a second (and third) restore in the same process
    assert materialise(from_snapshot, model).checkpoint() == materialise(from_snapshot, model).checkpoint()
    # and it carries on from there
    cold.complete_task(p.id, ready_named(from_snapshot, "assess"), {"value": -1})
    assert cold.get_pathway(p.id).outcome == "follow_up_handover"
    assert cold.verify(p.id)["ok"]


def test_verify_reports_the_first_divergent_event(app):
    from tests.support.store import run_mini_to_slot
    p = run_mini_to_slot(app)
    events = list(app.events.get(p.id))
    model = app.model("mini_pathway", 1)
    assert verify_pathway(p.id, events, model)["ok"]
    idx = next(i for i, ev in enumerate(events) if isinstance(ev, Pathway.MessageSent))
    tampered = events[:idx] + [dataclasses.replace(events[idx], payload={"order_id": "ORD-FORGED"})] + events[idx + 1:]
    result = verify_pathway(p.id, tampered, model)
    assert result["ok"] is False
    assert result["first_divergent_event"] == {"version": events[idx].originator_version, "type": "MessageSent"}
    assert result["recorded"]["data"]["payload"] == {"order_id": "ORD-FORGED"}
    assert result["re_executed"]["data"]["payload"]["order_id"] == "ORD-1"
    other = app.deploy({"mini_pathway.bpmn": model.files["mini_pathway.bpmn"].replace(b"count = 1", b"count = 2")})
    assert verify_pathway(p.id, events, app.model("mini_pathway", other[0]["version"]))["reason"] == \
        "definition fingerprint differs"


ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("complete"), st.booleans(), st.integers(-3, 10)),
    st.tuples(st.just("slot"), st.sampled_from(["COI-1", "COI-2"])),
    st.tuples(st.just("status"), st.text("abcdefgh", min_size=1, max_size=5)),
    st.tuples(st.just("tick"), st.integers(1, 60)),
    st.tuples(st.just("cancel"), st.sampled_from(["death", "progression", "other"])),
), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_any_valid_input_sequence_verifies(actions):
    """Random interleavings of completions, messages, timer ticks and cancellations, on
    two processes at once: whatever happened, re-execution reproduces it exactly."""
    with tempfile.TemporaryDirectory() as directory:
        app = fresh_app(directory)
        mini = app.start_pathway("P-M1", "FR-01", "ALL", "tisa-cel", process_key="mini_pathway").pathway.id
        loop = app.start_pathway("P-L1", "FR-02", "FL", "axi-cel", process_key="loop_pathway").pathway.id
        now = T0
        for action in actions:
            kind = action[0]
            for pid in (mini, loop):
                p = app.get_pathway(pid)
                if p.status != "active":
                    continue
                if kind == "complete" and p.ready:
                    task = next(iter(p.ready.values()))
                    data = {"intake": {"ok": action[1], "order_id": "ORD-1"},
                            "check": {"coi_scanned": p.coi or "", "n": max(action[2], 0)},
                            "assess": {"value": action[2]}}[task["name"]]
                    app.complete_task(pid, task["id"], data)
                elif kind == "slot" and pid == mini and any(w["name"] == "slot_confirmed" for w in p.waiting.values()):
                    app.deliver_message("slot_confirmed", f"m-{len(app.history(pid))}",
                                        {"order_id": "ORD-1", "coi": action[1]},
                                        {"apheresis_date": "2026-02-01", "manufacturing_slot": "S"})
                elif kind == "status" and pid == mini and p.coi:
                    app.deliver_message("manufacturing_status", f"s-{action[1]}-{len(app.history(pid))}",
                                        {"order_id": "ORD-1", "coi": p.coi},
                                        {"stage": action[1], "at": "2026-02-03T10:00:00+00:00"})
                elif kind == "cancel" and not p.infused and len(actions) % 7 == 0:
                    death = {"death_date": T0.date().isoformat(), "death_cause": "progression"}
                    app.cancel(pid, action[1], **(death if action[1] == "death" else {}))
            if kind == "tick":
                now += timedelta(hours=action[1])
                app.fire_due_timers(now)
        for pid in (mini, loop):
            result = app.verify(pid)
            assert result["ok"], result


def test_old_snapshots_are_pruned_but_loading_still_works(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = drive_loop(app, 30)
    snapshots = list(app.snapshots.get(p.id))
    assert 1 <= len(snapshots) <= 3, [s.originator_version for s in snapshots]
    cold = CartPath(env=app.env)
    cold.complete_task(p.id, ready_named(cold.get_pathway(p.id), "assess"), {"value": -1})
    assert cold.verify(p.id)["ok"]
