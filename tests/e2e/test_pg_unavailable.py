"""A store that cannot take a write right now answers 503, not 500 (api/errors.py).

Someone else holds the events' write lock past the store's lock timeout (a long
transaction, a maintenance job): on SQLite an exclusive transaction and
SQLITE_LOCK_TIMEOUT, on PostgreSQL `LOCK TABLE ... IN EXCLUSIVE MODE` and
POSTGRES_LOCK_TIMEOUT (eventsourcing tries 10 times, so the refusal takes ~12 s). The
request is refused with problem+json and Retry-After, records nothing, and succeeds
as soon as the lock is gone. The database going away altogether is test_pg_restart.
"""
from __future__ import annotations

import sqlite3

from psycopg import sql

from tests.support.http import make_http
from tests.support.server import ON_POSTGRES


def hold_the_events_lock(env: dict[str, str]):
    """A second connection, in a transaction that holds the events' write lock; close() ends it."""
    if ON_POSTGRES:
        from tests.support.pg import connect
        conn = connect()
        conn.autocommit = False
        conn.execute(sql.SQL("LOCK TABLE {}.cartpath_events IN EXCLUSIVE MODE").format(
            sql.Identifier(env["POSTGRES_SCHEMA"])))
        return conn
    conn = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_write_that_cannot_get_the_lock_is_refused_with_503_and_records_nothing(tmp_path):
    http = make_http(tmp_path, env={"SQLITE_LOCK_TIMEOUT": "1", "POSTGRES_LOCK_TIMEOUT": "1"})
    body = {"patient_ref": "P-L1", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
            "process_key": "mini_mfr"}
    headers = http.headers("coordination")
    before = http.position()
    lock = hold_the_events_lock(http.engine.env)
    try:
        refused = http.call("POST", "/pathways", headers, json=body)
    finally:
        lock.close()
    assert refused.status_code == 503, refused.get_data(as_text=True)[:500]
    assert refused.mimetype == "application/problem+json" and refused.headers["Retry-After"] == "5"
    problem = refused.get_json()
    assert problem["status"] == 503 and problem["type"].endswith("/store-unavailable")
    assert "retry" in problem["detail"]
    assert http.position() == before and http.engine.pathway_ids() == []
    again = http.call("POST", "/pathways", headers, json=body)
    assert again.status_code == 201, again.get_json()
    assert [str(i) for i in http.engine.pathway_ids()] == [again.get_json()["id"]]
