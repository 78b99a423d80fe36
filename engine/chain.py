"""The hash chain: every stored event carries the hash of its predecessor in the same
aggregate and of its own content, and the log is sealed by checkpoints.

It lives in the store's recorder (eventsourcing's ``APPLICATION_RECORDER_TOPIC``), so
every aggregate the application saves (pathways, indexes, inventory, definitions) is
chained in the same transaction as its events, with no second write path. Two side
tables sit next to the events table (``<events>_link_runs``, ``<events>_checkpoints``):
the library's events table keeps its exact shape, so stores written before the chain
still load, and their events are reported as unchained before the first checkpoint.

``<events>_link_runs`` holds the links of consecutive log positions together: a row is
the first position of a run and the run's links, 32 bytes each, in position order
(``links[32*i:32*i+32]`` is the link of ``position + i``). A save writes one row for the
events it adds (they take consecutive positions), so the per-row cost of the store (a
tuple header and an index entry: ~50 bytes on PostgreSQL) is paid once a save, not once
an event. Everything else the check needs is in the events row at that position
(aggregate, version, content), and an event's predecessor is found through the events
table's own (originator_id, originator_version) key, then the run that covers its position.

Stores written before are converted the first time the recorder uses its chain
(``ensure_links``), their links kept exactly as written, so every checkpoint and anchor
still matches: ``<events>_links`` (one row per position, the release of 2026-12-03) is
regrouped into runs; ``<events>_chain`` (originator id, version, position, prev and
content hashes, ~180 bytes a row, before that) has each link computed from its two
stored hashes.

What is hashed is the event row exactly as stored (topic, originator id, version and
the state bytes, i.e. the ciphertext when encryption at rest is on): the chain can
then be checked without the cipher key, and altering a row is caught either way.

- content  = SHA-256 of the length-prefixed topic, originator id, version, then state
- link     = SHA-256(prev || content), where prev is the predecessor's link (zeros for
             the first chained event of an aggregate)
- checkpoint = SHA-256(previous checkpoint || (position, link) of every chained event
             after it, in log order), written in the transaction whose events cross a
             multiple of CHECKPOINT_INTERVAL positions, or on demand (``seal``) when an
             anchor is taken; the first checkpoint (the genesis) records where the
             chain starts.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from .writer_turns import WriterTurns

log = logging.getLogger("cartpath.chain")

CHECKPOINT_INTERVAL = 1000
LINK_SIZE = 32
RUN_LIMIT = 256  # links one row holds at most (8 KiB): a big save or a conversion writes several rows
ROWS_PER_INSERT = 250  # 2 parameters a row: well under SQLite's and PostgreSQL's parameter limits
CONVERT_BATCH = 10_000  # rows of an old table read at a time while converting
ZERO = bytes(LINK_SIZE)
CHAINED_TOPICS = {
    "eventsourcing.sqlite": "cartpath.engine.chain:ChainedSQLiteRecorder",
    "eventsourcing.postgres": "cartpath.engine.chain:ChainedPostgresRecorder",
}


def canonical_id(originator_id: Any) -> str:
    """The originator id as hashed: a UUID's 32 hex digits (how SQLite stores it), else the text."""
    return originator_id.hex if isinstance(originator_id, uuid.UUID) else str(originator_id)


def content_hash(topic: str, originator_id: Any, version: int, state: bytes) -> bytes:
    parts = [b"cartpath-event/1\n"]
    for part in (topic.encode(), canonical_id(originator_id).encode(), str(version).encode()):
        parts += (len(part).to_bytes(4, "big"), part)
    parts.append(state)
    return hashlib.sha256(b"".join(parts)).digest()  # one call: the walk hashes millions of these


def link_hash(prev: bytes, content: bytes) -> bytes:
    return hashlib.sha256(prev + content).digest()


def genesis_hash(position: int) -> bytes:
    """The first checkpoint: the chain starts after ``position`` (events up to it are unchained)."""
    return hashlib.sha256(b"cartpath-chain/1 genesis " + str(position).encode()).digest()


