"""Checking the hash chain (``chain.py``): walk the events and their links in log order,
recompute every hash from the rows as stored, and name what was altered, removed,
inserted or reordered, with the first failure by position.

The walk reads the events table and the chain table side by side in windows of
positions (bounded memory at millions of events, the same SQL on both stores) and
never decodes an event: it needs no cipher key.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .chain import ZERO, ChainTables, canonical_id, checkpoint_hash, content_hash, genesis_hash, link_hash
from .errors import ChainUnavailable, UnknownPathway

WINDOW = 20_000
MAX_FINDINGS = 100
KINDS = ("altered", "removed", "inserted", "reordered")


@dataclass(frozen=True)
class Finding:
    position: int
    originator_id: str
    version: int | None
    kind: str  # one of KINDS
    detail: str

    def line(self) -> str:
        version = "" if self.version is None else f" v{self.version}"
        return f"{self.kind} at position {self.position}: {self.originator_id}{version}: {self.detail}"


@dataclass
class IntegrityReport:
    ok: bool = True
    checked: int = 0                      # chained events whose hashes were recomputed
    checkpoints: int = 0                  # checkpoints recomputed and matched
    unchained: int = 0                    # events written before the chain began
    unchained_before: int | None = None   # the chain starts at this position
    head: int = 0                         # last position seen
    pathway_id: str | None = None
    anchor: dict[str, Any] | None = None  # {hash, position, ok}
    findings: list[Finding] = field(default_factory=list)

    @property
    def first_failure(self) -> Finding | None:
        return min(self.findings, key=lambda f: f.position) if self.findings else None

    def as_dict(self) -> dict[str, Any]:
        first = self.first_failure
        return {"ok": self.ok, "checked": self.checked, "checkpoints": self.checkpoints,
                "unchained": self.unchained, "unchained_before": self.unchained_before, "head": self.head,
                "pathway_id": self.pathway_id, "anchor": self.anchor,
                "first_failure": asdict(first) if first else None,
                "findings": [asdict(f) for f in sorted(self.findings, key=lambda f: f.position)]}

    def lines(self) -> list[str]:
        """One line per finding, then the verdict (what ``cartpath audit check`` prints)."""
        out = [f.line() for f in sorted(self.findings, key=lambda f: f.position)]
        if self.unchained:
            out.append(f"unchained before position {self.unchained_before}: {self.unchained} event(s) written "
                       "before the chain began (not covered)")
        if self.anchor is not None:
            verdict = "extends" if self.anchor["ok"] else "does NOT extend"
            out.append(f"anchor {self.anchor['hash']}: the store {verdict} it")
        scope = f"pathway {self.pathway_id}" if self.pathway_id else "store"
        status = "ok" if self.ok else "FAILED"
        out.append(f"{status}: {scope}: {self.checked} chained event(s), {self.checkpoints} checkpoint(s) "
                   f"checked up to position {self.head}")
        return out


@dataclass(frozen=True)
class _Event:
    position: int
    originator_id: Any
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class _Link:
    position: int
    originator_id: Any
    version: int
    prev: bytes
    content: bytes


class _Store:
    """Reads for the walk, on a store's connection (SQLite or PostgreSQL), rows as tuples."""

    def __init__(self, recorder: Any) -> None:
        tables: ChainTables | None = getattr(recorder, "chain_tables", None)
        if tables is None:
            raise ChainUnavailable("this store keeps no hash chain (the in-memory store, or "
                                   "APPLICATION_RECORDER_TOPIC names a plain recorder)")
        self.recorder, self.t = recorder, tables
        p, t = tables.placeholder, tables
        self.postgres = p == "%s"
        where = f"WHERE {t.position} >= {p} AND {t.position} < {p}"
        # SQLite: the state as bytes, whatever an edit left there (text with invalid UTF-8 cannot
        # even be fetched as text, and compressed states are not UTF-8)
        state = "state" if self.postgres else "CAST(state AS BLOB)"
        self._events = (f"SELECT {t.position}, originator_id, originator_version, topic, {state} FROM {t.events} "
                        f"{where}")
        self._links = (f"SELECT position, originator_id, originator_version, prev_hash, content_hash "
                       f"FROM {t.chain} WHERE position >= {p} AND position < {p}")
        self._by_originator = f" AND originator_id = {p}"
        self._event_at = (f"SELECT {t.position} FROM {t.events} WHERE originator_id = {p} "
                          f"AND originator_version = {p}")
        self._link_at = (f"SELECT position FROM {t.chain} WHERE originator_id = {p} AND originator_version = {p}")
        self._links_of = (f"SELECT originator_version, content_hash FROM {t.chain} WHERE originator_id = {p}")
        self._max = (f"SELECT (SELECT MAX({t.position}) FROM {t.events}), (SELECT MAX(position) FROM {t.chain}), "
                     f"(SELECT MAX(position) FROM {t.checkpoints})")
        self._checkpoints = f"SELECT position, hash, events FROM {t.checkpoints} ORDER BY position"

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.postgres:
            from psycopg.rows import tuple_row
            with self.recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(sql, params)
                return curs.fetchall()
        with self.recorder.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [tuple(r) for r in c.fetchall()]

    def db_id(self, originator_id: Any) -> Any:
        return originator_id if self.postgres else canonical_id(originator_id)

    def head(self) -> int:
        row = self.query(self._max)[0]
        return max(int(v) for v in (*row, 0) if v is not None)

    def checkpoints(self) -> list[tuple[int, bytes, int]]:
        return [(int(p), bytes(h), int(n)) for p, h, n in self.query(self._checkpoints)]

    def window(self, lo: int, hi: int, originator: Any) -> tuple[list[_Event], list[_Link]]:
        extra, args = ("", (lo, hi)) if originator is None else (self._by_originator, (lo, hi, self.db_id(originator)))
        events = [_Event(int(r[0]), r[1], int(r[2]), str(r[3]), _bytes(r[4]))
                  for r in self.query(self._events + extra + f" ORDER BY {self.t.position}", args)]
        links = [_Link(int(r[0]), r[1], int(r[2]), _bytes(r[3]), _bytes(r[4]))
                 for r in self.query(self._links + extra + " ORDER BY position", args)]
        return events, links

    def event_position(self, originator_id: Any, version: int) -> int | None:
        rows = self.query(self._event_at, (self.db_id(originator_id), version))
        return int(rows[0][0]) if rows else None

    def link_position(self, originator_id: Any, version: int) -> int | None:
        rows = self.query(self._link_at, (self.db_id(originator_id), version))
        return int(rows[0][0]) if rows else None

    def contents_of(self, originator_id: Any) -> dict[int, bytes]:
        return {int(v): bytes(c) for v, c in self.query(self._links_of, (self.db_id(originator_id),))}


