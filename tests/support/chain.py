"""Raw SQL on a test store's event tables, the way someone with database access would edit
them behind the application's back (SQLite file or PostgreSQL table, as the suite runs); the
chain's links as (position, link) pairs, read and rewritten in its link runs; and a store
turned back into the formats of earlier releases (``<events>_links``, ``<events>_chain``)."""
from __future__ import annotations

import os
import sqlite3
from typing import Any

ON_POSTGRES = os.environ.get("CARTPATH_TEST_STORE") == "postgres"


def raw(env: dict[str, str], statement: str, params: tuple = ()) -> list[tuple[Any, ...]]:
    """Run ``statement`` with ``{events}``, ``{runs}``, ``{links}`` (the per-position table of the
    release before the runs), ``{checkpoints}``, ``{old_chain}`` and ``{pos}`` (the events table's
    position column) filled in for the store, ``?`` placeholders; rows back."""
    if ON_POSTGRES:
        from tests.support.pg import connect
        schema = f'"{env["POSTGRES_SCHEMA"]}"'
        sql = statement.format(events=f"{schema}.cartpath_events", runs=f"{schema}.cartpath_events_link_runs",
                               links=f"{schema}.cartpath_events_links",
                               checkpoints=f"{schema}.cartpath_events_checkpoints",
                               old_chain=f"{schema}.cartpath_events_chain", pos="notification_id").replace("?", "%s")
        with connect() as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
    sql = statement.format(events="stored_events", runs="stored_events_link_runs", links="stored_events_links",
                           checkpoints="stored_events_checkpoints",
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


def links(env: dict[str, str]) -> list[tuple[int, bytes]]:
    """Every stored link as (position, link), cut out of the link runs."""
    from cartpath.engine.chain import links_in
    return links_in(raw(env, "SELECT position, links FROM {runs} ORDER BY position"))


def rewrite_links(env: dict[str, str], pairs: list[tuple[int, bytes]]) -> None:
    """Replace every stored link by ``pairs`` (what an edit of the chain's own table leaves)."""
    from cartpath.engine.chain import runs_of
    raw(env, "DELETE FROM {runs}")
    for position, blob in runs_of(sorted(pairs)):
        raw(env, "INSERT INTO {runs} (position, links) VALUES (?, ?)", (position, blob))


def delete_links(env: dict[str, str], positions: set[int]) -> None:
    rewrite_links(env, [(p, k) for p, k in links(env) if p not in positions])


def set_link(env: dict[str, str], position: int, link: bytes) -> None:
    rewrite_links(env, [(p, link if p == position else k) for p, k in links(env)])


def event_positions(env: dict[str, str], where: str = "", params: tuple = ()) -> set[int]:
    return {int(r[0]) for r in raw(env, "SELECT {pos} FROM {events} " + where, params)}


# The side table of the release before the link runs (2026-12-03), as it created it: a link a position.
LINKS_DDL_SQLITE = ["CREATE TABLE {links} (position INTEGER PRIMARY KEY, link BLOB NOT NULL)"]
LINKS_DDL_POSTGRES = ["CREATE TABLE {links} (position bigint PRIMARY KEY, link bytea NOT NULL)"]


def to_links_table_format(env: dict[str, str]) -> int:
    """Rewrite a store's links as the release before the runs wrote them (``<events>_links``, a row a
    position), checkpoints untouched, the runs table gone; the rows written."""
    pairs = links(env)
    for statement in LINKS_DDL_POSTGRES if ON_POSTGRES else LINKS_DDL_SQLITE:
        raw(env, statement)
    for row in pairs:
        raw(env, "INSERT INTO {links} (position, link) VALUES (?, ?)", row)
    raw(env, "DROP TABLE {runs}")
    return len(pairs)


def to_old_chain_format(env: dict[str, str]) -> int:
    """Rewrite a store's links as the release before wrote its chain (``<events>_chain`` with prev and
    content hashes, the link runs gone), checkpoints untouched; the rows written. Each old row is
    what that release's writer stored: the predecessor's link (zeros for a first version) and the
    content hash of the event as stored; that it gives the link stored today is checked."""
    from cartpath.engine.chain import ZERO, content_hash, link_hash
    state = "state" if ON_POSTGRES else "CAST(state AS BLOB)"
    stored = dict(links(env))
    events = raw(env, f"SELECT {{pos}}, originator_id, originator_version, topic, {state} "
                      "FROM {events} ORDER BY {pos}")
    heads: dict[Any, bytes] = {}
    rows = []
    for position, originator_id, version, topic, body in events:
        if position not in stored:
            continue
        link = stored[position]
        prev = heads.get(originator_id, ZERO) if version > 1 else ZERO
        content = content_hash(topic, originator_id, version, bytes(body))
        assert link_hash(prev, content) == link, f"position {position} does not chain as written"
        heads[originator_id] = link
        rows.append((originator_id, version, position, prev, content))
    for statement in OLD_CHAIN_DDL_POSTGRES if ON_POSTGRES else OLD_CHAIN_DDL_SQLITE:
        raw(env, statement)
    for row in rows:
        raw(env, "INSERT INTO {old_chain} (originator_id, originator_version, position, prev_hash, content_hash) "
                 "VALUES (?, ?, ?, ?, ?)", row)
    raw(env, "DROP TABLE {runs}")
    return len(rows)
