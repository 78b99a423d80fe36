"""Raw SQL on a test store's event tables, the way someone with database access would edit
them behind the application's back (SQLite file or PostgreSQL table, as the suite runs); and
a store turned back into the hash chain's format before the links table (``<events>_chain``)."""
from __future__ import annotations

import os
import sqlite3
from typing import Any

ON_POSTGRES = os.environ.get("CARTPATH_TEST_STORE") == "postgres"


def raw(env: dict[str, str], statement: str, params: tuple = ()) -> list[tuple[Any, ...]]:
    """Run ``statement`` with ``{events}``, ``{links}``, ``{checkpoints}``, ``{old_chain}`` and ``{pos}``
    (the events table's position column) filled in for the store, ``?`` placeholders; rows back."""
    if ON_POSTGRES:
        from tests.support.pg import connect
        schema = f'"{env["POSTGRES_SCHEMA"]}"'
        sql = statement.format(events=f"{schema}.cartpath_events", links=f"{schema}.cartpath_events_links",
                               checkpoints=f"{schema}.cartpath_events_checkpoints",
                               old_chain=f"{schema}.cartpath_events_chain", pos="notification_id").replace("?", "%s")
        with connect() as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
    sql = statement.format(events="stored_events", links="stored_events_links", checkpoints="stored_events_checkpoints",
                           old_chain="stored_events_chain", pos="rowid")
    with sqlite3.connect(env["SQLITE_DBNAME"]) as conn:
        rows = conn.execute(sql, params).fetchall()
    conn.close()
    return rows


def db_id(value: Any) -> Any:
    """An originator id as the store's column holds it (SQLite: 32 hex digits)."""
    return value if ON_POSTGRES else value.hex


def move_event(env: dict[str, str], from_position: int, to_position: int) -> None:
    raw(env, "UPDATE {events} SET {pos} = ? WHERE {pos} = ?", (to_position, from_position))


def swap_positions(env: dict[str, str], a: int, b: int) -> None:
    """Reorder two rows of the log (the unique position index wants a free slot in between)."""
    move_event(env, a, -1)
    move_event(env, b, a)
    move_event(env, -1, b)


# The side table of the release before the links table, as it created it: a row per chained event
# with its aggregate, version, position, the predecessor's link and the content hash.
OLD_CHAIN_DDL_SQLITE = [
    "CREATE TABLE {old_chain} (originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
    "position INTEGER NOT NULL, prev_hash BLOB NOT NULL, content_hash BLOB NOT NULL, "
    "PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID",
    "CREATE UNIQUE INDEX stored_events_chain_position ON {old_chain} (position)"]
OLD_CHAIN_DDL_POSTGRES = [
    "CREATE TABLE {old_chain} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
    "position bigint NOT NULL, prev_hash bytea NOT NULL, content_hash bytea NOT NULL, "
    "PRIMARY KEY (originator_id, originator_version))",
    'CREATE UNIQUE INDEX "cartpath_events_chain_position" ON {old_chain} (position)']


def to_old_chain_format(env: dict[str, str]) -> int:
    """Rewrite a store's links as the release before wrote its chain (``<events>_chain`` with prev and
    content hashes, the links table gone), checkpoints untouched; the rows written. Each old row is
    what that release's writer stored: the predecessor's link (zeros for a first version) and the
    content hash of the event as stored; that it gives the link stored today is checked."""
    from cartpath.engine.chain import ZERO, content_hash, link_hash
    state = "state" if ON_POSTGRES else "CAST(state AS BLOB)"
    events = raw(env, f"SELECT e.{{pos}}, e.originator_id, e.originator_version, e.topic, {state}, l.link "
                      "FROM {events} e JOIN {links} l ON l.position = e.{pos} ORDER BY e.{pos}")
    heads: dict[Any, bytes] = {}
    rows = []
    for position, originator_id, version, topic, body, link in events:
        prev = heads.get(originator_id, ZERO) if version > 1 else ZERO
        content = content_hash(topic, originator_id, version, bytes(body))
        assert link_hash(prev, content) == bytes(link), f"position {position} does not chain as written"
        heads[originator_id] = bytes(link)
        rows.append((originator_id, version, position, prev, content))
    for statement in OLD_CHAIN_DDL_POSTGRES if ON_POSTGRES else OLD_CHAIN_DDL_SQLITE:
        raw(env, statement)
    for row in rows:
        raw(env, "INSERT INTO {old_chain} (originator_id, originator_version, position, prev_hash, content_hash) "
                 "VALUES (?, ?, ?, ?, ?)", row)
    raw(env, "DROP TABLE {links}")
    return len(rows)
