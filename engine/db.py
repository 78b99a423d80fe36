"""``cartpath db init``: create the store's tables once, as a deploy step: the events and
snapshots (eventsourcing), then the projections' views and tracking (their runner's own set-up).

Workers then run with ``CREATE_TABLE=false``: several processes creating tables at
the same moment collide (PostgreSQL's ``CREATE TYPE`` has no ``IF NOT EXISTS``, and
concurrent ``CREATE TABLE IF NOT EXISTS`` can still fail on the catalog's unique index).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import click

from .cli import _out, main, refusals
from .errors import CartpathError


class StoreUnavailable(CartpathError):
    """The database cannot be reached, or refuses our settings."""

    code = "store-unavailable"


def create_tables(overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Create every table of the store the environment names; safe to run again."""
    from .config import open_app
    from eventsourcing.persistence import PersistenceError
    env = {**(overrides or {}), "CREATE_TABLE": "true"}
    if _is_postgres(env):
        _create_schema(env)
    try:
        app = open_app(env)  # eventsourcing creates the events and snapshots tables when CREATE_TABLE is on
    except PersistenceError as err:
        raise StoreUnavailable(f"cannot create the tables: {_first_line(err)}") from None
    try:
        described = _describe(app)
        projections = _create_view_tables(app, set(described["tables"]))
        return {"store": "postgresql" if _is_postgres(env) else "sqlite", **described, "projections": projections}
    finally:
        app.close()


def _create_view_tables(app, event_tables: set[str]) -> dict[str, Any]:
    """The projections' tables, as their runner would create them at start, under the runner's lock:
    if a runner is running, it has created them already and owns them."""
    from projections.runner import Runner
    from projections.store import RunnerBusy, ViewStore
    store = ViewStore.for_app(app)
    try:
        lock = store.lock(wait=False)
    except RunnerBusy:
        store.close()
        return {"skipped": "a projection runner is running on this store and keeps its own tables"}
    try:
        Runner(app, store=store).prepare(retry_errors=False)
        return {"tables": sorted(store.tables() - event_tables)}
    finally:
        lock.release()
        store.close()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _is_postgres(overrides: Mapping[str, str]) -> bool:
    module = overrides.get("PERSISTENCE_MODULE") or os.environ.get("PERSISTENCE_MODULE") or ""
    return module.strip() == "eventsourcing.postgres"


def _create_schema(overrides: Mapping[str, str]) -> None:
    """eventsourcing puts tables in POSTGRES_SCHEMA but does not create the schema itself.
    Connecting directly also fails fast on a wrong address or password, where the
    connection pool would retry for POSTGRES_CONNECT_TIMEOUT seconds."""
    import psycopg
    from psycopg import sql
    from eventsourcing.utils import Environment
    from .locks import APP_NAME, postgres_connect_kwargs

    env = Environment(APP_NAME, {**os.environ, **overrides})
    schema = (env.get("POSTGRES_SCHEMA") or "").strip()
    settings = postgres_connect_kwargs(env)
    try:
        with psycopg.connect(**settings, autocommit=True) as conn:
            if schema and schema != "public":
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    except psycopg.Error as err:
        raise StoreUnavailable(f"PostgreSQL at {settings['host']}:{settings['port']} database {settings['dbname']!r} "
                               f"as {settings['user']!r}: {_first_line(err)}") from None


def _describe(app) -> dict[str, Any]:
    """Where the event store's tables are, and that they exist, read back from the database itself."""
    own = {app.recorder.events_table_name, *([app.snapshots.recorder.events_table_name] if app.snapshots else [])}
    found = _tables(app)
    found["tables"] = [t for t in found["tables"] if t in own]
    return found


def _tables(app) -> dict[str, Any]:
    datastore = app.factory.datastore
    schema = getattr(datastore, "schema", None)
    if schema is not None:
        with datastore.transaction(commit=False) as curs:
            curs.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                         "ORDER BY table_name", (schema,))
            tables = [row["table_name"] for row in curs.fetchall()]
        return {"schema": schema, "tables": tables}
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        tables = [row[0] for row in curs.fetchall()]
    return {"database": app.env.get("SQLITE_DBNAME"), "tables": tables}


@main.group("db")
def db_group() -> None:
    """The store's tables (PostgreSQL or SQLite, as the environment says)."""


@db_group.command("init", with_appcontext=False)
@refusals
def init_cmd() -> None:
    """Create every table (a deploy step; start workers afterwards with CREATE_TABLE=false)."""
    _out(create_tables())
