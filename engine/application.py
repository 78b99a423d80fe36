"""The application service: each public method is one use case of cartpath.

Every command loads what it needs, lets the aggregate decide (running the
engine), and saves everything the command produced in one transaction:
the pathway's input and outcome events, and the small index aggregates that
make correlation and idempotency exact (order id -> pathway, message id ->
first answer, business key -> pathway). How a command is loaded and saved (the
live-engine cache, snapshots, the store) is the unit of work's
(``unit_of_work.py``); which pathway a message belongs to is ``correlation.py``'s;
firing timers is ``timers.py``'s.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Transcoder

from . import clinical, corrections, determinism, sandbox
from . import correlation as correlation_rules
from .as_of import AsOf, pathway_as_of
from .as_of import resolve as resolve_as_of
from .clock import ManualClock, SystemClock
from .definitions import (
    DefinitionCatalog,
    DefinitionFiles,
    ProcessDefinition,
    ProcessModel,
    check_deployable,
    fingerprint,
)
from .errors import (
    BusinessKeyConflict,
    CancelRefused,
    CartpathError,
    CoiInUse,
    ConcurrentUpdate,
    InvalidMessage,
    InvalidStart,
    InvalidTaskData,
    MessageIdReused,
    MessageNotCorrelated,
    TaskNotReady,
    UnknownPathway,
)
from .forms import FormField, TaskForm
from .incidents import public_incident
from .indexes import (
    CoiIndex,
    DateAsISO,
    DeliveredMessage,
    ManufacturerOrder,
    OrderIndex,
    coi_index_id,
    delivered_message_id,
    message_receipt_id,
    order_index_id,
)
from .lint import DEFAULT_LANES
from .messages import INBOUND, INFORMATIVE
from .pathway import Pathway
from .records import event_record, task_view
from .replay import materialise  # noqa: F401  (part of this module's interface)
from .runtime import Runtime
from .settings import cipher_settings, clock_kind, clock_start, compressor_settings, patient_ref_pattern, script_limits
from .store import chained_recorder, default_persistence
from .text import PatientRefRule, text_problem
from .timers import FiringRound, TimerIndex, fire_due_timers
from .unit_of_work import UnitOfWork

NS = uuid.NAMESPACE_URL
BUNDLED_PROCESSES = Path(__file__).resolve().parent.parent / "processes"
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
        default_persistence(env)
        chained_recorder(env)
        env.update(cipher_settings(env))
        env.update(compressor_settings(env))
        super().__init__(env=env)
        extra_lanes = [s.strip() for s in (self.env.get("CARTPATH_EXTRA_LANES") or "").split(",") if s.strip()]
        self.lanes = tuple(lanes or DEFAULT_LANES) + tuple(extra_lanes)
        self.patient_refs = PatientRefRule(*patient_ref_pattern(self.env))
        self.unit_of_work = UnitOfWork(self, int(self.env.get("CARTPATH_LIVE_CACHE", "512")))
        if clock_kind(env) == "manual":
            self.clock: ManualClock | SystemClock = ManualClock(self, clock_start(env))
        else:
            self.clock = SystemClock()
        self.timers = TimerIndex(self)
        sandbox.configure(script_limits(env))

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]  # eventsourcing gives its JSONTranscoder
        transcoder.register(DateAsISO())  # type: ignore[attr-defined]

    # -- process definitions -----------------------------------------------------
    def deploy(self, files: dict[str, bytes], actor: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Deploy a file set as a new version of each process it defines (or say it is already there)."""
        keys = check_deployable(files, self.lanes)
        sha = fingerprint(files)
        text = {name: content.decode("utf-8") for name, content in files.items()}
        results, to_save = [], []
        catalog = self._get_or_none(DefinitionCatalog.create_id()) or DefinitionCatalog()
        stored = self._get_or_none(DefinitionFiles.create_id(sha)) or DefinitionFiles(sha256=sha, files=text)
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
            definition.deploy_version_of(version=version, sha256=sha, file_names=sorted(text),
                                         deployed_by=str((actor or SYSTEM_ACTOR).get("sub", "system")),
                                         at=self.clock.now())
            to_save.append(definition)
            results.append({"key": key, "version": version, "sha256": sha, "created": True})
        if to_save:
            self._save(catalog, stored, *to_save)
        return results

    def deploy_bundled(self, directory: Path | None = None) -> list[dict[str, Any]]:
        from .lint import read_paths
        return self.deploy(read_paths([directory or BUNDLED_PROCESSES]))

    def definitions(self) -> list[dict[str, Any]]:
        catalog = self._get_or_none(DefinitionCatalog.create_id())
        out = []
        for key in (catalog.keys if catalog else []):
            definition: ProcessDefinition = self.repository.get(ProcessDefinition.create_id(key))
            for v in definition.versions:
                names = v.get("file_names") or sorted(v["files"] or ())  # a snapshot older than file_names
                out.append({"key": key, "version": v["version"], "sha256": v["sha256"], "files": names,
                            "deployed_by": v["deployed_by"], "deployed_at": v["at"]})
        return out

    def model(self, key: str, version: int | None = None) -> ProcessModel:
        return self.unit_of_work.model(key, version)

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
        self._check_start_text(start, business_key)
        if business_key is not None:
            existing = self._by_business_key(start["center"], business_key)
            if existing is not None:
                return self._same_start(existing, start, process_key)
        model = self.model(process_key)
        at = self.clock.now()
        pathway_id = business_key_id(business_key, start["center"]) if business_key else uuid.uuid4()
        with determinism.engine_run(at, pathway_id, 1):
            runtime = Runtime.create(model)
            outcomes = runtime.start(start)
        pathway = Pathway(id=pathway_id,
                          definition={"key": model.key, "version": model.version, "sha256": model.sha256},
                          start=start, business_key=business_key, actor=actor or SYSTEM_ACTOR, at=at)
        pathway.apply_outcomes(outcomes, at)
        try:
            self._save(pathway, runtime=runtime)
        except ConcurrentUpdate:
            if business_key is None:
                raise
            return self._same_start(self.repository.get(pathway_id), start, process_key)
        self._checkin(pathway, runtime)
        return Started(pathway, True)

    def _check_start_text(self, start: dict[str, str], business_key: str | None) -> None:
        errors = {name: [found] for name, value in [*start.items(), ("business_key", business_key or "")]
                  if (found := text_problem(value)) is not None}
        found = self.patient_refs.problem(start["patient_ref"])
        if found is not None:
            errors["patient_ref"] = [found]
        if errors:
            listed = ", ".join(f"{k}: {'; '.join(v)}" for k, v in sorted(errors.items()))
            raise InvalidStart(f"invalid start data: {listed}", errors)

    def _by_business_key(self, center: str, business_key: str) -> Pathway | None:
        """The centre's pathway with this key. Keys are scoped by centre: another centre's use of the same
        key is neither shown nor an obstacle. A pathway started before keys were scoped has the key's
        unscoped id; it counts for its own centre only."""
        found = self._get_or_none(business_key_id(business_key, center))
        if found is None:
            found = self._get_or_none(business_key_id(business_key))
            if found is not None and found.center != center:
                return None
        return found

    def _same_start(self, pathway: Pathway, start: dict, process_key: str) -> Started:
        same = all(getattr(pathway, k) == v for k, v in start.items()) and pathway.definition["key"] == process_key
        if not same:
            raise BusinessKeyConflict(f"business key {pathway.business_key!r} is already used by pathway {pathway.id} "
                                      f"with different content")
        return Started(pathway, False)

    def complete_task(self, pathway_id: uuid.UUID | str, task_id: str, data: dict[str, Any],
                      actor: dict[str, Any] | None = None, expected_version: int | None = None, *,
                      signers: Sequence[dict[str, Any]] = (),
                      authorize: Callable[[Pathway], None] | None = None) -> Pathway:
        """Complete a ready task. A signed task needs ``signers``: who signed, identified by the caller
        (the API checks their signing tokens), each ``{role, sub, name, roles, meaning}``. ``authorize``
        (the caller's checks: centre, lane) raises on the very state the command decides on, before
        anything else: no read of its own ahead of the command."""
        def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
            if authorize is not None:
                authorize(pathway)
            check_version(pathway, expected_version)
            if runtime is None:  # only an ended pathway has no engine: refused as such
                pathway.require_active()
                raise TaskNotReady(f"task {task_id} is not ready in pathway {pathway.id}")
            at = max(self.clock.now(), pathway.last_at)
            name, clean = pathway.form_data(runtime, task_id, data)
            # the one place the clinical rules see a completion: refused here, nothing is recorded
            found = clinical.check_completion(clinical.Facts.of(pathway), name, clean, at,
                                              declared_fields(runtime.model, name))
            with determinism.engine_run(at, pathway.id, pathway.version + 1):
                pathway.complete_task(runtime, task_id, clean, actor or SYSTEM_ACTOR, at,
                                      deviations=[d.as_event() for d in found], signers=signers)
            return self._order_index_for(pathway)
        return self._command(pathway_id, act)

    def _order_index_for(self, pathway: Pathway) -> list[Aggregate]:
        """A newly placed order gets its index entry in the same save (so order ids stay unique per
        manufacturer: another manufacturer's use of the same id neither blocks nor shows)."""
        order_id = pathway.correlation.get("order_id")
        pending: list[Any] = pathway.pending_events
        if not order_id or any(isinstance(e, Pathway.MessageReceived) for e in pending):  # type: ignore[attr-defined]
            return []
        if not any(type(e).__name__ == "MessageSent" and e.name == "order_placed" for e in pending):
            return []
        manufacturer = pathway.correlation.get("manufacturer")
        first = self._get_or_none(order_index_id(order_id))
        if first is None:
            return [OrderIndex(order_id=order_id, pathway_id=pathway.id)]
        if first.pathway_id == pathway.id:
            return []
        taken = InvalidTaskData(f"order_id {order_id!r} is already used by another pathway",
                                {"order_id": ["already used by another pathway"]})
        if manufacturer is None or self._manufacturer_of(first.pathway_id) == manufacturer:
            raise taken
        own = self._get_or_none(order_index_id(order_id, manufacturer))
        if own is not None:
            if own.pathway_id != pathway.id:
                raise taken
            return []
        first.share(manufacturer=manufacturer)
        return [first, ManufacturerOrder(manufacturer=manufacturer, order_id=order_id, pathway_id=pathway.id)]

    def _order_pathway(self, order_id: str, sender: str | None) -> uuid.UUID | None:
        """The pathway of ``sender``'s order ``order_id`` (the first holder's: check_pathway then refuses
        it unless it is the sender's)."""
        if sender is not None:
            own = self._get_or_none(order_index_id(order_id, sender))
            if own is not None:
                return own.pathway_id
        first = self._get_or_none(order_index_id(order_id))
        return first.pathway_id if first is not None else None

    def deliver_message(self, name: str, message_id: str, correlation: dict[str, Any], payload: dict[str, Any],
                        actor: dict[str, Any] | None = None, *,
                        expected_manufacturer: str | None = None) -> dict[str, Any]:
        """Route a manufacturer message to the one pathway it belongs to, exactly once per sender and message_id.

        The sender is the manufacturer whose token sent it (``expected_manufacturer``); for an
        administrator or the CLI, the manufacturer the order was placed with."""
        message_id = correlation_rules.check_message_id(message_id)
        sender = expected_manufacturer or self._manufacturer_of_order(
            correlation.get("order_id") if isinstance(correlation, dict) else None)
        digest = message_digest(name, correlation, payload)
        prior = self._prior_answer(sender, message_id, digest)
        if prior is not None:
            return prior
        order_id, coi = correlation_rules.check_message(name, correlation)
        clean_payload = INBOUND[name].validate(correlation_rules.without_correlation(payload or {}, correlation),
                                               what=f"payload of {name}")
        pathway_id = self._order_pathway(order_id, sender)
        if pathway_id is None:
            raise MessageNotCorrelated(f"no pathway is waiting for order {order_id!r}")
        answer = {"pathway_id": str(pathway_id), "accepted": True, "message_id": message_id, "name": name}

        def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
            answer.pop("incident", None)  # decided afresh if the command is decided again
            correlation_rules.check_pathway(pathway, name, order_id, coi, expected_manufacturer)
            # a COI being assigned gets its index entry in the same save: one COI, one pathway
            indexes = self._coi_index_for(pathway.id, coi) if pathway.coi is None else []
            informative = name in INFORMATIVE
            if not informative and not runtime.waits_for(name):  # type: ignore[union-attr]  # active: it has one
                raise MessageNotCorrelated(f"the pathway of order {order_id!r} is not waiting for {name}")
            at = max(self.clock.now(), pathway.last_at)
            with determinism.engine_run(at, pathway.id, pathway.version + 1):
                pathway.receive_message(None if informative else runtime, name, message_id,
                                        {"order_id": order_id, "coi": coi}, clean_payload, actor or SYSTEM_ACTOR, at)
            if pathway.incident is not None:  # the message is recorded; the step it led to failed
                answer["incident"] = public_incident(pathway.incident)
            return [DeliveredMessage(sender=sender or "", message_id=message_id, name=name, digest=digest,
                                     answer=answer), *indexes]

        try:
            self._command(pathway_id, act)
        except CartpathError:
            # the same message_id delivered at the same moment elsewhere: its first answer is ours
            prior = self._prior_answer(sender, message_id, digest)
            if prior is not None:
                return prior
            if name == correlation_rules.ASSIGNS_COI:
                self._coi_index_for(pathway_id, coi)  # another pathway took the COI meanwhile: say so
            raise
        return dict(answer, duplicate=False, position=self.last_position())

    def _manufacturer_of_order(self, order_id: Any) -> str | None:
        """The manufacturer of the order an unnamed sender (admin, CLI) means: the order id's only holder."""
        if not isinstance(order_id, str) or not order_id:
            return None
        first = self._get_or_none(order_index_id(order_id))
        if first is None:
            return None
        if first.shared_with:
            raise InvalidMessage(f"order_id {order_id!r} is used by several manufacturers: name the sender "
                                 "(a manufacturer's token, or --org)", {"org": ["required: the order id is ambiguous"]})
        return self._manufacturer_of(first.pathway_id)

    def _manufacturer_of(self, pathway_id: uuid.UUID) -> str | None:
        try:
            return self.get_pathway(pathway_id).correlation.get("manufacturer")
        except UnknownPathway:
            return None

    def _prior_answer(self, sender: str | None, message_id: str, digest: str) -> dict[str, Any] | None:
        """The first answer to this sender's message_id, if it was delivered; refused if the
        repeat carries other content. Stores written before ids were scoped keep their
        receipts under the bare message_id: those count for the manufacturer of their pathway."""
        found = self._get_or_none(delivered_message_id(sender or "", message_id))
        if found is not None:
            if found.digest != digest:
                raise MessageIdReused(f"message_id {message_id!r} was already used for a {found.name} with other "
                                      f"content (name, correlation or payload); a new message needs a new message_id")
            return dict(found.answer, duplicate=True)
        # a receipt recorded before ids were scoped to their sender (its events carry answer and name)
        legacy: Any = next(iter(self.events.get(message_receipt_id(message_id), limit=1)), None)
        if legacy is None:
            return None
        try:
            pathway_id = uuid.UUID(str(legacy.answer["pathway_id"]))
            pathway = self.get_pathway(pathway_id)
        except (KeyError, ValueError, UnknownPathway):
            return None
        if pathway.correlation.get("manufacturer") != sender:
            return None  # another manufacturer's id: ids are scoped to their sender
        received: list[Any] = [ev for ev in self.events.get(pathway_id) if type(ev).__name__ == "MessageReceived"
                               and getattr(ev, "message_id", None) == message_id]
        if received and message_digest(received[0].name, received[0].correlation, received[0].payload) != digest:
            raise MessageIdReused(f"message_id {message_id!r} was already used for a {legacy.name} with other "
                                  f"content (name, correlation or payload); a new message needs a new message_id")
        return dict(legacy.answer, duplicate=True)

    def _coi_index_for(self, pathway_id: uuid.UUID, coi: str) -> list[Aggregate]:
        held = self._get_or_none(coi_index_id(coi))
        if held is not None and held.pathway_id != pathway_id:
            raise CoiInUse(f"COI {coi!r} already belongs to another pathway; a slot_confirmed must carry a new COI")
        return [] if held is not None else [CoiIndex(coi=coi, pathway_id=pathway_id)]

    def fire_due_timers(self, now: datetime | None = None) -> int:
        """Fire every timer due by ``now``, each at its own due time, in time order; how many fired."""
        return self.fire_round(now).fired

    def fire_round(self, now: datetime | None = None) -> FiringRound:
        """One round of the scheduler: what fired, the incidents raised, the pathways left for the next round."""
        return fire_due_timers(self.unit_of_work, self.clock, self.timers, now)

    def retry_incident(self, pathway_id: uuid.UUID | str, incident_id: str, data: dict[str, Any] | None = None,
                       actor: dict[str, Any] | None = None) -> Pathway:
        """Run the step an open incident stopped at again, on the pathway's current definition version.

        ``data`` (optional) is merged into the failed step's data first: the correction a
        person makes when the data, not the model, was wrong. It is recorded with the retry."""
        if data is not None and not isinstance(data, dict):
            raise InvalidTaskData("data must be an object", {"data": ["must be an object"]})

        def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
            at = max(self.clock.now(), pathway.last_at)
            with determinism.engine_run(at, pathway.id, pathway.version + 1):
                pathway.retry_incident(runtime, incident_id, data, actor or SYSTEM_ACTOR, at)
            return self._order_index_for(pathway)
        return self._command(pathway_id, act)

    def cancel(self, pathway_id: uuid.UUID | str, reason: str, comment: str | None = None,
               actor: dict[str, Any] | None = None, expected_version: int | None = None, *,
               death_date: str | date | None = None, death_cause: str | None = None) -> Pathway:
        """End a pathway with a reason; a death carries its date (checked like any clinical date) and cause."""
        errors = {name: [found] for name, value, prose in (("reason", reason, False), ("comment", comment, True),
                                                           ("death_cause", death_cause, False))
                  if isinstance(value, str) and (found := text_problem(value, prose=prose)) is not None}
        if errors:
            raise CancelRefused("invalid cancel: " + ", ".join(f"{k}: {v[0]}" for k, v in sorted(errors.items())),
                                errors=errors)
        pathway = self.get_pathway(pathway_id)
        check_version(pathway, expected_version)
        self._forget(pathway.id)
        at = max(self.clock.now(), pathway.last_at)
        death_date = _iso_date(death_date)
        if reason == "death" and death_date is not None and pathway.status == "active":
            clinical.check_death(clinical.Facts.of(pathway), death_date, at)
        pathway.cancel(reason, comment, actor or SYSTEM_ACTOR, at, death_date=death_date, death_cause=death_cause)
        self._save(pathway)
        return pathway

    def correct_task(self, pathway_id: uuid.UUID | str, task_id: str, field: str, value: Any, reason: str,
                     actor: dict[str, Any] | None = None, expected_version: int | None = None) -> Pathway:
        """Correct one field of a completed task (the original stays in the log; nothing is re-routed)."""
        def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
            check_version(pathway, expected_version)
            model = self.model(pathway.definition["key"], pathway.definition["version"])
            at = max(self.clock.now(), pathway.last_at)
            correction = corrections.prepare(pathway, list(self.events.get(pathway.id)), model, task_id, field,
                                             value, reason, at)
            pathway.correct_task(**correction, actor=actor or SYSTEM_ACTOR, at=at)
            return []
        return self._command(pathway_id, act)

    def migrate_pathways(self, key: str, from_version: int, to_version: int, **options: Any) -> dict[str, Any]:
        """Plan (``dry_run=True``) or apply a move of running pathways to another version (migration_plan.py)."""
        from .migration_plan import migrate_pathways
        return migrate_pathways(self, key, from_version, to_version, **options)

    # -- queries --------------------------------------------------------------------
    def get_pathway(self, pathway_id: uuid.UUID | str) -> Pathway:
        return self.unit_of_work.get_pathway(pathway_id)

    def reading_pathway(self, pathway_id: uuid.UUID | str) -> AbstractContextManager[Pathway]:
        """``with app.reading_pathway(id) as pathway:`` the current pathway, to read (and render) inside
        the block: from this process's live engine when it holds one (see UnitOfWork.reading)."""
        return self.unit_of_work.reading(pathway_id)

    def history(self, pathway_id: uuid.UUID | str) -> list[dict[str, Any]]:
        pathway = self.get_pathway(pathway_id)
        return [event_record(ev) for ev in self.events.get(pathway.id)]

    def ready_tasks(self, pathway_id: uuid.UUID | str) -> list[dict[str, Any]]:
        pathway = self.get_pathway(pathway_id)
        model = self.model(pathway.definition["key"], pathway.definition["version"])
        return [task_view(pathway, t, model) for t in pathway.ready.values()]

    def completed_task(self, pathway_id: uuid.UUID | str, task_id: str) -> dict[str, Any] | None:
        """The completed task ``task_id`` of a pathway (name, lane), or None if it was not completed."""
        pathway = self.get_pathway(pathway_id)
        if pathway.closed_tasks.get(task_id) != "completed":
            return None
        for ev in self.events.get(pathway.id):
            if isinstance(ev, Pathway.TaskCompleted) and ev.task_id == task_id:
                return {"task_id": task_id, "name": ev.name, "lane": ev.lane}
        return None

    def pathway_as_of(self, pathway_id: uuid.UUID | str, as_of: str) -> tuple[Pathway, AsOf]:
        """The pathway exactly as it was at ``as_of`` (a version, or an ISO moment), rebuilt from its events."""
        return pathway_as_of(self, self.get_pathway(pathway_id).id, as_of)

    def as_of_point(self, pathway_id: uuid.UUID | str, as_of: str) -> AsOf:
        """Which version of the pathway ``as_of`` names (InvalidAsOf if none)."""
        return resolve_as_of(self, self.get_pathway(pathway_id).id, as_of)[1]

    def verify(self, pathway_id: uuid.UUID | str) -> dict[str, Any]:
        from .verification import verify_pathway
        pathway = self.get_pathway(pathway_id)
        key = pathway.definition["key"]
        events: list[Any] = list(self.events.get(pathway.id))
        started_on = events[0].definition["version"] if events else pathway.definition["version"]
        return verify_pathway(pathway.id, events, self.model(key, started_on), lambda v: self.model(key, v))

    def pathway_ids(self) -> list[uuid.UUID]:
        from eventsourcing.utils import get_topic
        topic = get_topic(Pathway.Started)  # type: ignore[attr-defined]  # made by @event
        ids: list[uuid.UUID] = []
        start = 1
        while True:
            notes = self.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            ids += [n.originator_id for n in notes]  # type: ignore[misc]  # UUIDs: the recorder decodes them
            if len(notes) < 1000:
                return ids
            start = notes[-1].id + 1

    def last_position(self) -> int | None:
        """Notification id of this thread's last save: what a reader waits for (read-your-writes)."""
        return self.unit_of_work.last_position()

    # -- the unit of work, under the names the use cases call it by --------------------
    def _save(self, *aggregates: Aggregate, runtime: Runtime | None = None) -> None:
        self.unit_of_work.save(*aggregates, runtime=runtime)

    def _command(self, pathway_id: uuid.UUID | str, act) -> Pathway:
        return self.unit_of_work.command(pathway_id, act)

    def _checkin(self, pathway: Pathway, runtime: Runtime | None) -> None:
        self.unit_of_work.checkin(pathway, runtime)

    def _forget(self, pathway_id: uuid.UUID) -> None:
        self.unit_of_work.forget(pathway_id)

    def _definition(self, key: str) -> ProcessDefinition | None:
        return self.unit_of_work.definition(key)

    def _get_or_none(self, aggregate_id: uuid.UUID) -> Any:
        return self.unit_of_work.get_or_none(aggregate_id)


