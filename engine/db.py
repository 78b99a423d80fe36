"""The event store's tables, created once as a deploy step (``cartpath db init`` creates
these, then the projections' own: ``cartpath.projections.tables``).

Workers then run with ``CREATE_TABLE=false``: several processes creating tables at
the same moment collide (PostgreSQL's ``CREATE TYPE`` has no ``IF NOT EXISTS``, and
concurrent ``CREATE TABLE IF NOT EXISTS`` can still fail on the catalog's unique index).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .reachability import StoreUnavailable, unreachable


def create_tables(overrides: Mapping[str, str] | None = None,
                  then: Callable[[Any, set[str]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Create the events and snapshots tables of the store the environment names; safe to run
    again. ``then(app, event_tables)`` creates what an outer layer keeps in the same store."""
    from eventsourcing.persistence import PersistenceError

    from .config import open_app
    env = {**(overrides or {}), "CREATE_TABLE": "true"}
    if _is_postgres(env):
        _create_schema(env)
    try:
        app = open_app(env)  # eventsourcing creates the events and snapshots tables when CREATE_TABLE is on
    except PersistenceError as err:
        raise StoreUnavailable(f"cannot create the tables: {_first_line(err)}") from None
    try:
        converted = convert_chain(app)
        described = _describe(app)
        result = {"store": "postgresql" if _is_postgres(env) else "sqlite", **described, **converted}
        if then is not None:
            result["projections"] = then(app, set(described["tables"]))
        return result
    finally:
        app.close()


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
    from eventsourcing.utils import Environment
    from psycopg import sql

    from .locks import APP_NAME, postgres_connect_kwargs

    env = Environment(APP_NAME, {**os.environ, **overrides})
    schema = (env.get("POSTGRES_SCHEMA") or "").strip()
    settings = postgres_connect_kwargs(env)
    try:
        with psycopg.connect(**settings, autocommit=True) as conn:
            if schema and schema != "public":
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    except psycopg.Error as err:
        raise unreachable(settings, err) from None


def _describe(app) -> dict[str, Any]:
    """Where the event store's tables are, and that they exist, read back from the database itself."""
    own = {app.recorder.events_table_name, *([app.snapshots.recorder.events_table_name] if app.snapshots else [])}
    if hasattr(app.recorder, "chain_tables"):  # the hash chain's side tables (chain.py)
        own |= {app.recorder.events_table_name + "_link_runs", app.recorder.events_table_name + "_checkpoints"}
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


def convert_chain(app: Any) -> dict[str, int]:
    """A store written before the hash chain's link runs, converted to them if the recorder has
    not done so yet (``chain.py``): ``{"chain_links_converted": n}`` when this opening converted n
    links, else nothing to say."""
    recorder = app.recorder
    if not hasattr(recorder, "ensure_links"):
        return {}
    recorder.ensure_links()
    return {"chain_links_converted": recorder.converted_links} if recorder.converted_links else {}


def compact_store(app: Any) -> dict[str, int]:
    """``cartpath db compact``: an old chain or links table converted (if the store still had one), then the
    snapshots of ended pathways dropped."""
    converted = convert_chain(app)
    return {**drop_ended_snapshots(app), **converted}


def drop_ended_snapshots(app: Any) -> dict[str, int]:
    """Delete the snapshots of every ended pathway, as the save that ends one does now (issue 16):
    stores written before kept them, and nothing reads them again (an ended pathway loads from its
    events). Snapshots are a cache, never the record: the events, their chain and ``verify`` are
    untouched. Safe while the store is in use (an ended pathway never changes state again)."""
    from eventsourcing.utils import get_topic

    from .pathway import Pathway
    if app.snapshots is None:
        return {"ended_pathways": 0, "snapshots_dropped": 0}
    topic = get_topic(Pathway.PathwayEnded)  # type: ignore[attr-defined]  # made by @event
    ended: set[Any] = set()
    start = 1
    while True:
        notes = app.recorder.select_notifications(start=start, limit=1000, topics=[topic])
        ended.update(n.originator_id for n in notes)
        if len(notes) < 1000:
            break
        start = notes[-1].id + 1
    snapshots = app.snapshots.recorder
    dropped = 0
    for pathway_id in sorted(ended, key=str):
        if snapshots.select_events(pathway_id, desc=True, limit=1):
            app.unit_of_work.store.drop_snapshots(pathway_id)
            dropped += 1
    return {"ended_pathways": len(ended), "snapshots_dropped": dropped}
