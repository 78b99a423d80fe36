"""What every view is: tables, the events it reads, and how a batch of them changes its rows.

A batch is applied in memory (rows of the pathways it touches are loaded once,
changed event by event, written back with ``executemany``) inside the runner's
transaction. An event a view cannot apply raises ``EventFailed`` naming it, so
the runner can stop the view exactly there.
"""
from __future__ import annotations

import hashlib
import json
import json.encoder
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..log import Event
from ..store import Tx, ViewStore


class EventFailed(Exception):
    def __init__(self, index: int, event: Event, error: BaseException):
        super().__init__(f"{type(error).__name__}: {error} (applying {event.describe()})")
        self.index = index
        self.event = event
        self.error = error


class Context:
    """What a view may look up besides events: the application (views read events only;
    nothing of the process model, whose facts the engine records on the events)."""

    def __init__(self, app: Any = None):
        self.app = app


class Table:
    """A view table with a primary key: load rows by key, upsert and delete them in bulk."""

    def __init__(self, name: str, columns: Sequence[str], key: Sequence[str]):
        self.name = name
        self.columns = tuple(columns)
        self.key = tuple(key)
        cols = ", ".join(self.columns)
        marks = ", ".join("?" * len(self.columns))
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.columns if c not in self.key)
        self.insert_sql = f"INSERT INTO {name} ({cols}) VALUES ({marks})"
        self.upsert_sql = f"{self.insert_sql} ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}"
        self._values = operator.itemgetter(*self.columns)
        self.delete_sql = f"DELETE FROM {name} WHERE " + " AND ".join(f"{k} = ?" for k in self.key)

    def load(self, tx: Tx, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Rows by their (single-column) key."""
        assert len(self.key) == 1
        sql = f"SELECT {', '.join(self.columns)} FROM {self.name} WHERE {self.key[0]} IN ({{}})"
        at, cols = self.columns.index(self.key[0]), self.columns
        return {row[at]: dict(zip(cols, row)) for row in tx.select_in(sql, list(keys))}

    def upsert(self, tx: Tx, rows: Iterable[dict[str, Any]]) -> None:
        """Rows must carry every column (a missing one is a bug, not a NULL)."""
        tx.executemany(self.upsert_sql, map(self._values, rows))

    def insert(self, tx: Tx, rows: Iterable[dict[str, Any]]) -> None:
        tx.executemany(self.insert_sql, map(self._values, rows))

    def delete(self, tx: Tx, keys: Iterable[tuple]) -> None:
        tx.executemany(self.delete_sql, list(keys))


class View:
    name: str = ""
    #: Bump when the tables or what a row means change: the runner then rebuilds the view.
    version: int = 1
    ddl: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[Any, Event], None]] = {
            kind: getattr(self, f"on_{kind}") for kind in self.kinds}

    def schema_hash(self) -> str:
        text = "\n".join((self.name, str(self.version), *self.ddl))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def create(self, tx: Tx) -> None:
        for statement in self.ddl:
            # WITHOUT ROWID saves SQLite a B-tree per composite key; PostgreSQL has no rowid anyway.
            tx.execute(statement if tx.dialect == "sqlite" else statement.replace(" WITHOUT ROWID", ""))

    def drop(self, tx: Tx) -> None:
        for table in self.tables:
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    # -- applying a batch ---------------------------------------------------------------
    def apply(self, tx: Tx, events: list[Event], ctx: Context) -> None:
        batch = self.begin(tx, events, ctx)
        handlers = self._handlers
        for index, ev in enumerate(events):
            try:
                handlers[ev.kind](batch, ev)
            except Exception as err:
                raise EventFailed(index, ev, err) from err
        self.flush(tx, batch)

    def begin(self, tx: Tx, events: list[Event], ctx: Context) -> Any:
        raise NotImplementedError

    def flush(self, tx: Tx, batch: Any) -> None:
        raise NotImplementedError

    # -- comparing --------------------------------------------------------------------
    def dump(self, store: ViewStore) -> dict[str, list[tuple]]:
        """Every row of every table, in a stable order (incremental vs rebuilt comparisons)."""
        return {t: sorted(store.query(f"SELECT * FROM {t}"), key=repr) for t in self.tables}


# JSON columns: compact; key order is the stored event's, so the same event gives the same text.
# The C encoder is made once: JSONEncoder.encode builds a new one per call, which costs as
# much as the encoding itself. (No cycle check: the values come from decoded JSON.)
_encoder = json.encoder.c_make_encoder and json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True)


def to_json(value: Any) -> str:
    if _encoder is None:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return "".join(_encoder(value, 0))


def pathway_ids(events: Iterable[Event]) -> list[str]:
    return list(dict.fromkeys(ev.pathway_id for ev in events))


def actor_of(data: dict[str, Any]) -> str | None:
    """Who did it, as the view keeps it: the user's subject (and organisation), never a name."""
    actor = data.get("actor")
    if not isinstance(actor, dict):
        return None
    sub = actor.get("sub")
    org = actor.get("org")
    return f"{sub}@{org}" if org and sub else sub or org
