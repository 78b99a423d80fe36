"""The store the suite runs on, and the deploy step that creates its tables.

Runs in both passes of `make test`: on SQLite it checks SQLite, with
CARTPATH_TEST_STORE=postgres it checks that everything really went to PostgreSQL.
"""
from __future__ import annotations

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner
from eventsourcing.persistence import PersistenceError

from cartpath.cli import main
from cartpath.engine.application import CartPath
from cartpath.engine.lint import read_paths
from cartpath.projections.tables import create_tables
from tests.support.store import FIXTURES, start_mini

ON_POSTGRES = os.environ.get("CARTPATH_TEST_STORE") == "postgres"


def _rows_in_store(env: dict[str, str], pathway_id) -> int:
    """Count a pathway's events with the database's own client, not through eventsourcing."""
    if ON_POSTGRES:
        from psycopg import sql

        from tests.support.pg import connect
        with connect() as conn:
            query = sql.SQL("SELECT count(*) FROM {}.cartpath_events WHERE originator_id = %s").format(
                sql.Identifier(env["POSTGRES_SCHEMA"]))
            return conn.execute(query, (pathway_id,)).fetchone()[0]
    with sqlite3.connect(env["SQLITE_DBNAME"]) as conn:
        return conn.execute("SELECT count(*) FROM stored_events WHERE originator_id = ?",
                            (pathway_id.hex,)).fetchone()[0]


def test_the_store_is_the_kind_this_suite_runs_on(app, env):
    from eventsourcing.postgres import PostgresApplicationRecorder
    from eventsourcing.sqlite import SQLiteApplicationRecorder
    if ON_POSTGRES:
        assert isinstance(app.recorder, PostgresApplicationRecorder)
        assert app.factory.datastore.schema == env["POSTGRES_SCHEMA"]
        # events were missed with several writers when the database functions were on
        assert app.factory.datastore.enable_db_functions is False
    else:
        assert isinstance(app.recorder, SQLiteApplicationRecorder)
    p = start_mini(app)
    assert _rows_in_store(env, p.id) == len(app.history(p.id)) == 3


def _without_tables(env: dict[str, str]) -> dict[str, str]:
    """The env of a store whose tables do not exist yet (on PostgreSQL: not even its schema)."""
    if ON_POSTGRES:
        from psycopg import sql

        from tests.support.pg import connect
        with connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(env["POSTGRES_SCHEMA"])))
    return env


def test_workers_with_create_table_off_need_db_init_first(env):
    env = _without_tables(env)
    worker_env = {**env, "CREATE_TABLE": "false"}
    with pytest.raises(PersistenceError):
        CartPath(env=worker_env).deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))

    first = create_tables(env)
    again = create_tables(env)  # a second deploy step finds the tables there and changes nothing
    assert first == again
    events, snapshots = (("cartpath_events", "cartpath_snapshots") if ON_POSTGRES
                         else ("stored_events", "stored_snapshots"))
    assert {events, snapshots} <= set(first["tables"])
    assert first["store"] == ("postgresql" if ON_POSTGRES else "sqlite")
    assert "projection_tracking" in first["projections"]["tables"]
    assert not {events, snapshots} & set(first["projections"]["tables"])

    worker = CartPath(env=worker_env)
    worker.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
    p = start_mini(worker)
    assert CartPath(env=worker_env).get_pathway(p.id).ready  # another worker reads it back


def test_db_init_leaves_the_views_to_a_running_projection_runner(env):
    from cartpath.projections.store import ViewStore
    store = ViewStore.for_app(CartPath(env=env))
    lock = store.lock(wait=False)  # what `cartpath projections run` holds for its whole life
    try:
        result = create_tables(env)
    finally:
        lock.release()
        store.close()
    assert "runner is running" in result["projections"]["skipped"]
    assert len(result["tables"]) == 4  # events, snapshots, and the hash chain's links and checkpoints


def test_db_init_command_prints_the_tables(env):
    result = CliRunner().invoke(main, ["db", "init"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["store"] == ("postgresql" if ON_POSTGRES else "sqlite")
    assert len(out["tables"]) >= 2


def test_db_init_says_in_one_line_when_the_server_cannot_be_reached(tmp_path):
    # Port 1 on localhost: nothing listens there, whatever this machine runs.
    env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "1",
           "POSTGRES_USER": "nobody", "POSTGRES_PASSWORD": "x", "POSTGRES_DBNAME": "nothing",
           "CARTPATH_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["db", "init"], env=env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines() if hasattr(result, "stderr") else result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PostgreSQL at 127.0.0.1:1")
    assert "Traceback" not in result.output


def test_db_init_refuses_a_postgres_store_without_its_settings(tmp_path):
    env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_HOST": "", "POSTGRES_USER": "",
           "POSTGRES_DBNAME": "", "CARTPATH_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["db", "init"], env=env)
    assert result.exit_code == 1
    assert "POSTGRES_HOST" in result.output and "Traceback" not in result.output
