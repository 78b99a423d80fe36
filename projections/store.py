"""Where the views live: a small layer over sqlite3 and psycopg 3 with one SQL dialect.

SQLite: a database file of its own next to the event store (``projections.sqlite3``),
so the runner's write transactions never hold the event store's write lock.
PostgreSQL: the same database and schema as the events (``POSTGRES_*``), tables
prefixed ``view_``. SQL is written once with ``?`` placeholders and column types
that both accept (BIGINT, DOUBLE PRECISION, TEXT); booleans are stored as 0/1.

One writer at a time: the runner holds the store's ``projections`` role for its
whole life (``engine.locks.singleton``: SQLite ``flock``, PostgreSQL advisory
lock; both freed when the holder dies, even by ``kill -9``). A second runner
waits or refuses.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cartpath.engine.settings import make_private_dir

TRACKING = "projection_tracking"
TRACKING_DDL = (f"CREATE TABLE IF NOT EXISTS {TRACKING} (name TEXT PRIMARY KEY, position BIGINT NOT NULL, "
                "generation BIGINT NOT NULL, schema_hash TEXT NOT NULL, error TEXT, error_position BIGINT, "
                "error_event TEXT, updated_at DOUBLE PRECISION NOT NULL)")


# ``INSERT INTO t (a, b) VALUES (?, ?)`` and nothing after: what may be sent as one multi-row statement
_PLAIN_INSERT = re.compile(r"\s*INSERT INTO [\w.]+ \([\w, ]+\) VALUES \(\?(, \?)*\)\s*$", re.IGNORECASE)
INSERT_PARAMETERS = 16_000  # parameters a multi-row INSERT carries at most (PostgreSQL's limit: 65,535)


class ProjectionsUnavailable(RuntimeError):
    """The view store is not initialised (no runner has ever started on it)."""


class RunnerBusy(RuntimeError):
    """Another runner holds the lock."""


class Tx:
    """One open transaction: the only way views write."""

    def __init__(self, conn: Any, dialect: str):
        self._conn = conn
        self.dialect = dialect
        self._savepoints = 0

    def sql(self, statement: str) -> str:
        return statement if self.dialect == "sqlite" else statement.replace("?", "%s")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        cur = self._conn.execute(self.sql(statement), params)
        return cur.rowcount

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            if self.dialect == "sqlite":
                self._conn.executemany(statement, rows)
            elif _PLAIN_INSERT.match(statement):
                self._insert_rows(statement, rows)
            else:
                with self._conn.cursor() as cur:
                    cur.executemany(self.sql(statement), rows)

    def _insert_rows(self, statement: str, rows: list[Sequence[Any]]) -> None:
        """PostgreSQL: a plain INSERT of a batch's rows as multi-row ``VALUES`` statements. psycopg's
        executemany pipelines one execution per row: for 5 and 50 rows it took 2.8x and 1.6x the
        CPU of one statement, and the server runs each execution (the audit and timeline views
        insert rows for every event). Same rows, same order, same failure on a duplicate key."""
        head, _, group = statement.partition(" VALUES ")
        per_statement = max(1, INSERT_PARAMETERS // len(rows[0]))
        for start in range(0, len(rows), per_statement):
            part = rows[start:start + per_statement]
            self._conn.execute(self.sql(f"{head} VALUES {', '.join([group] * len(part))}"),
                               [value for row in part for value in row])

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self._conn.execute(self.sql(statement), params).fetchall())

    def select_in(self, statement: str, keys: Sequence[Any], chunk: int = 500) -> list[tuple]:
        """``statement`` holds one ``IN ({})``; the keys are fed in chunks."""
        out: list[tuple] = []
        keys = list(keys)
        for i in range(0, len(keys), chunk):
            part = keys[i:i + chunk]
            out += self.query(statement.format(",".join("?" * len(part))), part)
        return out

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self._conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self._conn.execute(f"RELEASE SAVEPOINT {name}")


class ViewStore:
    """Connections to the view tables, per thread (API workers read concurrently)."""

    def __init__(self, dialect: str, *, path: Path | None = None, pg: Mapping[str, str] | None = None,
                 env: Any = None):
        self.dialect = dialect
        self.path = path
        self.pg = dict(pg or {})
        self.env = env  # the event store's environment: the runner's lock belongs to that store
        self._local = threading.local()

    # -- opening ----------------------------------------------------------------
    @classmethod
    def for_app(cls, app: Any) -> ViewStore:
        """The view store that belongs to a CartPath application's event store."""
        env = app.env
        module = (env.get("PERSISTENCE_MODULE") or "eventsourcing.sqlite").strip()
        if module == "eventsourcing.postgres":
            keys = ("POSTGRES_DBNAME", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD",
                    "POSTGRES_SCHEMA", "POSTGRES_CONNECT_TIMEOUT")
            return cls("postgres", pg={k: env.get(k) for k in keys if env.get(k)}, env=env)
        if module != "eventsourcing.sqlite":
            raise ProjectionsUnavailable(f"projections support SQLite and PostgreSQL stores, not {module}")
        explicit = env.get("CARTPATH_PROJECTIONS_DBNAME")
        if explicit:
            return cls("sqlite", path=Path(explicit), env=env)
        events_db = env.get("SQLITE_DBNAME") or ""
        if not events_db or events_db.startswith(":memory:") or "mode=memory" in events_db:
            raise ProjectionsUnavailable("an in-memory event store cannot be projected from another process")
        events_db = events_db.removeprefix("file:").split("?", 1)[0]
        return cls("sqlite", path=Path(events_db).parent / "projections.sqlite3", env=env)

    def connect(self) -> Any:
        if self.dialect == "sqlite":
            assert self.path is not None
            make_private_dir(self.path.parent)  # and the views' files 0600, as the event store's
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at each checkpoint, never corrupt
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-32768")  # 32 MiB: rebuilds insert at random keys
            return conn
        import psycopg
        pg = self.pg
        options = f"-c search_path={pg['POSTGRES_SCHEMA']}" if pg.get("POSTGRES_SCHEMA") else None
        return psycopg.connect(host=pg.get("POSTGRES_HOST"), port=pg.get("POSTGRES_PORT") or "5432",
                               user=pg.get("POSTGRES_USER"), password=pg.get("POSTGRES_PASSWORD"),
                               dbname=pg.get("POSTGRES_DBNAME"), autocommit=True, options=options,
                               connect_timeout=int(pg.get("POSTGRES_CONNECT_TIMEOUT") or 10))

    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or (self.dialect == "postgres" and conn.closed):
            conn = self._local.conn = self.connect()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- transactions and reads ---------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            yield Tx(conn, self.dialect)
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except Exception:  # the connection died with the transaction; nothing to undo
                self.close()
            raise
        conn.execute("COMMIT")

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
        """A read outside any write transaction (readers never block the runner)."""
        sql = statement if self.dialect == "sqlite" else statement.replace("?", "%s")
        try:
            return list(self.conn.execute(sql, params).fetchall())
        except Exception as err:
            if _missing_table(err):
                raise ProjectionsUnavailable("the projections are not initialised yet: "
                                             "start `cartpath projections run` (or `cartpath serve`)") from None
            raise

    def settle(self) -> None:
        """After a rebuild: fold SQLite's write-ahead log into the database file (giving its
        space back) and refresh the planner's statistics."""
        if self.dialect == "sqlite":
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("PRAGMA optimize")
        else:
            # Only our own tables: a bare ANALYZE visits every table of the database, and waits
            # behind any other schema's lock (an event store mid-insert holds its table).
            for table in sorted(t for t in self.tables() if t.startswith("view_") or t == TRACKING):
                self.conn.execute(f'ANALYZE "{table}"')

    def tables(self) -> set[str]:
        if self.dialect == "sqlite":
            return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type='table'")}
        return {r[0] for r in self.query("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = current_schema()")}

    def ensure_tracking(self) -> None:
        with self.transaction() as tx:
            tx.execute(TRACKING_DDL)

    def tracking(self) -> dict[str, dict[str, Any]]:
        rows = self.query(f"SELECT name, position, generation, schema_hash, error, error_position, error_event, "
                          f"updated_at FROM {TRACKING}")
        keys = ("name", "position", "generation", "schema_hash", "error", "error_position", "error_event", "updated_at")
        return {r[0]: dict(zip(keys, r)) for r in rows}

    def size_bytes(self) -> int | None:
        if self.dialect == "sqlite":
            assert self.path is not None
            return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file()
                       and not p.name.endswith(".lock"))
        rows = self.query("SELECT COALESCE(SUM(pg_total_relation_size(quote_ident(table_name))), 0) "
                          "FROM information_schema.tables WHERE table_schema = current_schema() "
                          "AND (table_name LIKE 'view\\_%%' OR table_name = ?)", (TRACKING,))
        return int(rows[0][0])

    # -- the runner's lock ------------------------------------------------------------
    def lock(self, *, wait: bool, timeout: float | None = None) -> RunnerLock:
        """Take the store's ``projections`` role (RunnerBusy if another process holds it)."""
        from cartpath.engine.locks import RoleTaken, singleton
        if self.env is None:
            raise ProjectionsUnavailable("this view store was not opened for an event store (ViewStore.for_app)")
        held = singleton(self.env, ROLE, wait=wait, timeout=timeout)
        try:
            role = held.__enter__()
        except RoleTaken as err:
            raise RunnerBusy(f"another projection runner is running on this store ({_holder(err)})") from None
        return RunnerLock(held, role)

    def runner_running(self) -> bool:
        try:
            self.lock(wait=False).release()
        except RunnerBusy:
            return True
        return False


ROLE = "projections"


class RunnerLock:
    """The held role; ``held()`` turns false if it was lost (e.g. the server dropped the session)."""

    def __init__(self, context: Any, role: Any):
        self._context = context
        self.role = role

    def held(self) -> bool:
        return self.role.held()

    def release(self) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(None, None, None)

    def __enter__(self) -> RunnerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(err: Exception) -> str:
    text = str(err)
    return text[text.index("(") + 1:text.rindex(")")] if "(" in text and ")" in text else "held"


def _missing_table(err: Exception) -> bool:
    text = str(err)
    return "no such table" in text or "does not exist" in text and "relation" in text
