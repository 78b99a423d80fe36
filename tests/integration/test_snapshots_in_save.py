"""Snapshots written in the save's own transaction (SQLite; on PostgreSQL they follow the save):
the snapshot a command takes is there with the pathway's version, a cold load starts from it
and equals the straight replay of the events, and a save that fails leaves no snapshot of its own."""
from __future__ import annotations

import os

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.errors import TaskNotReady
from cartpath.engine.integrity import check_integrity
from cartpath.engine.lint import read_paths
from cartpath.engine.store import SQLiteRecorderWithSnapshots
from cartpath.engine.unit_of_work import SNAPSHOT_INPUTS
from tests.integration.test_compact_storage import drive_loop, straight_replay
from tests.support.store import FIXTURES, ready_named

ON_SQLITE = os.environ.get("CARTPATH_TEST_STORE") != "postgres"


def snapshot_versions(app: CartPath, pathway_id) -> list[int]:
    return [s.originator_version for s in app.snapshots.recorder.select_events(pathway_id)]


def test_the_snapshot_a_command_takes_is_stored_with_its_save_and_loads(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    assert isinstance(app.recorder, SQLiteRecorderWithSnapshots) == ON_SQLITE
    p = drive_loop(app, 3)  # the start and 3 x (completion, firing): 7 inputs, one short of a snapshot
    assert len(p.engine_inputs) == SNAPSHOT_INPUTS - 1 and snapshot_versions(app, p.id) == []
    p = app.complete_task(p.id, ready_named(p, "assess"), {"value": 4})
    assert snapshot_versions(app, p.id) == [p.version]

    cold = CartPath(env=app.env)
    loaded, straight = cold.get_pathway(p.id), straight_replay(cold, p.id)
    assert loaded.engine_checkpoint is not None and loaded.engine_inputs == []
    for name in ("version", "status", "data", "ready", "waiting", "closed_tasks"):
        assert getattr(loaded, name) == getattr(straight, name), name
    assert cold.verify(p.id)["ok"] and check_integrity(cold, p.id).ok


def test_a_save_that_fails_leaves_no_snapshot(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = drive_loop(app, 3)
    task = ready_named(p, "assess")
    other = CartPath(env=app.env)  # another process: it completes the task first
    done = other.complete_task(p.id, task, {"value": 4})
    assert snapshot_versions(app, p.id) == [done.version]
    with pytest.raises(TaskNotReady):
        # this process's copy is stale: its save (with the snapshot due at the same version) conflicts and
        # rolls back; decided again on the store's state, the task is no longer ready
        app.complete_task(p.id, task, {"value": 5})
    assert snapshot_versions(app, p.id) == [done.version]
    kept = app.snapshots.get(p.id)
    assert [s.state["data"]["assess"]["value"] for s in kept] == [4]

