"""The store adapter: what the unit of work needs from the event store beyond
eventsourcing's Application API, one class per kind of store.

eventsourcing gives us events, snapshots and notifications on every store; it
gives no way to delete old snapshots. That one statement differs per database
(and is nothing at all in eventsourcing's in-memory store, ``eventsourcing.popo``,
the fake the unit tests run on), so it lives here and nowhere else.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from .chain import ChainedSQLiteRecorder

# what a save's transaction also runs (snapshot rows), given its cursor
InSave = Callable[[Any], None]


SNAPSHOTTING_SQLITE_RECORDER = "cartpath.engine.store:SQLiteRecorderWithSnapshots"
DROP_ALL = 2**62  # a version above any: a prune that keeps no snapshot


class StoreAdapter:
    """In-memory (``eventsourcing.popo``): nothing to prune, snapshots are not kept on disk."""

    kind = "memory"

    def __init__(self, snapshot_recorder: Any) -> None:
        self.recorder = snapshot_recorder

    def prune_snapshots(self, pathway_id: uuid.UUID, keep_version: int) -> None:
        """Delete the pathway's snapshots older than ``keep_version`` (only the latest is ever read)."""

    def drop_snapshots(self, pathway_id: uuid.UUID) -> None:
        """Delete every snapshot of the pathway (an ended one loads from its events alone)."""
        self.prune_snapshots(pathway_id, DROP_ALL)

    def snapshots_in_save(self, app_recorder: Any) -> bool:
        """Whether the save's own transaction can write the snapshots (see ``in_save``); else the
        unit of work puts them after the save, each in a transaction of its own."""
        return False

    def in_save(self, snapshots: Sequence[StoredEvent], prunes: Sequence[tuple[uuid.UUID, int]]) -> InSave:
        """The snapshot rows to insert and the older snapshots to delete (pathway id, version kept;
        ``DROP_ALL`` for every one), as statements run in the save's transaction."""
        raise NotImplementedError("this store writes snapshots after the save")


class SQLiteStore(StoreAdapter):
    kind = "sqlite"

    def _prune_statement(self) -> str:
        return f"DELETE FROM {self.recorder.events_table_name} WHERE originator_id = ? AND originator_version < ?"

    def prune_snapshots(self, pathway_id: uuid.UUID, keep_version: int) -> None:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(self._prune_statement(), (pathway_id.hex, keep_version))

    def snapshots_in_save(self, app_recorder: Any) -> bool:
        # the same database file, and a recorder that runs what the save hands it
        return isinstance(app_recorder, SQLiteRecorderWithSnapshots) and self.recorder is not None \
            and self.recorder.datastore is app_recorder.datastore

    def in_save(self, snapshots: Sequence[StoredEvent], prunes: Sequence[tuple[uuid.UUID, int]]) -> InSave:
        insert, prune = self.recorder.insert_events_statement, self._prune_statement()
        rows = [(s.originator_id.hex if isinstance(s.originator_id, uuid.UUID) else s.originator_id,
                 s.originator_version, s.topic, s.state) for s in snapshots]
        deletes = [(pathway_id.hex, keep) for pathway_id, keep in prunes]

        def run(cursor: Any) -> None:
            for row in rows:
                cursor.execute(insert, row)
            for pathway_and_version in deletes:
                cursor.execute(prune, pathway_and_version)
        return run


class SQLiteRecorderWithSnapshots(ChainedSQLiteRecorder):
    """The chained SQLite recorder, also running what a save hands it (``in_save=``: the snapshot
    rows of ``SQLiteStore.in_save``) in the save's transaction, after the events and their links.

    A command whose save also took a snapshot (every few commands) or pruned old ones used to
    commit two or three times, and each commit is an fsync (synchronous=FULL); now it commits
    once, and a snapshot can never be written for a save that failed."""

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        in_save: InSave | None = kwargs.pop("in_save", None)
        positions = super()._insert_events(c, stored_events, **kwargs)
        if in_save is not None:
            in_save(c)
        return positions


class PostgresStore(StoreAdapter):
    kind = "postgres"

    def prune_snapshots(self, pathway_id: uuid.UUID, keep_version: int) -> None:
        from psycopg.sql import SQL, Identifier
        statement = SQL("DELETE FROM {}.{} WHERE originator_id = %s AND originator_version < %s").format(
            Identifier(self.recorder.datastore.schema), Identifier(self.recorder.events_table_name))
        with self.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(statement, (pathway_id, keep_version))


def store_adapter(persistence_module: str, snapshot_recorder: Any) -> StoreAdapter:
    """The adapter for the store ``PERSISTENCE_MODULE`` names."""
    if persistence_module.endswith("postgres"):
        return PostgresStore(snapshot_recorder)
    if persistence_module.endswith("sqlite"):
        return SQLiteStore(snapshot_recorder)
    return StoreAdapter(snapshot_recorder)


def default_persistence(env: dict[str, str]) -> None:
    """SQLite in CARTPATH_DATA_DIR unless the environment picks another store."""
    from .settings import make_private_dir, private_files
    private_files()  # before the store (and SQLite's -wal/-shm files) are created
    merged = {**os.environ, **env}
    if not merged.get("PERSISTENCE_MODULE"):
        data_dir = Path(merged.get("CARTPATH_DATA_DIR") or "./var")
        make_private_dir(data_dir)
        # an empty PERSISTENCE_MODULE would give eventsourcing's in-memory store: never by accident
        env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        if not merged.get("SQLITE_DBNAME"):
            env["SQLITE_DBNAME"] = str(data_dir / "cartpath.sqlite3")
        env.setdefault("SQLITE_LOCK_TIMEOUT", "30")


def chained_recorder(env: dict[str, str]) -> None:
    """The hash-chained recorder (``chain.py``) for the store, unless the environment names a
    recorder itself (``APPLICATION_RECORDER_TOPIC``: the engine bench does, to measure the
    chain's cost against eventsourcing's plain recorder)."""
    from .chain import recorder_topic
    merged = {**os.environ, **env}
    if merged.get("CARTPATH_APPLICATION_RECORDER_TOPIC") or merged.get("APPLICATION_RECORDER_TOPIC"):
        return
    module = merged.get("CARTPATH_PERSISTENCE_MODULE") or merged.get("PERSISTENCE_MODULE") or ""
    topic = recorder_topic(module)
    if module.strip() == "eventsourcing.sqlite" and topic is not None:
        topic = SNAPSHOTTING_SQLITE_RECORDER  # the chained one, with the snapshots in the save
    if topic is not None:
        env["APPLICATION_RECORDER_TOPIC"] = topic


def store_unavailable_errors() -> tuple[type[Exception], ...]:
    """eventsourcing's wrappers (event store) and psycopg's own (the projections' views, role locks;
    psycopg_pool's PoolTimeout is one), but not sqlite3.OperationalError: SQLite's covers SQL bugs too."""
    from eventsourcing.persistence import InterfaceError, OperationalError
    found: list[type[Exception]] = [OperationalError, InterfaceError]
    try:
        import psycopg
        found += [psycopg.OperationalError, psycopg.InterfaceError]
    except ImportError:  # a SQLite-only installation
        pass
    return tuple(found)
