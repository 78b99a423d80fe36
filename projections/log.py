"""Reading the event log in order, in bulk, as plain dicts.

The runner needs every Pathway event after a position, fast: it reads
notifications through the application's recorder (so SQLite and PostgreSQL
behave the same) and decodes their JSON state directly into dicts, with the
transcoder's typed values (datetimes, dates, UUIDs) kept as their ISO/hex
strings. Building domain event objects would cost more than all the views'
work together. An event stored at an older ``class_version`` than its class's
goes through the application's mapper, so its class upcasts it.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic

from cartpath.engine.pathway import Pathway

from .times import utc

# Every event class the aggregate declares, so a new one (a correction, an incident) reaches the
# views that read it, and the audit view, without being listed here.
EVENT_KINDS = tuple(name for name, cls in vars(Pathway).items()
                    if isinstance(cls, type) and issubclass(cls, Pathway.Event) and name not in ("Event", "Created"))
KIND_OF_TOPIC = {get_topic(getattr(Pathway, kind)): kind for kind in EVENT_KINDS}
TOPICS = tuple(KIND_OF_TOPIC)
# The version each event class is at now: a stored event of an older one is upcast by its class.
VERSION_OF_TOPIC = {topic: getattr(getattr(Pathway, kind), "class_version", 1) for topic, kind in KIND_OF_TOPIC.items()}


class Event:
    """One Pathway event as the views see it: ``data`` holds its fields, ``at`` included."""

    __slots__ = ("position", "pathway_id", "version", "kind", "data")

    def __init__(self, position: int, pathway_id: str, version: int, kind: str, data: dict[str, Any]):
        self.position = position
        self.pathway_id = pathway_id
        self.version = version
        self.kind = kind
        self.data = data

    @property
    def at(self) -> str:
        """The domain time, already in the views' form (``times.utc``)."""
        return self.data["at"]

    def describe(self) -> str:
        return f"{self.kind} v{self.version} of pathway {self.pathway_id} at position {self.position}"

    def __repr__(self) -> str:
        return f"Event({self.describe()})"


