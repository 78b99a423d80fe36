"""Raw SQL on a test store's event tables, the way someone with database access would edit
them behind the application's back (SQLite file or PostgreSQL table, as the suite runs)."""
from __future__ import annotations

import os
import sqlite3
from typing import Any

ON_POSTGRES = os.environ.get("CARTPATH_TEST_STORE") == "postgres"


def raw(env: dict[str, str], statement: str, params: tuple = ()) -> list[tuple[Any, ...]]:
    """Run ``statement`` with ``{events}``, ``{chain}``, ``{checkpoints}`` and ``{pos}`` (the
    events table's position column) filled in for the store, ``?`` placeholders; rows back."""
    if ON_POSTGRES:
        from tests.support.pg import connect
        schema = f'"{env["POSTGRES_SCHEMA"]}"'
        sql = statement.format(events=f"{schema}.cartpath_events", chain=f"{schema}.cartpath_events_chain",
                               checkpoints=f"{schema}.cartpath_events_checkpoints",
                               pos="notification_id").replace("?", "%s")
        with connect() as conn:
            cursor = conn.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
    sql = statement.format(events="stored_events", chain="stored_events_chain",
                           checkpoints="stored_events_checkpoints", pos="rowid")
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
