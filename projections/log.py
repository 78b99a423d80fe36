"""Reading the event log in order, in bulk, as plain dicts.

The runner needs every Pathway event after a position, fast: it reads
notifications through the application's recorder (so SQLite and PostgreSQL
behave the same) and decodes their JSON state directly into dicts, with the
transcoder's typed values (datetimes, dates, UUIDs) kept as their ISO/hex
strings. Building domain event objects would cost more than all the views'
work together. An event stored with an upcastable ``class_version`` goes
through the application's mapper, so old event versions still read right.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Sequence

from eventsourcing.utils import get_topic

from engine.pathway import Pathway

EVENT_KINDS = ("Started", "TaskCompleted", "MessageReceived", "TimersFired", "Cancelled", "TaskBecameReady",
               "TaskWithdrawn", "NodeCompleted", "TimerArmed", "MessageAwaited", "WaitEnded", "MessageSent",
               "PathwayEnded")
KIND_OF_TOPIC = {get_topic(getattr(Pathway, kind)): kind for kind in EVENT_KINDS}
TOPICS = tuple(KIND_OF_TOPIC)


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
        return self.data["at"]

    def describe(self) -> str:
        return f"{self.kind} v{self.version} of pathway {self.pathway_id} at position {self.position}"

    def __repr__(self) -> str:
        return f"Event({self.describe()})"


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
        self._loads = json.JSONDecoder().decode
        self._loads_typed = json.JSONDecoder(object_hook=_flatten_typed).decode
        self._ids: dict[Any, str] = {}
        self._sqlite_sql = None
        from eventsourcing.sqlite import SQLiteApplicationRecorder
        if isinstance(self.recorder, SQLiteApplicationRecorder):
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
            with self.recorder.datastore.transaction(commit=False) as cur:
                cur.execute(self._sqlite_sql, (after, stop, *TOPICS, limit))
                rows = [tuple(r) for r in cur.fetchall()]
        else:
            rows = [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
                    for n in self.recorder.select_notifications(start=after + 1, limit=limit, stop=stop, topics=TOPICS)]
        seen = rows[-1][0] if len(rows) >= limit else stop
        return self.decode(rows), seen

    def _id(self, raw: Any) -> str:
        """Pathway ids as the API spells them (str of a UUID), whatever the store keeps."""
        found = self._ids.get(raw)
        if found is None:
            if len(self._ids) > 200_000:
                self._ids.clear()
            found = self._ids[raw] = str(raw if isinstance(raw, uuid.UUID) else uuid.UUID(raw))
        return found

    def decode(self, rows: Sequence[tuple]) -> list[Event]:
        loads, loads_typed, mapper, ident = self._loads, self._loads_typed, self.mapper, self._id
        cipher, compressor = mapper.cipher, mapper.compressor
        out = []
        append = out.append
        for position, originator_id, version, topic, state in rows:
            if cipher is not None:
                state = cipher.decrypt(state)
            if compressor is not None:
                state = compressor.decompress(state)
            text = state.decode("utf-8")
            data = loads(text)
            # Typed values are nearly always only the top-level timestamp/at (and Started's id):
            # flatten those by hand, and use the (slower) hooked decoder only if there are others.
            typed = 0
            for key in ("timestamp", "at", "id"):
                value = data.get(key)
                if type(value) is dict and "_data_" in value:
                    data[key] = value["_data_"]
                    typed += 1
            if text.count('"_type_"') != typed:
                data = loads_typed(text)
            if "class_version" in data:
                data = _via_mapper(mapper, ident(originator_id), version, topic, state)
            append(Event(position, ident(originator_id), version, KIND_OF_TOPIC[topic], data))
        return out


def _via_mapper(mapper: Any, originator_id: str, version: int, topic: str, state: bytes) -> dict[str, Any]:
    """Slow path: let the event class upcast an old version, then flatten it like the fast path."""
    from eventsourcing.persistence import StoredEvent
    # The state is already deciphered and decompressed: decode it with the transcoder only.
    bare = type(mapper)(mapper.transcoder)
    event = bare.to_domain_event(StoredEvent(originator_id=uuid.UUID(originator_id), originator_version=version,
                                             topic=topic, state=state))
    fields = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
    return json.loads(mapper.transcoder.encode(fields).decode("utf-8"), object_hook=_flatten_typed)