def _fast_loads() -> tuple[Any, type[Exception]]:
    """orjson's parser, when installed (a dependency): the JSON scan was half the cost of reading an
    event, and with compressed states (engine/compression.py) the read would otherwise have been slower."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - an installation without it reads with the standard library
        return None, ValueError
    return orjson.loads, orjson.JSONDecodeError


_FAST_LOADS = _fast_loads()


def _flatten_typed(obj: dict[str, Any]) -> Any:
    # The transcoder writes {"_type_": name, "_data_": text} for datetimes, dates, UUIDs.
    if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
        return obj["_data_"]
    return obj


class EventLog:
    """The application's notification log, Pathway events only."""

    def __init__(self, app: Any):
        self.app = app
        self.recorder = app.recorder
        self.mapper = app.mapper
        # The decoder's scanner straight away: stored states have no surrounding whitespace,
        # and JSONDecoder.decode's two regular-expression passes cost 10% of the read.
        self._scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
        self._loads_typed = json.JSONDecoder(object_hook=_flatten_typed).decode
        self._ids: dict[Any, str] = {}
        self._local = threading.local()
        self._sqlite_sql = None
        from eventsourcing.sqlite import SQLiteApplicationRecorder
        if (isinstance(self.recorder, SQLiteApplicationRecorder)
                and not self.recorder.datastore.pool.is_sqlite_memory_mode):
            # The same query as the recorder's select_notifications, without building a
            # Notification and a UUID per row (a third of the read cost at a million events).
            self._sqlite_sql = (f"SELECT rowid, originator_id, originator_version, topic, state "
                                f"FROM {self.recorder.events_table_name} WHERE rowid > ? AND rowid <= ? "
                                f"AND topic IN ({','.join('?' * len(TOPICS))}) ORDER BY rowid LIMIT ?")

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int, stop: int) -> tuple[list[Event], int]:
        """Pathway events with position in (after, stop], at most ``limit``; and the position
        up to which the log has been seen (``stop`` when fewer than ``limit`` came back)."""
        if stop <= after:
            return [], after
        if self._sqlite_sql is not None:
            rows = self._sqlite().execute(self._sqlite_sql, (after, stop, *TOPICS, limit)).fetchall()
        else:
            rows = [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
                    for n in self.recorder.select_notifications(start=after + 1, limit=limit, stop=stop, topics=TOPICS)]
        seen = rows[-1][0] if len(rows) >= limit else stop
        return self.decode(rows), seen

    def _sqlite(self) -> sqlite3.Connection:
        """A plain connection per reading thread (tuples, no row objects: read-only use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.recorder.datastore.pool.db_name, uri=True,
                                                      check_same_thread=False, timeout=30)
        return conn

    def _id(self, raw: Any) -> str:
        """Pathway ids as the API spells them (str of a UUID), whatever the store keeps."""
        found = self._ids.get(raw)
        if found is None:
            if len(self._ids) > 200_000:
                self._ids.clear()
            found = self._ids[raw] = str(raw if isinstance(raw, uuid.UUID) else uuid.UUID(raw))
        return found

    def decode(self, rows: Sequence[tuple]) -> list[Event]:
        scan, loads_typed, mapper, ident = self._scan, self._loads_typed, self.mapper, self._id
        cipher, compressor = mapper.cipher, mapper.compressor
        # cartpath's own compressor inflated inline: a method call per event is a tenth of the decode
        inflater = getattr(compressor, "inflater", None)
        kinds, versions = KIND_OF_TOPIC, VERSION_OF_TOPIC
        fast_loads, fast_error = _FAST_LOADS
        out: list[Event] = []
        append = out.append
        for position, originator_id, version, topic, state in rows:
            if cipher is not None:
                state = cipher.decrypt(state)
            if inflater is not None and state[:1] == b"\x01":
                inflate = inflater.copy()
                packed, state = state, inflate.decompress(state[1:])
                if not inflate.eof:
                    compressor.decompress(packed)  # refused there, with the reason
            elif compressor is not None:
                state = compressor.decompress(state)
            if fast_loads is not None:
                try:
                    data = fast_loads(state)
                except fast_error:  # e.g. an integer beyond 64 bits: the standard decoder reads it
                    data = scan(state.decode("utf-8"), 0)[0]
            else:
                data = scan(state.decode("utf-8"), 0)[0]
            # Typed values are nearly always only the top-level timestamp and at (and Started's
            # id): flatten those by hand, and use the (slower) hooked decoder if there are others.
            typed = 0
            value = data.get("timestamp")
            if value.__class__ is dict:
                data["timestamp"] = value["_data_"]
                typed = 1
            value = data.get("at")
            if value.__class__ is dict:
                data["at"] = value["_data_"]
                typed += 1
            if "id" in data and data["id"].__class__ is dict:
                data["id"] = data["id"]["_data_"]
                typed += 1
            if state.count(b'"_type_"') != typed:
                data = loads_typed(state.decode("utf-8"))
            # `at` in the views' form (UTC, microseconds) once here, not once per view.
            value = data["at"]
            if len(value) != 32 or not value.endswith("+00:00"):
                data["at"] = utc(value)
            if data.pop("class_version", 1) != versions[topic]:
                data = _via_mapper(mapper, ident(originator_id), version, topic, state)
            append(Event(position, ident(originator_id), version, kinds[topic], data))
        return out


def _via_mapper(mapper: Any, originator_id: str, version: int, topic: str, state: bytes) -> dict[str, Any]:
    """Slow path: let the event class upcast an old version, then flatten it like the fast path."""
    from eventsourcing.persistence import StoredEvent
    # The state is already deciphered and decompressed: decode it with the transcoder only.
    bare = type(mapper)(mapper.transcoder)
    event = bare.to_domain_event(StoredEvent(originator_id=uuid.UUID(originator_id), originator_version=version,
                                             topic=topic, state=state))
    fields = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
    data = json.loads(mapper.transcoder.encode(fields).decode("utf-8"), object_hook=_flatten_typed)
    data["at"] = utc(data.get("at"))
    return data
