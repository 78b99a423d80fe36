"""The application service: each public method is one use case of cartpath.

Every command loads what it needs, lets the aggregate decide (running the
engine), and saves everything the command produced in one transaction:
the pathway's input and outcome events, and the small index aggregates that
make correlation and idempotency exact (order id -> pathway, message id ->
first answer, business key -> pathway).
"""
from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Transcoder

from . import determinism
from .clock import ManualClock, SystemClock, parse_instant
from .definitions import DefinitionCatalog, ModelCache, ProcessDefinition, ProcessModel, check_deployable, fingerprint
from .errors import (BusinessKeyConflict, ConcurrentUpdate, InvalidMessage, InvalidStart, InvalidTaskData,
                     MessageNotCorrelated, UnknownDefinition, UnknownPathway, CartpathError)
from .forms import FormField, TaskForm
from .lint import DEFAULT_LANES
from .messages import CORRELATION_KEYS, INBOUND, INFORMATIVE
from .pathway import Pathway
from .indexes import MessageReceipt, OrderIndex, _DateAsISO, message_receipt_id, order_index_id
from .records import event_record, task_view  # noqa: F401  (part of this module's interface)
from .replay import _replay, materialise  # noqa: F401  (materialise: part of this module's interface)
from .runtime import Runtime
from .timers import TimerIndex

NS = uuid.NAMESPACE_URL
BUNDLED_PROCESSES = Path(__file__).resolve().parent.parent / "processes"
SNAPSHOT_INTERVAL = 50
SNAPSHOT_INPUTS = 8
# SpiffWorkflow fires a timer only once "now" is strictly past its deadline, so a timer
# fires 1 us after it is due; the next deadline it arms drifts by that microsecond. A
# timer due within this tolerance of "now" counts as due, so ticking at a round time
# fires what a person would call due at that time.
DUE_TOLERANCE = timedelta(milliseconds=1)
START_FORM = TaskForm(fields=(
    FormField("patient_ref", "string", label="Pseudonymous patient reference"),
    FormField("center", "string", label="Centre"),
    FormField("indication", "string", label="Indication"),
    FormField("product", "string", label="Product"),
), declared=True)
SYSTEM_ACTOR = {"sub": "system", "roles": ["system"]}


@dataclass(frozen=True)
class Started:
    pathway: Pathway
    created: bool


