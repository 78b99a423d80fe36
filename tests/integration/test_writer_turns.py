"""SQLite saves take turns through ``<database>-writer`` (engine/writer_turns.py): a save waits for its
turn in the kernel, before it asks SQLite for the database's write lock, and a forked process takes
turns with its parent instead of sharing the parent's. The store here is always a SQLite file (the
turns are the SQLite store's), on both passes of the suite."""
from __future__ import annotations

import fcntl
import multiprocessing
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.lint import read_paths
from cartpath.engine.writer_turns import WriterTurns, lock_path
from tests.support.store import FIXTURES, T0, start_mini

WAIT = 0.5  # how long a save is given to get past a turn that is held (it must not)


@pytest.fixture
def sqlite_app(tmp_path: Path) -> CartPath:
    env = {"CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": T0.isoformat(),
           "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "cartpath.sqlite3")}
    app = CartPath(env=env)
    app.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
    return app


def start_in_thread(app: CartPath, patient_ref: str) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["pathway"] = start_mini(app, patient_ref)
        except BaseException as err:  # reported by the test
            result["error"] = err
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def pathway_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(DISTINCT originator_id) FROM stored_events "
                            "WHERE topic LIKE '%Pathway.Started'").fetchone()[0]


def test_a_save_waits_for_its_turn_before_it_takes_sqlites_lock(sqlite_app, tmp_path):
    db = tmp_path / "cartpath.sqlite3"
    start_mini(sqlite_app, "P-0001")
    turn_file = Path(f"{db}-writer")
    assert turn_file.exists() and stat.S_IMODE(turn_file.stat().st_mode) == 0o600

    fd = os.open(turn_file, os.O_RDWR)  # another writer's open file: its turn
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        thread, result = start_in_thread(sqlite_app, "P-0002")
        thread.join(WAIT)
        assert thread.is_alive() and not result, "the save went ahead while another writer had its turn"
        # it waits before SQLite's lock: another connection can still write the database meanwhile
        with sqlite3.connect(db, timeout=0) as other:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        assert pathway_count(db) == 1
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    thread.join(30)
    assert "error" not in result and result["pathway"].patient_ref == "P-0002"
    assert pathway_count(db) == 2


def _hold_turn(db_name: str, holding, release) -> None:
    turns = _INHERITED["turns"]  # the parent's object, copied by fork()
    assert turns.path == lock_path(db_name)
    with turns.turn():
        holding.set()
        release.wait(30)


_INHERITED: dict = {}


def test_a_forked_process_takes_turns_with_its_parent_not_the_parents_turn(sqlite_app, tmp_path):
    db = str(tmp_path / "cartpath.sqlite3")
    start_mini(sqlite_app, "P-0001")  # the parent has opened its turn file
    _INHERITED["turns"] = sqlite_app.recorder.turns
    ctx = multiprocessing.get_context("fork")
    holding, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_turn, args=(db, holding, release))
    child.start()
    try:
        assert holding.wait(30)
        thread, result = start_in_thread(sqlite_app, "P-0002")
        thread.join(WAIT)
        assert thread.is_alive() and not result, "the parent saved during its child's turn"
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0
    thread.join(30)
    assert "error" not in result and pathway_count(Path(db)) == 2


def test_a_turn_is_reentrant_and_released_once_left(tmp_path):
    turns = WriterTurns(str(tmp_path / "store.sqlite3"))
    with turns.turn(), turns.turn():
        pass
    fd = os.open(turns.path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again: would raise BlockingIOError
    finally:
        os.close(fd)
    turns.close()


@pytest.mark.parametrize(("name", "expected"), [
    ("/data/cartpath.sqlite3", "/data/cartpath.sqlite3-writer"),
    ("file:/data/cartpath.sqlite3?mode=rwc", "/data/cartpath.sqlite3-writer"),
    ("file:/data/with%20space.sqlite3", "/data/with space.sqlite3-writer"),
    (":memory:", None),
    ("file:cartpath?mode=memory&cache=shared", None),
])
def test_the_turn_file_lies_beside_the_database(name, expected):
    assert lock_path(name) == expected