def check_version(pathway: Pathway, expected: int | None) -> None:
    if expected is not None and expected != pathway.version:
        raise ConcurrentUpdate(f"pathway {pathway.id} is at version {pathway.version}, not {expected}")


def declared_fields(model: ProcessModel, task: str) -> frozenset[str]:
    """The fields a task's form declares in this model version (the v2 rules apply where v2 fields exist)."""
    form = model.forms.get(task)
    return frozenset(f.name for f in form.fields) if form is not None else frozenset()


def message_digest(name: str, correlation: Any, payload: Any) -> str:
    """What a message carried, as a digest: its name, its correlation keys and its payload as the
    engine records it (so two spellings of the same instant are the same message)."""
    keys = correlation if isinstance(correlation, dict) else {}
    clean = payload
    if name in INBOUND:
        try:
            clean = INBOUND[name].validate(payload or {}, what=f"payload of {name}")
        except InvalidTaskData:
            clean = payload
    body = {"name": name, "correlation": {"order_id": keys.get("order_id"), "coi": keys.get("coi")}, "payload": clean}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _iso_date(value: str | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise CancelRefused("death_date must be a date (YYYY-MM-DD)",
                            errors={"death_date": ["must be a date (YYYY-MM-DD)"]}) from None


def business_key_id(business_key: str, center: str | None = None) -> uuid.UUID:
    """The id of the pathway a centre started with this key (``center`` None: the unscoped id that
    pathways started before keys were scoped by centre carry)."""
    if center is None:
        return uuid.uuid5(NS, f"cartpath:business-key:{business_key}")
    return uuid.uuid5(NS, f"cartpath:business-key:{center}:{business_key}")
