"""The one place where SpiffWorkflow gets its time and its ids.

SpiffWorkflow reads the wall clock for timer deadlines (``datetime.now``) and
state-change times (``time.time``) and draws task ids from ``uuid4``. Replaying
a pathway must give byte-identical engine state, so every engine run happens
inside :func:`engine_run`, which fixes "now" to the command's recorded time and
derives task ids from (pathway id, command sequence, counter). Outside such a
run SpiffWorkflow refuses to tick, so a forgotten context fails loudly instead
of leaking the wall clock into the event log.
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

import SpiffWorkflow.task as _spiff_task
from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer


class NoEngineRun(RuntimeError):
    """SpiffWorkflow was driven outside :func:`engine_run`."""


@dataclass
class _Run:
    now: datetime
    namespace: uuid.UUID
    counter: int = field(default=0)
    # SpiffWorkflow reads time.time() twice at every task state change (a dozen times a command):
    # the run's time never moves, so its timestamp is computed once
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.stamp = self.now.timestamp()

    def next_id(self) -> uuid.UUID:
        self.counter += 1
        return uuid.uuid5(self.namespace, str(self.counter))


_current: ContextVar[_Run | None] = ContextVar("cartpath_engine_run", default=None)


def _run() -> _Run:
    run = _current.get()
    if run is None:
        raise NoEngineRun("SpiffWorkflow used outside engine_run(): no clock or id source")
    return run


@contextlib.contextmanager
def engine_run(now: datetime, pathway_id: uuid.UUID, sequence: int) -> Iterator[None]:
    """Run SpiffWorkflow at time ``now`` with ids seeded by (pathway, sequence)."""
    if now.tzinfo is None:
        raise ValueError("engine time must be timezone-aware")
    namespace = uuid.uuid5(pathway_id, f"command-{sequence}")
    token = _current.set(_Run(now=now.astimezone(UTC), namespace=namespace))
    try:
        yield
    finally:
        _current.reset(token)


def current_time() -> datetime:
    return _run().now


def next_id() -> uuid.UUID:
    """The next id of this engine run (message ids): the same on every replay."""
    return _run().next_id()


class _EngineDatetime(datetime):
    """``datetime`` whose ``now`` is the current engine run's time."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        now = _run().now
        return now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)

    @classmethod
    def utcnow(cls):  # type: ignore[override]
        return _run().now.replace(tzinfo=None)


class _EngineTime:
    """Stands in for the ``time`` module inside ``SpiffWorkflow.task``."""

    @staticmethod
    def time() -> float:
        return _run().stamp


def _engine_uuid4() -> uuid.UUID:
    return next_id()


def install() -> None:
    """Point SpiffWorkflow's clock and id source at the engine run (idempotent)."""
    _spiff_timer.datetime = _EngineDatetime
    _spiff_task.time = _EngineTime
    _spiff_task.uuid4 = _engine_uuid4


install()