def _bytes(value: Any) -> bytes:
    """A column as bytes, whatever type someone editing the table left in it (text, NULL)."""
    if value.__class__ is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return b"" if value is None else bytes(value)


def _merged(events: list[_Event], links: list[_Link]) -> Iterator[tuple[_Event | None, _Link | None]]:
    """Events and links paired by position; a side missing at a position comes alone."""
    i = j = 0
    while i < len(events) or j < len(links):
        e = events[i] if i < len(events) else None
        k = links[j] if j < len(links) else None
        if k is None or (e is not None and e.position < k.position):
            i += 1
            yield e, None
        elif e is None or k.position < e.position:
            j += 1
            yield None, k
        else:
            i += 1
            j += 1
            yield e, k


class _Walk:
    def __init__(self, store: _Store, report: IntegrityReport, genesis: int | None) -> None:
        self.store, self.report, self.genesis = store, report, genesis
        self.heads: dict[str, tuple[int, bytes]] = {}   # canonical id -> (version, link) last seen
        self.seen_unchained: dict[str, int] = {}
        self.reported: set[tuple[str, int]] = set()
        self.pending: list[tuple[int, bytes]] = []     # (position, link) since the last checkpoint
        self.found_before_range = 0                     # findings before the current checkpoint's range
        self.range_start = (genesis or 0) + 1

    def find(self, position: int, originator_id: Any, version: int | None, kind: str, detail: str) -> None:
        key = (canonical_id(originator_id), version if version is not None else -1)
        if key in self.reported or len(self.report.findings) >= MAX_FINDINGS:
            return
        self.reported.add(key)
        self.report.findings.append(Finding(position, str(_as_uuid(originator_id)), version, kind, detail))

    def event_alone(self, e: _Event) -> None:
        if self.genesis is None or e.position <= self.genesis:
            self.report.unchained += 1
            self.seen_unchained[canonical_id(e.originator_id)] = e.version
            return
        elsewhere = self.store.link_position(e.originator_id, e.version)
        if elsewhere is not None:
            self.find(e.position, e.originator_id, e.version, "reordered",
                      f"found at position {e.position}, chained at position {elsewhere}")
        else:
            self.find(e.position, e.originator_id, e.version, "inserted", "an event the chain never recorded")

    def link_alone(self, k: _Link) -> None:
        elsewhere = self.store.event_position(k.originator_id, k.version)
        if elsewhere is not None:
            self.find(k.position, k.originator_id, k.version, "reordered",
                      f"chained at position {k.position}, found at position {elsewhere}")
        else:
            self.find(k.position, k.originator_id, k.version, "removed", "the chain records it; the store has not")
        self.follow(k)

    def follow(self, k: _Link) -> None:
        """Go on from a link whose event is missing or elsewhere, as written: one finding, not a cascade."""
        link = link_hash(k.prev, k.content)
        self.heads[canonical_id(k.originator_id)] = (k.version, link)
        self.pending.append((k.position, link))  # the checkpoint sealed it

    def pair(self, e: _Event, k: _Link) -> None:
        oid = canonical_id(e.originator_id)
        if e.version != k.version or oid != canonical_id(k.originator_id):
            self.find(e.position, e.originator_id, e.version, "reordered",
                      f"found at position {e.position}, where the chain has "
                      f"{_as_uuid(k.originator_id)} v{k.version}")
            self.follow(k)
            return
        self.report.checked += 1
        content = content_hash(e.topic, oid, e.version, e.state)
        if content != k.content:
            self.find(e.position, e.originator_id, e.version, *self._changed(e))
        head = self.heads.get(oid)
        if head is not None:
            if head[0] != e.version - 1:
                missing = f"version {e.version - 1}" if head[0] == e.version - 2 else \
                    f"versions {head[0] + 1} to {e.version - 1}"
                self.find(e.position, e.originator_id, e.version, "removed", f"{missing} of it is missing")
            elif head[1] != k.prev:
                self.find(e.position, e.originator_id, e.version, "altered",
                          "its link to the previous version does not match (the chain was rewritten)")
        elif k.prev != ZERO or (e.version > 1 and self.seen_unchained.get(oid) != e.version - 1):
            self.find(e.position, e.originator_id, e.version, "removed",
                      f"versions before {e.version} are missing")
        link = link_hash(k.prev, content)
        self.heads[oid] = (e.version, link if content == k.content else link_hash(k.prev, k.content))
        self.pending.append((e.position, link))

    def _changed(self, e: _Event) -> tuple[str, str]:
        """Altered, or another version's content moved here (a swap of rows is a reordering)."""
        for version, content in self.store.contents_of(e.originator_id).items():
            if version != e.version and content_hash(e.topic, e.originator_id, version, e.state) == content:
                return "reordered", f"it holds the content chained as version {version}"
        return "altered", "its content does not match the hash recorded when it was written"


