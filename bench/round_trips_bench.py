"""Statements each command sends to the store (the round trips of a command), by kind.

    .venv/bin/python bench/round_trips_bench.py                   # SQLite file
    .venv/bin/python bench/round_trips_bench.py --store postgres  # CARTPATH_TEST_POSTGRES_* or POSTGRES_*

The engine bench's commands (task completions and timer firings on the looping test process,
system clock, one process: its live engines are warm) are counted, not timed: every SQL
statement the process sends while they run, with BEGIN/COMMIT/ROLLBACK, grouped by its text
with the values taken out. On SQLite each statement is a call into the library (the file is
local); on PostgreSQL each one is a message to the server, and the statements of a save are
sent in one pipeline (eventsourcing's recorder), so its round trips are fewer than its
statements. Prints statements per command and the most frequent kinds.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import sqlite3
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api_bench import postgres_schema, postgres_settings  # noqa: E402
from engine_bench import LOOP  # noqa: E402

from cartpath.engine.application import CartPath  # noqa: E402
from cartpath.engine.lint import read_paths  # noqa: E402

counted: collections.Counter[str] = collections.Counter()
counting = [False]


def note(statement: object) -> None:
    if counting[0]:
        text = re.sub(r"\s+", " ", str(statement))
        counted[re.sub(r"X'[0-9A-Fa-f]*'|'[^']*'|\b\d+\b", "?", text)[:110]] += 1


def trace_sqlite() -> None:
    connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(note)
        return conn
    sqlite3.connect = traced  # type: ignore[assignment]


def trace_postgres() -> None:
    import psycopg
    from psycopg.sql import Composable

    def text(query) -> str:
        return query.as_string(None) if isinstance(query, Composable) else str(query)

    for cls in (psycopg.Cursor, psycopg.Connection):
        execute = cls.execute

        def wrapped(self, query, *args, _execute=execute, **kwargs):
            note(text(query))
            return _execute(self, query, *args, **kwargs)
        cls.execute = wrapped  # type: ignore[method-assign]
    executemany = psycopg.Cursor.executemany

    def wrapped_many(self, query, params_seq, *args, **kwargs):
        params_seq = list(params_seq)
        for _ in params_seq:
            note(text(query))
        return executemany(self, query, params_seq, *args, **kwargs)
    psycopg.Cursor.executemany = wrapped_many  # type: ignore[method-assign]
    commit, rollback = psycopg.Connection.commit, psycopg.Connection.rollback
    idle = psycopg.pq.TransactionStatus.IDLE

    def ending(word: str, end):
        def wrapped(self):
            if self.info.transaction_status != idle:  # else psycopg sends nothing
                note(word)
            return end(self)
        return wrapped
    psycopg.Connection.commit = ending("COMMIT", commit)  # type: ignore[method-assign]
    psycopg.Connection.rollback = ending("ROLLBACK", rollback)  # type: ignore[method-assign]
    transaction = psycopg.Transaction.__exit__

    def exit_transaction(self, exc_type, *rest):
        note("COMMIT" if exc_type is None else "ROLLBACK")  # `with conn.transaction()`: BEGIN went with the first
        return transaction(self, exc_type, *rest)
    psycopg.Transaction.__exit__ = exit_transaction  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pathways", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="cartpath-round-trips-")
    env = {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "system"}
    schema = None
    if args.store == "postgres":
        pg = postgres_settings()
        schema = f"round_trips_{os.getpid()}"
        postgres_schema(pg, schema, "create")
        env |= {"PERSISTENCE_MODULE": "eventsourcing.postgres", **pg, "POSTGRES_SCHEMA": schema}
        trace_postgres()
    else:
        env |= {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/cartpath.sqlite3"}
        trace_sqlite()
    try:
        app = CartPath(env=env)
        app.deploy(read_paths([LOOP]))
        base = app.clock.now()
        ids = [app.start_pathway(f"P-{i:05d}", "FR-01", "DLBCL", "axi-cel", process_key="loop_pathway").pathway.id
               for i in range(args.pathways)]
        ready = {pid: next(iter(app.get_pathway(pid).ready)) for pid in ids}
        commands = 0
        for day in range(1, args.rounds + 1):
            counting[0] = True
            for pid in ids:
                app.complete_task(pid, ready[pid], {"value": day})
                commands += 1
            commands += app.fire_due_timers(base + timedelta(days=day, hours=1))
            counting[0] = False
            ready = {pid: next(iter(app.get_pathway(pid).ready)) for pid in ids}
        app.close()
    finally:
        if schema:
            postgres_schema(pg, schema, "drop")
    total = sum(counted.values())
    print(f"{args.store}: {commands} commands (task completions and timer firings), "
          f"{total / commands:.2f} statements per command")
    for statement, n in counted.most_common(12):
        print(f"  {n / commands:5.2f}  {statement}")


if __name__ == "__main__":
    main()
