"""Stores written before a change keep loading: events, snapshots and topics of the past.

``fixtures/stores/main_2026-12-01.sqlite3`` was written by ``cartpath demo --patients 8
--seed 3`` with the code as it was on main on 2026-12-01 (top-level ``engine`` package,
contract version 1 model): its topics name ``engine.<module>`` classes.
"""
from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

from cartpath.engine.application import CartPath

STORE = Path(__file__).resolve().parent.parent / "fixtures" / "stores" / "main_2026-12-01.sqlite3"


def _open(tmp_path: Path) -> CartPath:
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(STORE, copy)
    return CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
                         "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"})


def test_a_store_written_by_the_first_main_verifies(tmp_path):
    app = _open(tmp_path)
    ids = app.pathway_ids()
    assert len(ids) == 8
    results = [app.verify(pid) for pid in ids]
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]]
    outcomes = sorted(app.get_pathway(pid).outcome or "" for pid in ids)
    assert outcomes == sorted(["cancelled", "not_eligible"] + ["follow_up_handover"] * 6)


def test_new_events_keep_the_topics_of_the_first_stores(tmp_path):
    app = _open(tmp_path)
    app.deploy_bundled()
    started = app.start_pathway("PSN-0042", "FR-01", "DLBCL", "axi-cel")
    with sqlite3.connect(tmp_path / "cartpath.sqlite3") as db:
        topics = {row[0] for row in db.execute("SELECT DISTINCT topic FROM stored_events")}
        mine = {row[0] for row in db.execute("SELECT topic FROM stored_events WHERE originator_id = ?",
                                              (started.pathway.id.hex,))}
    assert mine and all(t.startswith("engine.pathway:Pathway") for t in mine), mine
    assert not any(t.startswith("cartpath.") for t in topics), topics


def test_ready_tasks_recorded_before_deadlines_were_read_with_none_and_new_ones_record_theirs(tmp_path):
    from cartpath.projections.log import EventLog
    app = _open(tmp_path)
    with sqlite3.connect(tmp_path / "cartpath.sqlite3") as db:
        states = [row[0] for row in db.execute("SELECT state FROM stored_events WHERE topic = ?",
                                               ("engine.pathway:Pathway.TaskBecameReady",))]
    assert states and not any(b"due_at" in s or b"class_version" in s for s in states)
    old = [ev for pid in app.pathway_ids() for ev in app.events.get(pid) if type(ev).__name__ == "TaskBecameReady"]
    assert len(old) == len(states) and all(ev.due_at is None for ev in old)   # upcast from version 1
    log = EventLog(app)
    read, _ = log.read(0, 1_000_000, log.head())
    assert [ev.data["due_at"] for ev in read if ev.kind == "TaskBecameReady"] == [None] * len(states)

    app.deploy_bundled()
    started = app.start_pathway("PSN-0042", "FR-01", "DLBCL", "axi-cel")
    [task] = app.ready_tasks(started.pathway.id)
    assert task["name"] == "rcp_eligibility"
    assert task["due_at"] == (started.pathway.started_at + timedelta(days=14)).isoformat()  # <cartpath:due P14D>
    read, _ = log.read(0, 1_000_000, log.head())
    assert read[-1].kind == "TaskBecameReady" and read[-1].data["due_at"] == task["due_at"]
    assert app.verify(started.pathway.id)["ok"]