class CartPath(Application):
    name = "cartpath"
    is_snapshotting_enabled = True

    def __init__(self, env: dict[str, str] | None = None, *, lanes: Iterable[str] | None = None):
        env = dict(env or {})
        _default_persistence(env)
        super().__init__(env=env)
        extra_lanes = [s.strip() for s in (self.env.get("CARTPATH_EXTRA_LANES") or "").split(",") if s.strip()]
        self.lanes = tuple(lanes or DEFAULT_LANES) + tuple(extra_lanes)
        self.models = ModelCache()
        self._live: OrderedDict[uuid.UUID, tuple[int, Runtime]] = OrderedDict()
        self._live_lock = threading.Lock()
        self._definitions: dict[uuid.UUID, ProcessDefinition] = {}
        self.live_cache_size = int(self.env.get("CARTPATH_LIVE_CACHE", "512"))
        if (self.env.get("CARTPATH_CLOCK") or "system").lower() == "manual":
            start = parse_instant(self.env.get("CARTPATH_CLOCK_START") or "2026-01-05T08:00:00+00:00")
            self.clock: ManualClock | SystemClock = ManualClock(self, start)
        else:
            self.clock = SystemClock()
        self.timers = TimerIndex(self)

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(_DateAsISO())

    # -- process definitions -----------------------------------------------------
    def deploy(self, files: dict[str, bytes], actor: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Deploy a file set as a new version of each process it defines (or say it is already there)."""
        keys = check_deployable(files, self.lanes)
        sha = fingerprint(files)
        text = {name: content.decode("utf-8") for name, content in files.items()}
        results, to_save = [], []
        catalog = self._get_or_none(DefinitionCatalog.create_id()) or DefinitionCatalog()
        for key in keys:
            definition = self._definition(key)
            if definition is not None:
                definition = self.repository.get(definition.id)  # a private copy to append to
            if definition is None:
                definition = ProcessDefinition(key=key)
                catalog.add_key(key=key)
            latest = definition.latest()
            if latest is not None and latest["sha256"] == sha:
                results.append({"key": key, "version": latest["version"], "sha256": sha, "created": False})
                continue
            version = len(definition.versions) + 1
            definition.deploy_version(version=version, sha256=sha, files=text,
                                      deployed_by=(actor or SYSTEM_ACTOR).get("sub", "system"), at=self.clock.now())
            to_save.append(definition)
            results.append({"key": key, "version": version, "sha256": sha, "created": True})
        if to_save:
            self._save(catalog, *to_save)
        return results

    def deploy_bundled(self, directory: Path | None = None) -> list[dict[str, Any]]:
        from .lint import read_paths
        return self.deploy(read_paths([directory or BUNDLED_PROCESSES]))

    def definitions(self) -> list[dict[str, Any]]:
        catalog = self._get_or_none(DefinitionCatalog.create_id())
        out = []
        for key in (catalog.keys if catalog else []):
            definition = self.repository.get(ProcessDefinition.create_id(key))
            for v in definition.versions:
                out.append({"key": key, "version": v["version"], "sha256": v["sha256"], "files": sorted(v["files"]),
                            "deployed_by": v["deployed_by"], "deployed_at": v["at"]})
        return out

    def model(self, key: str, version: int | None = None) -> ProcessModel:
        if version is not None:
            cached = self.models.peek(key, version)
            if cached is not None:  # versions are immutable: no need to ask the store again
                return cached
        definition = self._definition(key)
        if definition is None or not definition.versions:
            raise UnknownDefinition(f"no process definition {key!r} is deployed")
        found = definition.latest() if version is None else definition.find(version)
        if found is None:
            raise UnknownDefinition(f"process definition {key!r} has no version {version}")
        return self.models.get(key, found["version"], found["files"])

    def definition_files(self, key: str, version: int) -> dict[str, str]:
        return {n: c.decode("utf-8") for n, c in self.model(key, version).files.items()}

    # -- commands ---------------------------------------------------------------------
    def start_pathway(self, patient_ref: str, center: str, indication: str, product: str, *,
                      business_key: str | None = None, process_key: str = "cart_pathway",
                      actor: dict[str, Any] | None = None) -> Started:
        start = START_FORM.validate({"patient_ref": patient_ref, "center": center, "indication": indication,
                                     "product": product}, what="start data")
        for name, value in start.items():
            if not value.strip():
                raise InvalidStart(f"{name} must not be empty", {name: ["must not be empty"]})
        if business_key is not None and (not isinstance(business_key, str) or not business_key.strip()):
            raise InvalidStart("business_key must be a non-empty string", {"business_key": ["must not be empty"]})
        if business_key is not None:
            existing = self._get_or_none(_business_key_id(business_key))
            if existing is not None:
                return self._same_start(existing, start, process_key)
        model = self.model(process_key)
        at = self.clock.now()
        pathway_id = _business_key_id(business_key) if business_key else uuid.uuid4()
        with determinism.engine_run(at, pathway_id, 1):
            runtime = Runtime.create(model)
            outcomes = runtime.start(start)
        pathway = Pathway(id=pathway_id, definition={"key": model.key, "version": model.version, "sha256": model.sha256},
                          start=start, business_key=business_key, actor=actor or SYSTEM_ACTOR, at=at)
        pathway._apply_outcomes(outcomes, at)
        try:
            self._save(pathway, runtime=runtime)
        except ConcurrentUpdate:
            if business_key is None:
                raise
            return self._same_start(self.repository.get(pathway_id), start, process_key)
        self._checkin(pathway, runtime)
        return Started(pathway, True)

    def _same_start(self, pathway: Pathway, start: dict, process_key: str) -> Started:
        same = all(getattr(pathway, k) == v for k, v in start.items()) and pathway.definition["key"] == process_key
        if not same:
            raise BusinessKeyConflict(f"business key {pathway.business_key!r} is already used by pathway {pathway.id} "
                                      f"with different content")
        return Started(pathway, False)

    def complete_task(self, pathway_id: uuid.UUID | str, task_id: str, data: dict[str, Any],
                      actor: dict[str, Any] | None = None, expected_version: int | None = None) -> Pathway:
        def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
            _check_version(pathway, expected_version)
            at = max(self.clock.now(), pathway.last_at)
            with determinism.engine_run(at, pathway.id, pathway.version + 1):
                pathway.complete_task(runtime, task_id, data, actor or SYSTEM_ACTOR, at)
            return self._order_index_for(pathway)
        return self._command(pathway_id, act)

    def _order_index_for(self, pathway: Pathway) -> list[Aggregate]:
        """A newly placed order gets its index entry in the same save (so order ids stay unique)."""
        order_id = pathway.correlation.get("order_id")
        if not order_id or any(isinstance(e, Pathway.MessageReceived) for e in pathway.pending_events):
            return []
        if not any(type(e).__name__ == "MessageSent" and e.name == "order_placed" for e in pathway.pending_events):
            return []
        existing = self._get_or_none(order_index_id(order_id))
        if existing is not None and existing.pathway_id != pathway.id:
            raise InvalidTaskData(f"order_id {order_id!r} is already used by another pathway",
                                  {"order_id": ["already used by another pathway"]})
        return [] if existing is not None else [OrderIndex(order_id=order_id, pathway_id=pathway.id)]

    def deliver_message(self, name: str, message_id: str, correlation: dict[str, Any], payload: dict[str, Any],
                        actor: dict[str, Any] | None = None, *, expected_manufacturer: str | None = None) -> dict[str, Any]:
        """Route a manufacturer message to the one pathway it belongs to, exactly once."""
        if not isinstance(message_id, str) or not message_id.strip():
            raise InvalidMessage("message_id is required", {"message_id": ["required"]})
        receipt = self._get_or_none(message_receipt_id(message_id))
        if receipt is not None:
            return dict(receipt.answer, duplicate=True)
        if name not in INBOUND:
            raise InvalidMessage(f"unknown message {name!r}; expected one of {', '.join(sorted(INBOUND))}",
                                 {"name": [f"unknown message {name!r}"]})
        if not isinstance(correlation, dict):
            raise InvalidMessage("correlation must be an object", {"correlation": ["must be an object"]})
        unknown = set(correlation) - set(CORRELATION_KEYS)
        if unknown:
            raise InvalidMessage(f"unknown correlation keys {sorted(unknown)}", {"correlation": ["unknown keys"]})
        clean_payload = INBOUND[name].validate(payload or {}, what=f"payload of {name}")
        order_id, coi = correlation.get("order_id"), correlation.get("coi")
        if not isinstance(order_id, str) or not order_id or (name != "slot_confirmed" and not isinstance(coi, str)) \
                or (coi is not None and (not isinstance(coi, str) or not coi)):
            raise InvalidMessage(f"{name} must carry correlation order_id" + ("" if name == "slot_confirmed" else " and coi"),
                                 {"correlation": ["order_id and coi are required" if name != "slot_confirmed" else "order_id is required"]})
        index = self._get_or_none(order_index_id(order_id))
        if index is None:
            raise MessageNotCorrelated(f"no pathway is waiting for order {order_id!r}")
        answer = {"pathway_id": str(index.pathway_id), "accepted": True, "message_id": message_id, "name": name}

        def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
            if expected_manufacturer is not None and pathway.correlation.get("manufacturer") != expected_manufacturer:
                raise MessageNotCorrelated(f"no pathway is waiting for order {order_id!r}")
            if pathway.status != "active":
                raise MessageNotCorrelated(f"the pathway of order {order_id!r} has ended ({pathway.outcome})")
            known_coi = pathway.coi
            if name == "slot_confirmed":
                if coi is None:
                    raise InvalidMessage("slot_confirmed must carry the coi", {"correlation": ["coi is required"]})
                if known_coi is not None and coi != known_coi:
                    raise MessageNotCorrelated(f"order {order_id!r} already has COI {known_coi!r}, not {coi!r}")
            elif known_coi is None or coi != known_coi:
                raise MessageNotCorrelated(f"no pathway waits for order {order_id!r} with COI {coi!r}")
            informative = name in INFORMATIVE
            if not informative and not runtime.waits_for(name):
                raise MessageNotCorrelated(f"the pathway of order {order_id!r} is not waiting for {name}")
            at = max(self.clock.now(), pathway.last_at)
            with determinism.engine_run(at, pathway.id, pathway.version + 1):
                pathway.receive_message(None if informative else runtime, name, message_id,
                                        {"order_id": order_id, "coi": coi}, clean_payload, actor or SYSTEM_ACTOR, at)
            return [MessageReceipt(message_id=message_id, name=name, answer=answer)]

        try:
            self._command(index.pathway_id, act)
        except CartpathError:
            # the same message_id delivered at the same moment elsewhere: its first answer is ours
            receipt = self._get_or_none(message_receipt_id(message_id))
            if receipt is not None:
                return dict(receipt.answer, duplicate=True)
            raise
        return dict(answer, duplicate=False, position=self.last_position())

    def fire_due_timers(self, now: datetime | None = None) -> int:
        """Fire every timer due by ``now``, each at its own due time, in time order."""
        now = now or self.clock.now()
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.clock.advance(now)
        fired = 0
        for _, pathway_id in self.timers.due(now + DUE_TOLERANCE):
            fired += self._fire_pathway_timers(pathway_id, now)
        return fired

    def _fire_pathway_timers(self, pathway_id: uuid.UUID, now: datetime) -> int:
        fired = 0

        def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
            due = pathway.next_due() if pathway.status == "active" else None
            if due is None or datetime.fromisoformat(due) > now + DUE_TOLERANCE:
                raise _NothingDue()
            at = max(datetime.fromisoformat(due) + timedelta(microseconds=1), pathway.last_at)
            with determinism.engine_run(at, pathway.id, pathway.version + 1):
                pathway.fire_timers(runtime, at)
            return []

        for _ in range(10_000):  # a model that re-arms a timer in the past cannot spin us forever
            try:
                self._command(pathway_id, act)
            except _NothingDue:
                return fired
            fired += 1
        return fired

    def cancel(self, pathway_id: uuid.UUID | str, reason: str, comment: str | None = None,
               actor: dict[str, Any] | None = None, expected_version: int | None = None) -> Pathway:
        pathway = self.get_pathway(pathway_id)
        _check_version(pathway, expected_version)
        self._forget(pathway.id)
        at = max(self.clock.now(), pathway.last_at)
        pathway.cancel(reason, comment, actor or SYSTEM_ACTOR, at)
        self._save(pathway)
        return pathway

    # -- queries --------------------------------------------------------------------
    @staticmethod
    def _pathway_key(pathway_id: uuid.UUID | str) -> uuid.UUID:
        try:
            return pathway_id if isinstance(pathway_id, uuid.UUID) else uuid.UUID(str(pathway_id))
        except ValueError:
            raise UnknownPathway(f"pathway {pathway_id} does not exist") from None

    def get_pathway(self, pathway_id: uuid.UUID | str) -> Pathway:
        key = self._pathway_key(pathway_id)
        try:
            pathway = self.repository.get(key, projector_func=_replay)
        except AggregateNotFoundError:
            raise UnknownPathway(f"pathway {pathway_id} does not exist") from None
        if not isinstance(pathway, Pathway):
            raise UnknownPathway(f"pathway {pathway_id} does not exist")
        return pathway

    def history(self, pathway_id: uuid.UUID | str) -> list[dict[str, Any]]:
        pathway = self.get_pathway(pathway_id)
        return [event_record(ev) for ev in self.events.get(pathway.id)]

    def ready_tasks(self, pathway_id: uuid.UUID | str) -> list[dict[str, Any]]:
        pathway = self.get_pathway(pathway_id)
        model = self.model(pathway.definition["key"], pathway.definition["version"])
        return [task_view(pathway, t, model) for t in pathway.ready.values()]

    def verify(self, pathway_id: uuid.UUID | str) -> dict[str, Any]:
        from .verification import verify_pathway
        pathway = self.get_pathway(pathway_id)
        model = self.model(pathway.definition["key"], pathway.definition["version"])
        return verify_pathway(pathway.id, list(self.events.get(pathway.id)), model)

    def pathway_ids(self) -> list[uuid.UUID]:
        from eventsourcing.utils import get_topic
        topic = get_topic(Pathway.Started)
        ids, start = [], 1
        while True:
            notes = self.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            ids += [n.originator_id for n in notes]
            if len(notes) < 1000:
                return ids
            start = notes[-1].id + 1

    # -- plumbing ---------------------------------------------------------------------
    _positions = threading.local()

    def last_position(self) -> int | None:
        """Notification id of this thread's last save: what a reader waits for (read-your-writes)."""
        return getattr(self._positions, "value", None)

    def _save(self, *aggregates: Aggregate, runtime: Runtime | None = None) -> None:
        before = {a.id: a.version - len(a.pending_events) for a in aggregates if isinstance(a, Pathway)}
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            for agg in aggregates:
                if isinstance(agg, Pathway):
                    self._forget(agg.id)
            raise ConcurrentUpdate("the pathway was changed by another request; reload it and try again") from None
        self._positions.value = max((r.notification.id for r in recordings), default=None)
        for agg in aggregates:
            if isinstance(agg, Pathway) and self.snapshots is not None:
                self._maybe_snapshot(agg, before[agg.id], runtime)

    def _maybe_snapshot(self, pathway: Pathway, before: int, runtime: Runtime | None) -> None:
        """Snapshot when a save crosses a multiple of the interval, with the engine checkpoint in it,
        so loading costs the same at 10 or 1,000 events. Replaying an input through the
        engine costs far more than decoding an event, so a pathway that has had
        SNAPSHOT_INPUTS commands since its checkpoint is snapshotted too."""
        crossed = pathway.version // SNAPSHOT_INTERVAL != before // SNAPSHOT_INTERVAL
        if not crossed and len(pathway.engine_inputs) < SNAPSHOT_INPUTS:
            return
        if pathway.status == "active":
            if runtime is None:
                return
            pathway.engine_checkpoint = runtime.checkpoint()
            pathway.engine_inputs = []
        self.snapshots.put([Pathway.Snapshot.take(pathway)])
        if crossed:  # now and then, not at every snapshot: each prune is one more commit
            self._prune_snapshots(pathway.id, pathway.version)

    def _prune_snapshots(self, pathway_id: uuid.UUID, keep_version: int) -> None:
        """Only the latest snapshot is ever read; the events remain the record. Older
        snapshots (each carries an engine checkpoint) would otherwise be most of the store."""
        recorder = self.snapshots.recorder
        table = recorder.events_table_name
        if self.env.get("PERSISTENCE_MODULE", "").endswith("postgres"):
            from psycopg.sql import SQL, Identifier
            statement = SQL("DELETE FROM {}.{} WHERE originator_id = %s AND originator_version < %s").format(
                Identifier(recorder.datastore.schema), Identifier(table))
        else:
            statement = f"DELETE FROM {table} WHERE originator_id = ? AND originator_version < ?"
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(statement, (pathway_id if not isinstance(statement, str) else pathway_id.hex, keep_version))

    def _command(self, pathway_id: uuid.UUID | str, act) -> Pathway:
        """Run ``act(pathway, runtime) -> extra aggregates`` and save, optimistically.

        The cached copy is used without asking the store whether another process wrote
        since: if it did, the save conflicts (same version twice) or the aggregate refuses
        on stale state; either way, when newer events exist the command is decided once
        more on the current state. A refusal on current state is the answer."""
        for trust_cache in (True, False):
            pathway, runtime, cached = self._checkout(pathway_id, trust_cache=trust_cache)
            loaded, saving = pathway.version, False
            try:
                extra = act(pathway, runtime)
                saving = True
                self._save(pathway, *extra, runtime=runtime)
            except CartpathError:
                if cached and trust_cache and self._newer_than(pathway.id, loaded):
                    continue
                if not saving and not pathway.pending_events:
                    self._checkin(pathway, runtime)  # refused before anything changed: still good
                raise
            self._checkin(pathway, runtime)
            return pathway
        raise AssertionError("unreachable: the second attempt reads the store")

    def _newer_than(self, pathway_id: uuid.UUID, version: int) -> bool:
        return bool(list(self.events.get(pathway_id, gt=version, limit=1)))

    def _checkout(self, pathway_id: uuid.UUID | str, *, trust_cache: bool = False
                  ) -> tuple[Pathway, Runtime | None, bool]:
        """The pathway and its live engine, owned by the caller until checked in.

        A pathway this process saved last is kept with its engine; taking it out of
        the cache means two threads never share one, and a command that fails (the
        aggregate then holds unsaved events) simply never puts it back. Unless the
        cache is trusted, events another process wrote since are applied (and the
        engine rebuilt)."""
        key = self._pathway_key(pathway_id)
        with self._live_lock:
            hit = self._live.pop(key, None)
        if hit is not None:
            pathway, runtime = hit
            if trust_cache:
                return pathway, runtime, True
            newer = list(self.events.get(key, gt=pathway.version))
            if not newer:
                return pathway, runtime, True
            for ev in newer:
                pathway = ev.mutate(pathway)
        else:
            pathway = self.get_pathway(key)
        if pathway.status != "active":
            return pathway, None, False  # the aggregate refuses every command; no engine needed
        model = self.model(pathway.definition["key"], pathway.definition["version"])
        return pathway, materialise(pathway, model), False

    def _checkin(self, pathway: Pathway, runtime: Runtime | None) -> None:
        if pathway.status != "active" or runtime is None:
            return
        with self._live_lock:
            self._live[pathway.id] = (pathway, runtime)
            self._live.move_to_end(pathway.id)
            while len(self._live) > self.live_cache_size:
                self._live.popitem(last=False)

    def _forget(self, pathway_id: uuid.UUID) -> None:
        with self._live_lock:
            self._live.pop(pathway_id, None)

    def _definition(self, key: str) -> ProcessDefinition | None:
        """The definition aggregate, kept per process and fast-forwarded: its events carry
        whole BPMN files, too heavy to decode on every command."""
        aggregate_id = ProcessDefinition.create_id(key)
        with self._live_lock:
            known = self._definitions.get(aggregate_id)
        if known is None:
            known = self._get_or_none(aggregate_id)
        else:
            for ev in self.events.get(aggregate_id, gt=known.version):
                known = ev.mutate(known)
        if known is not None:
            with self._live_lock:
                self._definitions[aggregate_id] = known
        return known

    def _get_or_none(self, aggregate_id: uuid.UUID):
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


class _NothingDue(CartpathError):
    """No timer of this pathway is due (yet): nothing to fire, nothing to record."""

    def __init__(self) -> None:
        super().__init__("no timer due")


def _check_version(pathway: Pathway, expected: int | None) -> None:
    if expected is not None and expected != pathway.version:
        raise ConcurrentUpdate(f"pathway {pathway.id} is at version {pathway.version}, not {expected}")


def _business_key_id(business_key: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"cartpath:business-key:{business_key}")


def _default_persistence(env: dict[str, str]) -> None:
    """SQLite in CARTPATH_DATA_DIR unless the environment picks another store."""
    merged = {**os.environ, **env}
    if not merged.get("PERSISTENCE_MODULE"):
        data_dir = Path(merged.get("CARTPATH_DATA_DIR") or "./var")
        data_dir.mkdir(parents=True, exist_ok=True)
        # an empty PERSISTENCE_MODULE would give eventsourcing's in-memory store: never by accident
        env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        if not merged.get("SQLITE_DBNAME"):
            env["SQLITE_DBNAME"] = str(data_dir / "cartpath.sqlite3")
        env.setdefault("SQLITE_LOCK_TIMEOUT", "30")