def _as_uuid(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return value


def check_integrity(app_or_recorder: Any, pathway_id: uuid.UUID | str | None = None,
                    anchor: str | None = None) -> IntegrityReport:
    """Walk the chain (one aggregate's, or the whole store's with its checkpoints) and report.

    ``anchor`` is a checkpoint hash kept outside the system (``cartpath audit anchor``): the
    store extends it if a checkpoint with that hash is there and everything up to it checks."""
    store = _Store(getattr(app_or_recorder, "recorder", app_or_recorder))
    originator = None
    if pathway_id is not None and anchor is None:
        originator = pathway_id if isinstance(pathway_id, uuid.UUID) else _parse_id(pathway_id)
    report = IntegrityReport(pathway_id=str(originator) if originator is not None else None)
    checkpoints = store.checkpoints()
    genesis = checkpoints[0][0] if checkpoints else None
    walk = _Walk(store, report, genesis)
    report.head = head = store.head()
    todo = [c for c in checkpoints[1:]] if originator is None else []
    sealed = genesis_hash(genesis) if genesis is not None else ZERO
    recomputed: dict[int, bytes] = {genesis: sealed} if genesis is not None else {}
    first_mismatch: int | None = None
    lo = 0
    while lo <= head:
        hi = lo + WINDOW
        events, links = store.window(lo, hi, originator)
        for e, k in _merged(events, links):
            position = (e or k).position  # type: ignore[union-attr]  # one of them is there
            while todo and todo[0][0] < position:
                sealed, first_mismatch = _close(walk, todo.pop(0), sealed, recomputed, first_mismatch)
            if k is None:
                walk.event_alone(e)  # type: ignore[arg-type]
            elif e is None:
                walk.link_alone(k)
            else:
                walk.pair(e, k)
        lo = hi
    while todo:
        sealed, first_mismatch = _close(walk, todo.pop(0), sealed, recomputed, first_mismatch)
    if originator is not None and not (report.checked or report.unchained or report.findings):
        raise UnknownPathway(f"pathway {originator} has no events in this store")
    if anchor is not None:
        report.anchor = _anchor(anchor, checkpoints, recomputed, first_mismatch, report)
    if genesis is not None:
        report.unchained_before = genesis + 1
    elif report.unchained:  # never written since the chain came: all of it is from before
        report.unchained_before = head + 1
    report.ok = not report.findings and (report.anchor is None or report.anchor["ok"])
    return report


def _close(walk: _Walk, checkpoint: tuple[int, bytes, int], previous: bytes, recomputed: dict[int, bytes],
           first_mismatch: int | None) -> tuple[bytes, int | None]:
    """Recompute a checkpoint from the events walked since the previous one."""
    position, stored, count = checkpoint
    mine = checkpoint_hash(previous, walk.pending)
    recomputed[position] = mine
    if mine == stored:
        walk.report.checkpoints += 1
    else:
        if first_mismatch is None:
            first_mismatch = position
        if len(walk.report.findings) == walk.found_before_range:  # not explained by an event found above
            missing = count - len(walk.pending)
            kind = "removed" if missing > 0 else "inserted" if missing < 0 else "altered"
            walk.find(walk.range_start, "checkpoint", position, kind,
                      f"the checkpoint at position {position} does not match the {len(walk.pending)} event(s) "
                      f"from position {walk.range_start} (it sealed {count}): the last event(s) of an "
                      "aggregate were removed or replaced together with their links")
    walk.pending = []
    walk.found_before_range = len(walk.report.findings)
    walk.range_start = position + 1
    return stored, first_mismatch  # the next range is checked on its own against what was sealed


def _anchor(anchor: str, checkpoints: list[tuple[int, bytes, int]], recomputed: dict[int, bytes],
            first_mismatch: int | None, report: IntegrityReport) -> dict[str, Any]:
    wanted = anchor.strip().lower()
    found = next((c for c in checkpoints if c[1].hex() == wanted), None)
    if found is None:
        last = checkpoints[-1][0] if checkpoints else 0
        report.findings.append(Finding(last, "checkpoint", None, "removed",
                                       "the anchor is not a checkpoint of this store: the history it sealed "
                                       "was removed or rewritten"))
        return {"hash": wanted, "position": None, "ok": False}
    position = found[0]
    earlier = [f for f in report.findings if f.position <= position]
    ok = recomputed.get(position) == found[1] and not earlier and (first_mismatch is None or first_mismatch > position)
    return {"hash": wanted, "position": position, "ok": ok}


def _parse_id(value: str) -> uuid.UUID:
    from .unit_of_work import pathway_key
    return pathway_key(value)


def take_anchor(app_or_recorder: Any) -> dict[str, Any]:
    """Checkpoint the head of the chain now and return it: the hash to keep outside the system."""
    recorder = getattr(app_or_recorder, "recorder", app_or_recorder)
    if not hasattr(recorder, "seal_head"):
        raise ChainUnavailable("this store keeps no hash chain")
    position, sealed = recorder.seal_head()
    return {"hash": sealed.hex(), "position": position}
