"""Issue 16's storage: an ended pathway keeps no snapshot (its events are the record), and
what is stored compactly reads back the same, on the store this suite runs on."""
from __future__ import annotations

from datetime import timedelta

from cartpath.engine.application import CartPath
from cartpath.engine.integrity import check_integrity
from cartpath.engine.lint import read_paths
from tests.support.store import FIXTURES, T0, ready_named


def drive_loop(app: CartPath, days: int, patient_ref: str = "P-1"):
    p = app.start_pathway(patient_ref, "FR-01", "MM", "cilta-cel", process_key="loop_pathway").pathway
    for day in range(1, days + 1):
        p = app.complete_task(p.id, ready_named(app.get_pathway(p.id), "assess"), {"value": day})
        app.fire_due_timers(T0 + timedelta(days=day, hours=1))
    return app.get_pathway(p.id)


def straight_replay(app: CartPath, pathway_id):
    state = None
    for ev in app.events.get(pathway_id):
        state = ev.mutate(state)
    return state


def test_an_ended_pathway_keeps_no_snapshot_and_still_loads_reads_and_verifies(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = drive_loop(app, 12)
    assert list(app.snapshots.get(p.id)), "a long-running active pathway is snapshotted"
    ended = app.complete_task(p.id, ready_named(p, "assess"), {"value": -1})
    assert ended.status == "ended" and ended.outcome == "follow_up_handover"
    assert list(app.snapshots.get(p.id)) == []

    cold = CartPath(env=app.env)  # nothing cached: the pathway is rebuilt from its events alone
    loaded = cold.get_pathway(p.id)
    straight = straight_replay(cold, p.id)
    for name in ("version", "status", "outcome", "data", "ready", "waiting", "ended_at", "closed_tasks"):
        assert getattr(loaded, name) == getattr(straight, name), name
    assert loaded.engine_checkpoint is None
    history = cold.history(p.id)
    assert history[-1]["type"] == "PathwayEnded" and len(history) == loaded.version
    assert cold.verify(p.id)["ok"]
    assert check_integrity(cold, p.id).ok


def test_a_cancelled_pathway_drops_its_snapshot_too(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = drive_loop(app, 12, "P-2")
    assert list(app.snapshots.get(p.id))
    app.cancel(p.id, "patient_decision", None)
    assert list(app.snapshots.get(p.id)) == []
    cold = CartPath(env=app.env)
    assert cold.get_pathway(p.id).outcome == "cancelled"
    assert cold.verify(p.id)["ok"]

