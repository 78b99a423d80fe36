"""The migration use case: plan (dry run) or apply a move of running pathways between versions.

    result = migrate_pathways(app, "cart_pathway", 2, 3, center="FR-01", dry_run=True)

Every selected pathway is checked on its current state (``migration.blockers``) and,
when nothing blocks it, moved on its live engine: in a dry run the moved engine is
thrown away and only the tasks it would have are reported; otherwise the move is
recorded (``Migrated`` and its outcomes) through the unit of work, like any command.
A pathway that changed since the plan is therefore checked again, on what it is
when it is moved; a conflicting write (a completion at the same moment) makes the
move run once more on the fresh state, or report the conflict; never both.
A pathway already on the target version is reported ``already_migrated`` and left
alone, so a repeated request moves nothing twice.
"""
from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.utils import get_topic

from . import determinism
from .errors import CartpathError, InvalidMigration, MigrationBlocked, PathwayEnded, UnknownDefinition, UnknownPathway
from .follow import LogFollower
from .migration import blockers, migrate_runtime, nodes, tasks_after
from .pathway import Pathway
from .runtime import Runtime
from .unit_of_work import pathway_key

STATUSES = ("movable", "blocked", "migrated", "already_migrated", "skipped", "conflict")


def migrate_pathways(app: Any, key: str, from_version: int, to_version: int, *,
                     pathways: list[str] | None = None, center: str | None = None,
                     task_mapping: dict[str, str] | None = None, dry_run: bool = False,
                     reason: str | None = None, actor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plan (``dry_run``) or apply the move of ``key``'s running pathways from one version to another."""
    source, target = _versions(app, key, from_version, to_version)
    mapping = _mapping(task_mapping, source, target)
    if pathways is not None and center is not None:
        raise InvalidMigration("give pathways or center, not both", {"center": ["not with pathways"]})
    if reason is not None and not isinstance(reason, str):
        raise InvalidMigration("reason must be text", {"reason": ["must be a string"]})
    known = _pathways_in_log(app)
    results = []
    for pathway_id in _candidates(known, pathways):
        item = _selected(known.get(pathway_id), pathway_id, key, from_version, to_version, center,
                         explicit=pathways is not None)
        if item is None:
            continue
        if item["status"] == "candidate":
            item.update(_plan(app, pathway_id, source, target, mapping) if dry_run
                        else _apply(app, pathway_id, source, target, mapping, reason, actor or {}))
        results.append(item)
    counts = {status: sum(1 for r in results if r["status"] == status) for status in STATUSES}
    return {"key": key, "from_version": from_version, "to_version": to_version, "dry_run": dry_run,
            "task_mapping": mapping, "reason": reason, "counts": {k: v for k, v in counts.items() if v},
            "pathways": results}


def _versions(app: Any, key: str, from_version: Any, to_version: Any) -> tuple[Any, Any]:
    errors = {name: ["must be a positive integer"] for name, value in
              (("from_version", from_version), ("to_version", to_version))
              if isinstance(value, bool) or not isinstance(value, int) or value < 1}
    if not errors and from_version == to_version:
        errors["to_version"] = ["must differ from from_version"]
    if errors:
        raise InvalidMigration(f"invalid versions: {', '.join(errors)}", errors)
    app.model(key)  # an unknown process: 404, as for any definition
    models = []
    for name, version in (("from_version", from_version), ("to_version", to_version)):
        try:
            models.append(app.model(key, version))
        except UnknownDefinition as err:
            raise InvalidMigration(err.detail, {name: [f"{key} has no version {version}"]}) from None
    return models[0], models[1]


def _mapping(task_mapping: Any, source: Any, target: Any) -> dict[str, str]:
    if task_mapping is None:
        return {}
    if not isinstance(task_mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in task_mapping.items()):
        raise InvalidMigration("task_mapping maps node ids to node ids", {"task_mapping": ["must map text to text"]})
    errors: dict[str, list[str]] = {}
    old, new = nodes(source), nodes(target)
    for a, b in task_mapping.items():
        if a not in old:
            errors.setdefault(f"task_mapping.{a}", []).append(f"version {source.version} has no node {a}")
        if b not in new:
            errors.setdefault(f"task_mapping.{a}", []).append(f"version {target.version} has no node {b}")
    if errors:
        raise InvalidMigration(f"task_mapping names nodes that do not exist: {', '.join(errors)}", errors)
    return dict(task_mapping)


class _Seen:
    """What the log says of one pathway: enough to select it without loading it (the move loads
    it anyway, and decides on what it loaded)."""

    __slots__ = ("center", "key", "version", "status", "outcome", "moves")

    def __init__(self, center: str, definition: dict[str, Any]):
        self.center, self.key, self.version = center, definition["key"], definition["version"]
        self.status, self.outcome = "active", None
        self.moves: list[tuple[int, int]] = []


def _pathways_in_log(app: Any) -> dict[Any, _Seen]:
    """Every pathway's centre, process version and status, from its Started, Migrated and
    PathwayEnded events: a few events each, where loading 1,000 pathways costs seconds."""
    topics = [get_topic(getattr(Pathway, name)) for name in ("Started", "Migrated", "PathwayEnded")]
    seen: dict[Any, _Seen] = {}
    for _, ev in LogFollower(app, topics).new_events():
        name = type(ev).__name__
        if name == "Started":
            seen[ev.originator_id] = _Seen(ev.start["center"], ev.definition)
        elif ev.originator_id in seen and name == "Migrated":
            entry = seen[ev.originator_id]
            entry.moves.append((ev.from_["version"], ev.to["version"]))
            entry.version = ev.to["version"]
        elif ev.originator_id in seen:
            seen[ev.originator_id].status, seen[ev.originator_id].outcome = "ended", ev.outcome
    return seen


def _candidates(known: dict[Any, _Seen], pathways: list[str] | None) -> list[Any]:
    if pathways is None:
        return list(known)
    if not isinstance(pathways, list) or not all(isinstance(p, str) for p in pathways):
        raise InvalidMigration("pathways is a list of pathway ids", {"pathways": ["must be a list of ids"]})
    out: list[Any] = []
    for text in dict.fromkeys(pathways):
        try:
            out.append(pathway_key(text))
        except UnknownPathway:
            out.append(text)  # reported as no such pathway
    return out


def _selected(seen: _Seen | None, pathway_id: Any, key: str, from_version: int, to_version: int,
              center: str | None, explicit: bool) -> dict[str, Any] | None:
    """The pathway's entry in the answer, or None when a whole-process request does not concern it."""
    if seen is None:
        return {"pathway_id": str(pathway_id), "status": "skipped", "reasons": ["no such pathway"]}
    item: dict[str, Any] = {"pathway_id": str(pathway_id), "center": seen.center}
    if center is not None and seen.center != center:
        return None
    running = seen.key == key and seen.status == "active"
    if running and seen.version == to_version and (from_version, to_version) in seen.moves:
        return dict(item, status="already_migrated", reasons=[])
    if running and seen.version == from_version:
        return dict(item, status="candidate")
    if not explicit:
        return None
    why = (f"it has ended ({seen.outcome})" if seen.status != "active" else
           f"it runs {seen.key} version {seen.version}")
    return dict(item, status="skipped", reasons=[why])


def _plan(app: Any, pathway_id: uuid.UUID, source: Any, target: Any, mapping: dict[str, str]) -> dict[str, Any]:
    uow = app.unit_of_work
    pathway, runtime, _ = uow.checkout(pathway_id)
    if runtime is None:
        return {"status": "skipped", "reasons": [f"it has ended ({pathway.outcome})"]}
    # the engine is moved for real, then dropped: the cache never keeps a planned move
    uow.forget(pathway.id)
    if pathway.definition["version"] != source.version:  # moved since the log was read
        return {"status": "skipped", "reasons": [f"it now runs version {pathway.definition['version']}"]}
    reasons = blockers(pathway.data, runtime, target, mapping)
    if reasons:
        return {"status": "blocked", "reasons": reasons, "tasks_after": None}
    try:
        with determinism.engine_run(max(app.clock.now(), pathway.last_at), pathway.id, pathway.version + 1):
            migrate_runtime(runtime, target, mapping)
    except CartpathError as err:
        return {"status": "blocked", "reasons": [err.detail], "tasks_after": None}
    return {"status": "movable", "reasons": [], "version": pathway.version, "tasks_after": tasks_after(runtime)}


def _apply(app: Any, pathway_id: uuid.UUID, source: Any, target: Any, mapping: dict[str, str],
           reason: str | None, actor: dict[str, Any]) -> dict[str, Any]:
    after: dict[str, Any] = {}

    def act(pathway: Pathway, runtime: Runtime | None) -> list:
        if runtime is None:
            raise PathwayEnded(f"it has ended ({pathway.outcome})")
        if pathway.definition["version"] != source.version:
            raise MigrationBlocked("it changed version meanwhile",
                                   [f"it now runs version {pathway.definition['version']}"])
        reasons = blockers(pathway.data, runtime, target, mapping)
        if reasons:
            raise MigrationBlocked("it cannot be moved", reasons)
        at = max(app.clock.now(), pathway.last_at)
        with determinism.engine_run(at, pathway.id, pathway.version + 1):
            pathway.migrate(dict(pathway.definition), {"key": target.key, "version": target.version,
                                                       "sha256": target.sha256},
                            mapping, actor, reason, at, lambda: migrate_runtime(runtime, target, mapping))
        after.update(tasks_after(runtime), version=pathway.version)
        return []

    try:
        moved = app.unit_of_work.command(pathway_id, act)
    except MigrationBlocked as err:
        return {"status": "blocked", "reasons": err.reasons, "tasks_after": None}
    except CartpathError as err:
        status = "conflict" if err.code == "concurrent-update" else "blocked"
        return {"status": status, "reasons": [err.detail], "tasks_after": None}
    return {"status": "migrated", "reasons": [], "version": moved.version,
            "tasks_after": {"ready": after["ready"], "waiting": after["waiting"]}}
