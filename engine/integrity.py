"""Checking the hash chain (``chain.py``): walk the events and their links in log order,
recompute every link from the rows as stored, and name what was altered, removed,
inserted or reordered, with the first failure by position.

The walk reads the events table and the link runs side by side in windows of
positions (bounded memory at millions of events, the same SQL on both stores) and
never decodes an event: it needs no cipher key. The runs keep one hash per position
and nothing else, so what the walk knows of an event comes from its row: each
aggregate's previous link is carried along the walk, the link an event should have is
recomputed from it and compared with the one stored at the event's position.

- altered: the link stored at an event's position is not the one its content and its
  predecessor's link give (the content, or the link itself, was changed);
- removed: a link at a position with no event (named with its aggregate and version when a
  later version of that aggregate chains from it), or a version missing from an aggregate;
- inserted: an event at a position with no link, whose link is nowhere else either;
- reordered: an event whose expected link is stored at another position, a version met
  before an earlier one, or an event holding another version's content;
- a checkpoint that does not match what was walked since the previous one: the chain was
  rewritten (or its last events removed with their links), which no per-event check sees.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .chain import (
    ZERO,
    ChainTables,
    as_bytes,
    canonical_id,
    checkpoint_hash,
    content_hash,
    genesis_hash,
    link_at,
    link_hash,
    links_in,
)
from .errors import ChainUnavailable, UnknownPathway

WINDOW = 20_000
MAX_FINDINGS = 100
KINDS = ("altered", "removed", "inserted", "reordered")
UNKNOWN = "unknown"  # the aggregate of a link whose event is gone, when no later version names it


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


class _Store:
    """Reads for the walk, on a store's connection (SQLite or PostgreSQL), rows as tuples."""

    def __init__(self, recorder: Any) -> None:
        tables: ChainTables | None = getattr(recorder, "chain_tables", None)
        if tables is None:
            raise ChainUnavailable("this store keeps no hash chain (the in-memory store, or "
                                   "APPLICATION_RECORDER_TOPIC names a plain recorder)")
        recorder.ensure_links()  # a store written before the link runs is converted first
        self.recorder, self.t = recorder, tables
        p, t = tables.placeholder, tables
        self.postgres = p == "%s"
        where = f"WHERE {t.position} >= {p} AND {t.position} < {p}"
        # SQLite: the state as bytes, whatever an edit left there (text with invalid UTF-8 cannot
        # even be fetched as text, and compressed states are not UTF-8)
        state = "state" if self.postgres else "CAST(state AS BLOB)"
        self._events = (f"SELECT {t.position}, originator_id, originator_version, topic, {state} FROM {t.events} "
                        f"{where}")
        # one aggregate's: each of its events with the run covering it (from the events' side, so the
        # planner starts from the events table's originator key, not from a window of every run)
        self._links_of_one = t.events_with_runs + f"WHERE e.{t.position} >= {p} AND e.{t.position} < {p} " \
            f"AND e.originator_id = {p}"
        self._by_originator = f" AND originator_id = {p}"
        self._event_at = (f"SELECT {t.position} FROM {t.events} WHERE originator_id = {p} "
                          f"AND originator_version = {p}")
        self._links_of = t.events_with_runs + f"WHERE e.originator_id = {p}"
        self._max = (f"SELECT (SELECT MAX({t.position}) FROM {t.events}), {t.last_link}, "
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

    def window(self, lo: int, hi: int, originator: Any) -> tuple[list[_Event], list[tuple[int, bytes]]]:
        order = f" ORDER BY {self.t.position}"
        if originator is None:
            events = self.query(self._events + order, (lo, hi))
            links = [(p, k) for p, k in links_in(self.query(self.t.runs_from_to, (hi - 1, lo))) if lo <= p < hi]
        else:
            args = (lo, hi, self.db_id(originator))
            events = self.query(self._events + self._by_originator + order, args)
            links = sorted((int(r[1]), k) for r in self.query(self._links_of_one, args)
                           if (k := link_at(r[1], r[2], r[3])) is not None)
        return [_Event(int(r[0]), r[1], int(r[2]), str(r[3]), as_bytes(r[4])) for r in events], links

    def event_position(self, originator_id: Any, version: int) -> int | None:
        rows = self.query(self._event_at, (self.db_id(originator_id), version))
        return int(rows[0][0]) if rows else None

    def links_of(self, originator_id: Any) -> dict[int, bytes]:
        """The links stored at the positions of an aggregate's events, by version."""
        return {int(r[0]): k for r in self.query(self._links_of, (self.db_id(originator_id),))
                if (k := link_at(r[1], r[2], r[3])) is not None}


def _merged(events: list[_Event], links: list[tuple[int, bytes]]
            ) -> Iterator[tuple[int, _Event | None, bytes | None]]:
    """Events and links paired by position; a side missing at a position comes alone."""
    i = j = 0
    while i < len(events) or j < len(links):
        e = events[i] if i < len(events) else None
        k = links[j] if j < len(links) else None
        if k is None or (e is not None and e.position < k[0]):
            i += 1
            yield e.position, e, None  # type: ignore[union-attr]  # e is there
        elif e is None or k[0] < e.position:
            j += 1
            yield k[0], None, k[1]
        else:
            i += 1
            j += 1
            yield e.position, e, k[1]


class _Walk:
    def __init__(self, store: _Store, report: IntegrityReport, genesis: int | None) -> None:
        self.store, self.report, self.genesis = store, report, genesis
        # canonical id -> (version, link as stored, the recomputed link when they differ) last seen
        self.heads: dict[str, tuple[int, bytes, bytes | None]] = {}
        self.seen_unchained: dict[str, int] = {}
        self.reported: set[Any] = set()
        self.orphans: dict[bytes, tuple[int, int]] = {}  # link with no event -> (position, index in findings)
        self.window_links: list[tuple[int, bytes]] = []
        self._where: dict[bytes, int] | None = None     # link -> position in the window, built on demand
        self.pending: list[tuple[int, bytes]] = []     # (position, link) since the last checkpoint
        self.found_before_range = 0                     # findings before the current checkpoint's range
        self.range_start = (genesis or 0) + 1

    def new_window(self, links: list[tuple[int, bytes]]) -> None:
        self.window_links, self._where = links, None

    def stored_at(self, link: bytes) -> int | None:
        """Where a link is stored in the current window (a map built only when something is wrong)."""
        if self._where is None:
            self._where = {k: p for p, k in self.window_links}
        return self._where.get(link)

    def find(self, position: int, originator_id: Any, version: int | None, kind: str, detail: str,
             key: Any = None) -> int | None:
        key = key or (canonical_id(originator_id), version if version is not None else -1)
        if key in self.reported or len(self.report.findings) >= MAX_FINDINGS:
            return None
        self.reported.add(key)
        self.report.findings.append(Finding(position, str(_as_uuid(originator_id)), version, kind, detail))
        return len(self.report.findings) - 1

    def name_orphan(self, link: bytes, originator_id: Any, version: int) -> None:
        """A link met alone turns out to be ``version`` of an aggregate: say which, and whether its
        event is gone or elsewhere."""
        position, index = self.orphans.pop(link)
        self.reported.add((canonical_id(originator_id), version))
        elsewhere = self.store.event_position(originator_id, version)
        if elsewhere is None:
            finding = Finding(position, str(_as_uuid(originator_id)), version, "removed",
                              "the chain records it; the store has not")
        else:
            finding = Finding(position, str(_as_uuid(originator_id)), version, "reordered",
                              f"chained at position {position}, found at position {elsewhere}")
        self.report.findings[index] = finding

    def link_alone(self, position: int, link: bytes) -> None:
        index = self.find(position, UNKNOWN, None, "removed",
                          "a link with no event: the chain records an event the store has not",
                          key=("link", position))
        if index is not None:
            self.orphans[link] = (position, index)
        self.pending.append((position, link))  # the checkpoint sealed it

    def event_alone(self, e: _Event) -> None:
        oid = canonical_id(e.originator_id)
        if self.genesis is None or e.position <= self.genesis:
            self.report.unchained += 1
            self.seen_unchained[oid] = e.version
            return
        version, prev, _ = self._previous(oid)
        if version == e.version - 1:
            expected = link_hash(prev, content_hash(e.topic, oid, e.version, e.state))
            if expected in self.orphans:  # moved off its own position to one with no link
                chained = self.orphans[expected][0]
                self.name_orphan(expected, e.originator_id, e.version)
                self.find(e.position, e.originator_id, e.version, "reordered",
                          f"found at position {e.position}, chained at position {chained}")
                return
            chained_at = self.stored_at(expected)
            if chained_at is not None:
                self.find(e.position, e.originator_id, e.version, "reordered",
                          f"found at position {e.position}, chained at position {chained_at}")
                return
        self.find(e.position, e.originator_id, e.version, "inserted", "an event the chain never recorded")

    def _previous(self, oid: str) -> tuple[int, bytes, bytes | None]:
        """The aggregate's last version walked, its link as stored and the recomputed alternative;
        version 0 for none (an event after unchained ones follows zeros, as it was written)."""
        head = self.heads.get(oid)
        if head is not None:
            return head
        return self.seen_unchained.get(oid, 0), ZERO, None

    def pair(self, e: _Event, stored: bytes) -> None:
        oid = canonical_id(e.originator_id)
        self.report.checked += 1
        content = content_hash(e.topic, oid, e.version, e.state)
        version, prev, alternative = self._previous(oid)
        if version == e.version - 1:
            expected = link_hash(prev, content)
            if expected != stored and alternative is not None and link_hash(alternative, content) == stored:
                expected = stored  # chains from the link recomputed where a finding was already made
            if expected != stored:
                self.mismatch(e, content, expected)
            self.heads[oid] = (e.version, stored, expected if expected != stored else None)
            self.pending.append((e.position, expected))
            return
        if version >= e.version:
            self.find(e.position, e.originator_id, e.version, "reordered",
                      f"found at position {e.position}, after version {version} of it")
            self.heads[oid] = (version, stored, None)  # go on from the link stored here
            self.pending.append((e.position, stored))
            return
        self.gap(e, content, version, stored)
        self.heads[oid] = (e.version, stored, None)
        self.pending.append((e.position, stored))

    def gap(self, e: _Event, content: bytes, version: int, stored: bytes) -> None:
        """Versions between the last walked and this one are missing here: removed (their link may
        have been left, met alone earlier), or further on in the log (reordered)."""
        last_missing = e.version - 1
        for orphan in list(self.orphans):
            if link_hash(orphan, content) == stored:  # version e.version - 1's link, its event gone or moved
                self.name_orphan(orphan, e.originator_id, last_missing)
                last_missing -= 1
                break
        if last_missing == version:
            return
        elsewhere = self.store.event_position(e.originator_id, version + 1)
        if elsewhere is not None:
            self.find(e.position, e.originator_id, e.version, "reordered",
                      f"found at position {e.position}, before version {version + 1} of it (at position "
                      f"{elsewhere})")
        elif version == 0:
            self.find(e.position, e.originator_id, e.version, "removed",
                      f"versions before {e.version} are missing")
        else:
            missing = f"version {version + 1}" if last_missing == version + 1 else \
                f"versions {version + 1} to {last_missing}"
            self.find(e.position, e.originator_id, e.version, "removed", f"{missing} of it is missing")

    def mismatch(self, e: _Event, content: bytes, expected: bytes) -> None:
        """The link stored here is not the one this event gives: moved, swapped, or altered."""
        chained_at = self.stored_at(expected)
        if chained_at is not None and chained_at != e.position:
            self.find(e.position, e.originator_id, e.version, "reordered",
                      f"found at position {e.position}, chained at position {chained_at}")
            return
        links = self.store.links_of(e.originator_id)
        for version, link in links.items():
            if version != e.version and \
                    link_hash(links.get(version - 1, ZERO), content_hash(e.topic, e.originator_id, version,
                                                                         e.state)) == link:
                self.find(e.position, e.originator_id, e.version, "reordered",
                          f"it holds the content chained as version {version}")
                return
        self.find(e.position, e.originator_id, e.version, "altered",
                  "its content or its link does not match the link recorded when it was written")


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
        walk.new_window(links)
        for position, e, k in _merged(events, links):
            while todo and todo[0][0] < position:
                sealed, first_mismatch = _close(walk, todo.pop(0), sealed, recomputed, first_mismatch)
            if k is None:
                walk.event_alone(e)  # type: ignore[arg-type]
            elif e is None:
                walk.link_alone(position, k)
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