def checkpoint_hash(previous: bytes, links: Iterable[tuple[int, bytes]]) -> bytes:
    digest = hashlib.sha256(previous)
    for position, link in links:
        digest.update(position.to_bytes(8, "big"))
        digest.update(link)
    return digest.digest()


def runs_of(links: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """(position, link) pairs in position order, as rows: (first position, the links of the
    consecutive positions from it), at most RUN_LIMIT links a row."""
    runs: list[tuple[int, bytes]] = []
    start, parts = 0, []  # type: tuple[int, list[bytes]]
    for position, link in links:
        if parts and position == start + len(parts) and len(parts) < RUN_LIMIT:
            parts.append(link)
            continue
        if parts:
            runs.append((start, b"".join(parts)))
        start, parts = position, [link]
    if parts:
        runs.append((start, b"".join(parts)))
    return runs


def links_in(runs: Iterable[tuple[Any, Any]]) -> list[tuple[int, bytes]]:
    """The (position, link) pairs rows hold, in position order. A row whose length is not a
    multiple of 32 (edited by hand) ends with a short link, which matches nothing."""
    out: list[tuple[int, bytes]] = []
    for position, blob in runs:
        start, blob = int(position), as_bytes(blob)
        for offset in range(0, max(len(blob), 1), LINK_SIZE):
            out.append((start + offset // LINK_SIZE, blob[offset:offset + LINK_SIZE]))
    out.sort(key=lambda pair: pair[0])
    return out


def link_at(position: Any, run_start: Any, blob: Any) -> bytes | None:
    """The link of ``position`` in the row starting at ``run_start``; None if the row ends before it."""
    if run_start is None or blob is None:
        return None
    offset = (int(position) - int(run_start)) * LINK_SIZE
    link = as_bytes(blob)[offset:offset + LINK_SIZE]
    return link if link else None


def as_bytes(value: Any) -> bytes:
    """A column as bytes, whatever type someone editing the table left in it (text, NULL)."""
    if value.__class__ is bytes:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return b"" if value is None else bytes(value)


def recorder_topic(persistence_module: str) -> str | None:
    """The chained recorder for a store (None for the in-memory one, which keeps no chain)."""
    return CHAINED_TOPICS.get(persistence_module.strip())


class ChainTables:
    """The chain's SQL for one store: the parts that differ are the placeholder, how the
    events table names its position, and how table names are qualified."""

    def __init__(self, events_table: str, *, placeholder: str, position: str, qualify: str = "") -> None:
        p = placeholder
        self.placeholder = p
        self.events = f"{qualify}{_quote(events_table)}"
        self.runs = f"{qualify}{_quote(events_table + '_link_runs')}"
        self.checkpoints = f"{qualify}{_quote(events_table + '_checkpoints')}"
        self.links = f"{qualify}{_quote(events_table + '_links')}"  # a link a row (2026-12-03): converted
        self.old_chain = f"{qualify}{_quote(events_table + '_chain')}"  # before that: converted
        self.position = position
        self.insert_run = f"INSERT INTO {self.runs} (position, links) VALUES ({p}, {p})"
        self.run_values = f"({p}, {p})"
        # the run covering a position: the row with the greatest first position at or before it
        self.covering = f"(SELECT MAX(position) FROM {self.runs} WHERE position <= {{}})"
        covering_event = self.covering.format(f"e.{position}")
        # the events of a selection with the run that covers each (the link is cut out of it)
        self.events_with_runs = (f"SELECT e.originator_version, e.{position}, r.position, r.links FROM {self.events} e "
                                 f"LEFT JOIN {self.runs} r ON r.position = {covering_event} ")
        # the predecessor's link, found through the events table's own (originator_id, version) key
        self.select_link = self.events_with_runs + f"WHERE e.originator_id = {p} AND e.originator_version = {p}"
        self.last_checkpoint = f"SELECT position, hash FROM {self.checkpoints} ORDER BY position DESC LIMIT 1"
        self.insert_checkpoint = f"INSERT INTO {self.checkpoints} (position, hash, events) VALUES ({p}, {p}, {p})"
        # the rows holding the links of positions lo..hi (parameters: hi, lo), to cut with links_in
        self.runs_from_to = (f"SELECT position, links FROM {self.runs} WHERE position <= {p} "
                             f"AND position >= COALESCE({self.covering.format(p)}, 0) ORDER BY position")
        self.last_unchained = f"SELECT MAX({position}) FROM {self.events} WHERE {position} < {p}"
        self.last_link = (f"(SELECT position + (length(links) + {LINK_SIZE - 1}) / {LINK_SIZE} - 1 "
                          f"FROM {self.runs} ORDER BY position DESC LIMIT 1)")
        self.head = f"SELECT {self.last_link}, (SELECT MAX({position}) FROM {self.events})"
        # a write that changes nothing: it takes SQLite's write lock before the first read
        self.take_write_lock = f"DELETE FROM {self.checkpoints} WHERE position < 0"
        self.old_rows = {  # an old table's links, a batch of positions at a time
            self.old_chain: (f"SELECT position, prev_hash, content_hash FROM {self.old_chain} "
                             f"WHERE position > {p} ORDER BY position LIMIT {CONVERT_BATCH}"),
            self.links: (f"SELECT position, link FROM {self.links} "
                         f"WHERE position > {p} ORDER BY position LIMIT {CONVERT_BATCH}")}

    def insert_runs(self, count: int) -> str:
        """An INSERT of ``count`` rows in one statement."""
        head = self.insert_run[:self.insert_run.index("VALUES") + len("VALUES")]
        return head + " " + ", ".join([self.run_values] * count)

    def write_links(self, cursor: Any, links: Sequence[tuple[int, bytes]]) -> None:
        """Store (position, link) pairs (position order) as runs: one multi-row INSERT a chunk,
        never executemany: inside the PostgreSQL recorder's pipeline, executemany's queued
        results were read back as the next SELECT's ("the last operation didn't produce
        records: INSERT 0 1") once a save crossed a checkpoint."""
        runs = runs_of(links)
        for start in range(0, len(runs), ROWS_PER_INSERT):
            chunk = runs[start:start + ROWS_PER_INSERT]
            cursor.execute(self.insert_runs(len(chunk)), [value for row in chunk for value in row])

    def links_between(self, cursor: Any, after: int, upto: int) -> list[tuple[int, bytes]]:
        """The links of positions after < p <= upto, in order."""
        cursor.execute(self.runs_from_to, (upto, after + 1))
        return [(p, k) for p, k in links_in(cursor.fetchall()) if after < p <= upto]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ChainWriter:
    """Writes the links of a save and any checkpoint it crosses, inside the save's transaction
    (the events table is already locked for writing by then: the insert came first).

    It remembers what it saw committed, to spare a save two reads: the link of each aggregate's
    last event written by this process (a link never changes once committed: when another
    process wrote a later version, the version asked for is not the remembered one, and the
    table is read), and a checkpoint position (the log's last checkpoint can only be at or after
    it, and before the save's first position: a save that stays in that checkpoint's interval
    crosses none). What a transaction computed is remembered only once it committed
    (``committed``), so a save that failed leaves nothing behind."""

    def __init__(self, tables: ChainTables, db_id: Any = canonical_id, remember: int = 4096) -> None:
        self.tables = tables
        self.db_id = db_id  # the originator id as the events table's column takes it
        self.remember = remember
        self._lock = threading.Lock()
        self._links: OrderedDict[Any, tuple[int, bytes]] = OrderedDict()
        self._checkpoint: int | None = None
        self._pending = threading.local()

    def committed(self) -> None:
        """The save whose links were computed on this thread committed: remember them."""
        heads, checkpoint = getattr(self._pending, "heads", None), getattr(self._pending, "checkpoint", None)
        self.discard()
        with self._lock:
            if checkpoint is not None and (self._checkpoint is None or checkpoint > self._checkpoint):
                self._checkpoint = checkpoint
            for originator_id, head in (heads or {}).items():
                self._links[originator_id] = head
                self._links.move_to_end(originator_id)
            while len(self._links) > self.remember:
                self._links.popitem(last=False)

    def discard(self) -> None:
        self._pending.heads = self._pending.checkpoint = None

    def _remembered(self, originator_id: Any, version: int) -> bytes | None:
        with self._lock:
            known = self._links.get(originator_id)
        return known[1] if known is not None and known[0] == version else None

    def record(self, cursor: Any, stored_events: Sequence[StoredEvent], positions: Sequence[int]) -> None:
        t = self.tables
        heads: dict[Any, tuple[int, bytes]] = {}
        rows = []
        for stored, position in zip(stored_events, positions, strict=True):
            version = stored.originator_version
            known = heads.get(stored.originator_id)
            if known is not None and known[0] == version - 1:
                prev = known[1]
            else:
                remembered = self._remembered(stored.originator_id, version - 1) if version > 1 else None
                prev = remembered if remembered is not None else \
                    self.predecessor(cursor, stored.originator_id, version)
            content = content_hash(stored.topic, stored.originator_id, version, stored.state)
            link = link_hash(prev, content)
            heads[stored.originator_id] = (version, link)
            rows.append((position, link))
        t.write_links(cursor, sorted(rows))
        self._pending.heads = heads
        self._pending.checkpoint = self.checkpoint_if_crossed(cursor, min(positions), max(positions))

    def predecessor(self, cursor: Any, originator_id: Any, version: int) -> bytes:
        """The link of version - 1; zeros for a first event, or one written before the chain began."""
        if version <= 1:
            return ZERO
        cursor.execute(self.tables.select_link, (self.db_id(originator_id), version - 1))
        row = cursor.fetchone()
        link = None if row is None else link_at(row[1], row[2], row[3])
        return ZERO if link is None else link

    def last_checkpoint(self, cursor: Any, first_new: int) -> tuple[int, bytes]:
        """The latest checkpoint; the genesis is written first if the chain has none yet."""
        t = self.tables
        cursor.execute(t.last_checkpoint)
        row = cursor.fetchone()
        if row is not None:
            return int(row[0]), bytes(row[1])
        cursor.execute(t.last_unchained, (first_new,))
        found = cursor.fetchone()
        start = int(found[0]) if found is not None and found[0] is not None else 0
        cursor.execute(t.insert_checkpoint, (start, genesis_hash(start), 0))
        return start, genesis_hash(start)

    def checkpoint_if_crossed(self, cursor: Any, first_new: int, last_new: int) -> int:
        """Seals the log if this save crosses a multiple of the interval; the last checkpoint's position."""
        with self._lock:
            known = self._checkpoint
        if known is not None and known < first_new and last_new // CHECKPOINT_INTERVAL == known // CHECKPOINT_INTERVAL:
            return known
        position, previous = self.last_checkpoint(cursor, first_new)
        if last_new // CHECKPOINT_INTERVAL > position // CHECKPOINT_INTERVAL:
            self.seal(cursor, position, previous, last_new)
            return last_new
        return position

    def seal(self, cursor: Any, after: int, previous: bytes, upto: int) -> bytes:
        links = self.tables.links_between(cursor, after, upto)
        sealed = checkpoint_hash(previous, links)
        cursor.execute(self.tables.insert_checkpoint, (upto, sealed, len(links)))
        return sealed

    def seal_head(self, cursor: Any) -> tuple[int, bytes]:
        """Checkpoint the chain's head now (if it moved since the last checkpoint): what an anchor takes."""
        t = self.tables
        cursor.execute(t.head)
        row = cursor.fetchone()
        head = int(row[0]) if row is not None and row[0] is not None else 0
        # a store never written since the chain came: all its events are before the genesis
        last_event = int(row[1]) if row is not None and row[1] is not None else 0
        position, previous = self.last_checkpoint(cursor, last_event + 1)
        if head > position:
            return head, self.seal(cursor, position, previous, head)
        return position, previous


def convert_old_table(cursor: Any, tables: ChainTables, old_table: str, create_runs: str) -> int:
    """Move a store written before the link runs to them, inside the caller's transaction, which
    holds the store's write lock: ``old_table`` is read in batches of positions (a link a row as
    stored; or, from ``<events>_chain``, SHA-256(prev_hash || content_hash) of each row), written
    as runs, then dropped (its index with it). Returns how many links were written."""
    cursor.execute(create_runs)
    converted, after = 0, -1
    from_chain = old_table == tables.old_chain
    while True:
        cursor.execute(tables.old_rows[old_table], (after,))
        rows = cursor.fetchall()
        if not rows:
            break
        if from_chain:
            links = [(int(r[0]), link_hash(bytes(r[1]), bytes(r[2]))) for r in rows]
        else:
            links = [(int(r[0]), bytes(r[1])) for r in rows]
        tables.write_links(cursor, links)
        converted += len(links)
        after = links[-1][0]
    cursor.execute(f"DROP TABLE {old_table}")
    return converted


def sqlite_tables(events_table: str) -> ChainTables:
    return ChainTables(events_table, placeholder="?", position="rowid")


_CONVERSION = threading.Lock()  # one thread of a process converts; the others wait for it


class _CommitsTheChain:
    """The links a save wrote are the writer's to remember only once the library's transaction
    has committed (both recorders: it commits when ``insert_events`` returns).

    Also where a store written before the link runs is converted: the first time the recorder
    uses its chain (a save, an anchor, a check, ``db init``, ``db compact``), not when it is
    constructed, so a process that starts while PostgreSQL restarts still starts."""

    chain: ChainWriter
    chain_tables: ChainTables
    _links_ready = False
    converted_links = 0  # links this recorder moved from an old table (0: nothing to convert)

    def ensure_links(self) -> int:
        """Convert the old table (``<events>_links`` or ``<events>_chain``) if the store still has
        one; links converted."""
        if self._links_ready:
            return 0
        with _CONVERSION:
            if self._links_ready:
                return 0
            old = self._old_table()
            converted = self._convert_old_chain() if old is not None else 0
            if converted:
                log.warning("hash chain: converted %d link(s) of %s to %s", converted, old, self.chain_tables.runs)
            self.converted_links += converted
            self._links_ready = True
            return converted

    def _has_old_chain(self) -> bool:
        return self._old_table() is not None

    def _old_table(self) -> str | None:
        """The old table this store still has (the newer first), if any."""
        raise NotImplementedError

    def _convert_old_chain(self) -> int:
        raise NotImplementedError

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        self.ensure_links()
        try:
            positions = super().insert_events(stored_events, **kwargs)  # type: ignore[misc]
        except BaseException:
            self.chain.discard()
            raise
        self.chain.committed()
        return positions  # type: ignore[no-any-return]


class ChainedSQLiteRecorder(_CommitsTheChain, SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder, with each save's links written in its transaction."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        self.chain_tables = sqlite_tables(events_table_name)
        super().__init__(datastore, events_table_name)
        self.chain = ChainWriter(self.chain_tables)
        # saves queue for the database's write lock in the kernel, not in SQLite's busy handler
        self.turns = WriterTurns(datastore.pool.db_name)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.turns.turn():
            return super().insert_events(stored_events, **kwargs)

    def runs_table_statement(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.chain_tables.runs} (position INTEGER PRIMARY KEY, " \
            "links BLOB NOT NULL)"

    def construct_create_table_statements(self) -> list[str]:
        t = self.chain_tables
        return [*super().construct_create_table_statements(), self.runs_table_statement(),
                f"CREATE TABLE IF NOT EXISTS {t.checkpoints} (position INTEGER PRIMARY KEY, "
                "hash BLOB NOT NULL, events INTEGER NOT NULL)"]

    def _old_table_in(self, c: Any) -> str | None:
        t = self.chain_tables
        for suffix, table in (("_links", t.links), ("_chain", t.old_chain)):
            c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (self.events_table_name + suffix,))
            if c.fetchone() is not None:
                return table
        return None

    def _old_table(self) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            return self._old_table_in(c)

    def _convert_old_chain(self) -> int:
        with self.turns.turn(), self.datastore.transaction(commit=True) as c:
            c.execute(self.chain_tables.take_write_lock)  # an old table comes with its checkpoints table
            old = self._old_table_in(c)
            if old is None:  # another process converted it meanwhile
                return 0
            return convert_old_table(c, self.chain_tables, old, self.runs_table_statement())

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        if stored_events and positions:
            self.chain.record(c, stored_events, positions)
        return positions

    def seal_head(self) -> tuple[int, bytes]:
        self.ensure_links()
        with self.turns.turn(), self.datastore.transaction(commit=True) as c:
            c.execute(self.chain_tables.take_write_lock)
            return self.chain.seal_head(c)


try:  # PostgreSQL is an optional extra
    from eventsourcing.postgres import PostgresApplicationRecorder
    from psycopg.rows import tuple_row
except ImportError:  # pragma: no cover - a SQLite-only installation
    PostgresApplicationRecorder = None  # type: ignore[assignment,misc]


def postgres_tables(schema: str, events_table: str) -> ChainTables:
    return ChainTables(events_table, placeholder="%s", position="notification_id", qualify=f"{_quote(schema)}.")


if PostgresApplicationRecorder is not None:
    class ChainedPostgresRecorder(_CommitsTheChain, PostgresApplicationRecorder):
        """eventsourcing's PostgreSQL recorder, with each save's links written in its transaction,
        after the insert (which has taken the events table's EXCLUSIVE lock: links and
        checkpoints are written in commit order)."""

        def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
            super().__init__(datastore, events_table_name=events_table_name)
            if datastore.enable_db_functions:
                raise ValueError("the hash chain needs POSTGRES_ENABLE_DB_FUNCTIONS off (cartpath's default)")
            from psycopg.sql import SQL
            t = self.chain_tables = postgres_tables(datastore.schema, events_table_name)
            self.sql_create_statements += [SQL(statement).format() for statement in (  # Composed, as the library's
                self.runs_table_statement(),
                f"CREATE TABLE IF NOT EXISTS {t.checkpoints} (position bigint PRIMARY KEY, "
                "hash bytea NOT NULL, events bigint NOT NULL)")]
            self.chain = ChainWriter(t, db_id=lambda oid: oid)

        def runs_table_statement(self) -> str:
            return f"CREATE TABLE IF NOT EXISTS {self.chain_tables.runs} (position bigint PRIMARY KEY, " \
                "links bytea NOT NULL)"

        def _old_table_in(self, curs: Any) -> str | None:
            t = self.chain_tables
            for suffix, table in (("_links", t.links), ("_chain", t.old_chain)):
                curs.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                             (self.datastore.schema, self.events_table_name + suffix))
                if curs.fetchone() is not None:
                    return table
            return None

        def _old_table(self) -> str | None:
            with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
                return self._old_table_in(curs)

        def _convert_old_chain(self) -> int:
            with self.datastore.transaction(commit=True) as curs:
                self._lock_table(curs)  # no save in between: every event has its link, or is converted
                with curs.connection.cursor(row_factory=tuple_row) as plain:
                    old = self._old_table_in(plain)
                    if old is None:  # another process converted it meanwhile
                        return 0
                    return convert_old_table(plain, self.chain_tables, old, self.runs_table_statement())

        def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                                           **kwargs: Any) -> Sequence[int] | None:
            positions = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            if positions:
                with curs.connection.cursor(row_factory=tuple_row) as plain:
                    self.chain.record(plain, stored_events, positions)
            return positions

        def seal_head(self) -> tuple[int, bytes]:
            self.ensure_links()
            with self.datastore.transaction(commit=True) as curs:
                self._lock_table(curs)  # the same lock as a save: checkpoints stay in commit order
                with curs.connection.cursor(row_factory=tuple_row) as plain:
                    return self.chain.seal_head(plain)
