"""A fresh, empty PostgreSQL store per test: one schema each, dropped when the run ends.

The server comes from the environment (``bash .ci/run --server-only`` prints these):

    CARTPATH_TEST_POSTGRES_HOST       required; its presence is what makes `make test` run the PostgreSQL suite
    CARTPATH_TEST_POSTGRES_PORT       default 5432
    CARTPATH_TEST_POSTGRES_USER       default cartpath_test (needs CREATE on the database: make it the owner)
    CARTPATH_TEST_POSTGRES_PASSWORD   default cartpath_test
    CARTPATH_TEST_POSTGRES_DBNAME     default cartpath_test

A schema per test (eventsourcing's ``POSTGRES_SCHEMA``) isolates stores at the cost of
one ``CREATE SCHEMA``; a database per test would cost a ``CREATE DATABASE`` (a copy of
template1) each time. eventsourcing does not create the schema itself, so we do.
"""
from __future__ import annotations

import atexit
import itertools
import os
import threading

import psycopg
from psycopg import sql

_PREFIX = f"cpt_{os.getpid()}_"
_counter = itertools.count(1)
_created: list[str] = []
_lock = threading.Lock()


def server_settings() -> dict[str, str]:
    """Connection settings of the test server, in eventsourcing's POSTGRES_* names."""
    host = os.environ.get("CARTPATH_TEST_POSTGRES_HOST")
    if not host:
        raise RuntimeError("CARTPATH_TEST_STORE=postgres needs CARTPATH_TEST_POSTGRES_HOST "
                           "(run `eval \"$(bash .ci/run --server-only)\"` to get a local server)")
    return {
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": os.environ.get("CARTPATH_TEST_POSTGRES_PORT") or "5432",
        "POSTGRES_USER": os.environ.get("CARTPATH_TEST_POSTGRES_USER") or "cartpath_test",
        "POSTGRES_PASSWORD": os.environ.get("CARTPATH_TEST_POSTGRES_PASSWORD") or "cartpath_test",
        "POSTGRES_DBNAME": os.environ.get("CARTPATH_TEST_POSTGRES_DBNAME") or "cartpath_test",
    }


def connect(settings: dict[str, str] | None = None) -> psycopg.Connection:
    s = settings or server_settings()
    return psycopg.connect(host=s["POSTGRES_HOST"], port=s["POSTGRES_PORT"], user=s["POSTGRES_USER"],
                           password=s["POSTGRES_PASSWORD"], dbname=s["POSTGRES_DBNAME"], autocommit=True,
                           connect_timeout=10)


def fresh_postgres_env() -> dict[str, str]:
    """eventsourcing environment for an isolated, empty store (tables created on first open)."""
    settings = server_settings()
    schema = f"{_PREFIX}{next(_counter)}"
    with connect(settings) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    with _lock:
        if not _created:
            atexit.register(_drop_created, settings)
        _created.append(schema)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        **settings,
        "POSTGRES_SCHEMA": schema,
        "CREATE_TABLE": "true",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
        # Tests open many applications; a small pool each keeps the server under max_connections.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_CONNECT_TIMEOUT": "10",
    }


def _drop_created(settings: dict[str, str]) -> None:
    """Leave the test database as we found it. Best effort: a dead server is not a test failure."""
    try:
        with connect(settings) as conn:
            for schema in _created:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    except psycopg.Error:
        pass
