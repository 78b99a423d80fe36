"""The unit of work: check a pathway out with its live engine, let a command decide,
save everything it produced in one transaction, snapshot now and then, check it back in.

The application service says *what* a command does; this module says how its
aggregates are loaded and saved: the per-process cache of live engines, the
optimistic retry when another process wrote since, snapshots with the engine
checkpoint in them, and pruning old snapshots through the store adapter.
"""
from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from . import inventory
from .definitions import DefinitionFiles, ModelCache, ProcessDefinition, ProcessModel
from .errors import CartpathError, ConcurrentUpdate, UnknownDefinition, UnknownPathway
from .pathway import Pathway
from .replay import materialise, replay_events, replay_with_outcomes
from .runtime import Runtime
from .store import DROP_ALL, StoreAdapter, store_adapter

SNAPSHOT_INTERVAL = 50
SNAPSHOT_INPUTS = 8
STALE_CHECKS = 200
# a command is decided at most this often: once from the cache, then from the store (again only
# when a refusal turns out to have read the pathway before another request's commit, or the stock moved)
COMMAND_ATTEMPTS = 3

# act(pathway, runtime) -> further aggregates to save in the same transaction
Act = Callable[[Pathway, "Runtime | None"], list[Aggregate]]


def pathway_key(pathway_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return pathway_id if isinstance(pathway_id, uuid.UUID) else uuid.UUID(str(pathway_id))
    except ValueError:
        raise UnknownPathway(f"pathway {pathway_id} does not exist") from None


class UnitOfWork:
    def __init__(self, app: Application, live_cache_size: int = 512) -> None:
        self.app = app
        self.store: StoreAdapter = store_adapter(app.env.get("PERSISTENCE_MODULE", ""),
                                                 app.snapshots.recorder if app.snapshots is not None else None)
        self.models = ModelCache()
        self.live_cache_size = live_cache_size
        self._live: OrderedDict[uuid.UUID, tuple[Pathway, Runtime]] = OrderedDict()
        self._live_lock = threading.Lock()
        self._definitions: dict[uuid.UUID, ProcessDefinition] = {}
        self._positions = threading.local()
        # Commands left that ask the store for newer events before acting on a cached pathway. 0:
        # the cache is trusted (one process writes, the common case: no extra query). Once a
        # trusted copy turned out stale (several workers take turns on the same pathways), asking
        # first is cheaper: a stale copy costs a failed save and a full reload.
        self._stale_checks_left = 0

    # -- loading ------------------------------------------------------------------
    def get_or_none(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def get_pathway(self, pathway_id: uuid.UUID | str) -> Pathway:
        key = pathway_key(pathway_id)
        try:
            pathway = self.app.repository.get(key, projector_func=replay_events)
        except AggregateNotFoundError:
            raise UnknownPathway(f"pathway {pathway_id} does not exist") from None
        if not isinstance(pathway, Pathway):
            raise UnknownPathway(f"pathway {pathway_id} does not exist")
        return pathway

    def definition(self, key: str) -> ProcessDefinition | None:
        """The definition aggregate, kept per process and fast-forwarded: its events carry
        whole BPMN files, too heavy to decode on every command."""
        aggregate_id = ProcessDefinition.create_id(key)
        with self._live_lock:
            known = self._definitions.get(aggregate_id)
        if known is None:
            known = self.get_or_none(aggregate_id)
        else:
            for ev in self.app.events.get(aggregate_id, gt=known.version):
                known = ev.mutate(known)  # type: ignore[attr-defined]  # the aggregates' own events
        if known is not None:
            with self._live_lock:
                self._definitions[aggregate_id] = known
        return known

    def model(self, key: str, version: int | None = None) -> ProcessModel:
        if version is not None:
            cached = self.models.peek(key, version)
            if cached is not None:  # versions are immutable: no need to ask the store again
                return cached
        definition = self.definition(key)
        if definition is None or not definition.versions:
            raise UnknownDefinition(f"no process definition {key!r} is deployed")
        found = definition.latest() if version is None else definition.find(version)
        if found is None:
            raise UnknownDefinition(f"process definition {key!r} has no version {version}")
        files = found["files"]
        if files is None and self.models.peek(key, found["version"]) is None:
            stored = self.get_or_none(DefinitionFiles.create_id(found["sha256"]))
            if stored is None:
                raise UnknownDefinition(f"the files of {key!r} version {found['version']} are missing from the store")
            files = stored.files
        return self.models.get(key, found["version"], files or {})

    # -- one command --------------------------------------------------------------
    def command(self, pathway_id: uuid.UUID | str, act: Act) -> Pathway:
        """Run ``act(pathway, runtime) -> extra aggregates`` and save, optimistically.

        The cached copy is used without asking the store whether another process wrote
        since: if it did, the save conflicts (same version twice) or the aggregate refuses
        on stale state; either way, when newer events exist the command is decided once
        more on the current state. A refusal on current state is the answer."""
        trust_cache = self._stale_checks_left == 0
        for attempt in range(1, COMMAND_ATTEMPTS + 1):
            pathway, runtime, cached = self.checkout(pathway_id, trust_cache=trust_cache)
            loaded, saving = pathway.version, False
            try:
                extra = act(pathway, runtime)
                saving = True
                self.save(pathway, *extra, runtime=runtime)
            except CartpathError as err:
                if attempt < COMMAND_ATTEMPTS and self.decided_on_stale_state(err, pathway.id, loaded,
                                                                             trust_cache=trust_cache):
                    if cached and trust_cache:
                        self._stale_checks_left = STALE_CHECKS
                    trust_cache = False
                    continue
                if not saving and not pathway.pending_events and getattr(err, "engine_unchanged", True):
                    self.checkin(pathway, runtime)  # refused before anything changed: still good
                raise
            self.checkin(pathway, runtime)
            if self._stale_checks_left:
                self._stale_checks_left -= 1
            return pathway
        raise AssertionError("unreachable: the last attempt raises or returns")

    def decided_on_stale_state(self, err: CartpathError, pathway_id: uuid.UUID, loaded: int, *,
                               trust_cache: bool) -> bool:
        """Whether a failed attempt must be decided once more on the current state.

        Always: a conflict on the centre's stock (another request reserved from it first): the
        pathway the caller addressed did not move, so the answer is the one on the current
        stock (saved, or 'no dose left'), never a 409 the caller did nothing to earn.
        From a trusted cache: any failure on a pathway that had moved on.
        From the store: a refusal (not a save conflict) on a pathway that moved on meanwhile.
        Such a refusal may have read the pathway before another request's commit and the
        centre's stock after it (no dose left, yet the task still ready): no order of the two
        requests gives that answer, so it is decided again (and then is 'task not ready').
        A save conflict on the pathway read from the store stays the answer (409)."""
        if isinstance(err, inventory.StockChanged):
            return True
        if trust_cache:
            return self.newer_than(pathway_id, loaded)
        return not isinstance(err, ConcurrentUpdate) and self.newer_than(pathway_id, loaded)

    def newer_than(self, pathway_id: uuid.UUID, version: int) -> bool:
        return bool(list(self.app.events.get(pathway_id, gt=version, limit=1)))

    def checkout(self, pathway_id: uuid.UUID | str, *, trust_cache: bool = False
                 ) -> tuple[Pathway, Runtime | None, bool]:
        """The pathway and its live engine, owned by the caller until checked in.

        A pathway this process saved last is kept with its engine; taking it out of
        the cache means two threads never share one, and a command that fails (the
        aggregate then holds unsaved events) simply never puts it back. Unless the
        cache is trusted, events another process wrote since are applied (and the
        engine rebuilt)."""
        key = pathway_key(pathway_id)
        with self._live_lock:
            hit = self._live.pop(key, None)
        if hit is not None:
            pathway, runtime = hit
            if trust_cache:
                return pathway, runtime, True
            newer = list(self.app.events.get(key, gt=pathway.version))
            if not newer:
                return pathway, runtime, True
            inputs, known = pathway.engine_inputs, len(pathway.engine_inputs)
            for ev in newer:
                pathway = ev.mutate(pathway)  # type: ignore[attr-defined]  # the aggregates' own events
            if pathway.status == "active" and runtime is not None and pathway.engine_inputs is inputs:
                caught_up = self.catch_up(pathway, runtime, inputs[known:])
                if caught_up is not None:
                    return pathway, caught_up, False
        else:
            pathway = self.get_pathway(key)
        if pathway.status != "active":
            return pathway, None, False  # the aggregate refuses every command; no engine needed
        key = pathway.definition["key"]
        model = self.model(key, pathway.definition["version"])
        return pathway, materialise(pathway, model, lambda version: self.model(key, version)), False

    @contextmanager
    def reading(self, pathway_id: uuid.UUID | str) -> Iterator[Pathway]:
        """The pathway as the store has it now, for reading only, inside the ``with``.

        A pathway whose live engine this process holds is read from it: one query for events
        written since (applied, and its engine caught up, as the next command would), instead
        of a load from the snapshot and the events after it. It is held exclusively meanwhile
        (a command on it in another thread loads its own copy), so a reader never sees a command
        half-applied; anything else is loaded from the store as ``get_pathway`` does."""
        key = pathway_key(pathway_id)
        with self._live_lock:
            hit = self._live.pop(key, None)
        if hit is None:
            yield self.get_pathway(key)
            return
        pathway, runtime = hit
        newer = list(self.app.events.get(key, gt=pathway.version))
        if newer:
            inputs, known = pathway.engine_inputs, len(pathway.engine_inputs)
            for ev in newer:
                pathway = ev.mutate(pathway)  # type: ignore[attr-defined]  # the aggregates' own events
            live = pathway.status == "active" and pathway.engine_inputs is inputs
            caught_up = self.catch_up(pathway, runtime, inputs[known:]) if live else None
        else:
            caught_up = runtime
        try:
            yield pathway
        finally:
            if caught_up is not None:  # nothing was changed by reading it; a command meanwhile put a newer copy
                self.checkin(pathway, caught_up, unless_newer=True)

    def catch_up(self, pathway: Pathway, runtime: Runtime, inputs: list[dict[str, Any]]) -> Runtime | None:
        """The live engine moved on by the inputs another process recorded since (what ``materialise``
        would replay after them from the checkpoint, without rebuilding the rest); None when that
        cannot be done here (a migration between versions: rebuild)."""
        if any(entry["kind"] in ("start", "migrate") for entry in inputs):
            return None
        model = self.model(pathway.definition["key"], pathway.definition["version"])
        for entry in inputs:
            runtime = replay_with_outcomes(runtime, model, pathway.id, entry)[0]
        return runtime

    def checkin(self, pathway: Pathway, runtime: Runtime | None, *, unless_newer: bool = False) -> None:
        if pathway.status != "active" or runtime is None:
            return
        with self._live_lock:
            held = self._live.get(pathway.id)
            if unless_newer and held is not None and held[0].version >= pathway.version:
                return
            self._live[pathway.id] = (pathway, runtime)
            self._live.move_to_end(pathway.id)
            while len(self._live) > self.live_cache_size:
                self._live.popitem(last=False)

    def forget(self, pathway_id: uuid.UUID) -> None:
        with self._live_lock:
            self._live.pop(pathway_id, None)

    # -- saving -------------------------------------------------------------------
    def last_position(self) -> int | None:
        """Notification id of this thread's last save: what a reader waits for (read-your-writes)."""
        return getattr(self._positions, "value", None)

    def save(self, *aggregates: Aggregate, runtime: Runtime | None = None) -> None:
        before = {a.id: a.version - len(a.pending_events) for a in aggregates if isinstance(a, Pathway)}
        ending = {a.id for a in aggregates if isinstance(a, Pathway) and a.status != "active"
                  and any(type(e).__name__ == "PathwayEnded" for e in a.pending_events)}
        aggregates = (*aggregates, *inventory.stock_changes(self.app, aggregates))  # the same transaction
        in_save = self.app.snapshots is not None and self.store.snapshots_in_save(self.app.recorder)
        extra: dict[str, Any] = {}
        if in_save:
            # taken before the save (the aggregate is already at its new version) and written in its transaction
            snapshots, prunes = self.snapshots_due(aggregates, before, ending, runtime)
            if snapshots or prunes:
                mapper = self.app.snapshots.mapper  # type: ignore[union-attr]  # in_save: snapshotting
                extra["in_save"] = self.store.in_save([mapper.to_stored_event(s) for s in snapshots], prunes)
        try:
            recordings = self.app.save(*aggregates, **extra)
        except IntegrityError:
            for agg in aggregates:
                if isinstance(agg, Pathway):
                    self.forget(agg.id)
            if any(isinstance(agg, inventory.TocilizumabStock) for agg in aggregates):
                raise inventory.StockChanged("the centre's tocilizumab stock was changed by another request; "
                                             "try again") from None
            raise ConcurrentUpdate("the pathway was changed by another request; reload it and try again") from None
        self._positions.value = max((r.notification.id for r in recordings), default=None)
        if in_save or self.app.snapshots is None:
            return
        # a store whose save cannot carry them: after the save, in transactions of their own
        snapshots, prunes = self.snapshots_due(aggregates, before, ending, runtime)
        if snapshots:
            self.app.snapshots.put(snapshots)
        for pathway_id, keep_version in prunes:
            self.store.prune_snapshots(pathway_id, keep_version)

    def snapshots_due(self, aggregates: Sequence[Aggregate], before: dict[uuid.UUID, int], ending: set[uuid.UUID],
                      runtime: Runtime | None) -> tuple[list[Any], list[tuple[uuid.UUID, int]]]:
        """What a save does to snapshots: those ``due_snapshot`` takes, and the prunes (pathway id, the
        version kept; ``DROP_ALL`` for a pathway this save ends)."""
        snapshots: list[Any] = []
        prunes: list[tuple[uuid.UUID, int]] = []
        for agg in aggregates:
            if not isinstance(agg, Pathway):
                continue
            if agg.id in ending:
                prunes.append((agg.id, DROP_ALL))
                continue
            taken = self.due_snapshot(agg, before[agg.id], runtime)
            if taken is not None:
                snapshots.append(taken[0])
                if taken[1]:
                    prunes.append((agg.id, agg.version))
        return snapshots, prunes

    def due_snapshot(self, pathway: Pathway, before: int, runtime: Runtime | None) -> tuple[Any, bool] | None:
        """A snapshot when a save crosses a multiple of the interval, with the engine checkpoint in it,
        so loading costs the same at 10 or 1,000 events. Replaying an input through the
        engine costs far more than decoding an event, so a pathway that has had
        SNAPSHOT_INPUTS commands since its checkpoint is snapshotted too. Active pathways only: the
        save that ends a pathway drops its snapshots instead (issue 16: half a finished pathway's bytes
        were its engine checkpoint, which nothing reads again). With it, whether older snapshots are
        to be pruned now: now and then, not at every snapshot (on a store that prunes in a transaction
        of its own, each prune is one more commit)."""
        crossed = pathway.version // SNAPSHOT_INTERVAL != before // SNAPSHOT_INTERVAL
        if not crossed and len(pathway.engine_inputs) < SNAPSHOT_INPUTS:
            return None
        if pathway.status != "active" or runtime is None:
            # an ended pathway keeps no snapshot: its events are the record, and loading it needs no
            # engine (a correction after the end is one more event to replay, not a reason for one)
            return None
        pathway.engine_checkpoint = runtime.checkpoint()
        pathway.engine_inputs = []
        return Pathway.Snapshot.take(pathway), crossed
