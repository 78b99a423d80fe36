"""Timers: which pathways have one due (an index over the log), firing what is due, and the
scheduler loop that fires on the system clock, all in one place.

The index only *suggests* pathways to look at; the Pathway aggregate itself decides
what is due, so a stale index can make the scheduler look in vain but never
fire a timer that is not there.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from . import determinism
from .errors import CartpathError, InvalidTaskData
from .follow import LogFollower
from .incidents import public_incident
from .pathway import Pathway
from .runtime import Runtime
from .times import parse_instant
from .unit_of_work import UnitOfWork

_TOPICS = [get_topic(getattr(Pathway, name))
           for name in ("TimerArmed", "WaitEnded", "PathwayEnded", "IncidentRaised", "IncidentResolved")]
log = logging.getLogger("cartpath.timers")
# SpiffWorkflow fires a timer only once "now" is strictly past its deadline, so a timer
# fires 1 us after it is due; the next deadline it arms drifts by that microsecond. A
# timer due within this tolerance of "now" counts as due, so ticking at a round time
# fires what a person would call due at that time.
DUE_TOLERANCE = timedelta(milliseconds=1)
CLOCK_FLOOR = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_CEILING = datetime(2200, 1, 1, tzinfo=UTC)


class TimerIndex:
    def __init__(self, app: Any, batch: int = 1000):
        self._log = LogFollower(app, _TOPICS, batch)
        self._due: dict[uuid.UUID, dict[str, str]] = {}
        self._stopped: set[uuid.UUID] = set()  # pathways with an open incident: nothing fires until a retry
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        with self._lock:
            for _, ev in self._log.new_events():
                timers = self._due.setdefault(ev.originator_id, {})
                name = type(ev).__name__
                if name == "IncidentRaised":
                    self._stopped.add(ev.originator_id)
                elif name in ("IncidentResolved", "PathwayEnded"):
                    self._stopped.discard(ev.originator_id)
                if name == "TimerArmed" and ev.due_at:
                    timers[ev.task_id] = ev.due_at
                elif name == "WaitEnded":
                    timers.pop(ev.task_id, None)
                elif name == "PathwayEnded":
                    timers.clear()
                if not timers:
                    self._due.pop(ev.originator_id, None)

    def due(self, now: datetime) -> list[tuple[str, uuid.UUID]]:
        """(earliest due time, pathway id) for pathways with a timer due by ``now``, earliest first."""
        self.catch_up()
        found = []
        for pathway_id, timers in self._due.items():
            if pathway_id in self._stopped:
                continue
            # each due time parsed once a round (it was three times: the minimum, the test, the sort)
            at, earliest = min(((parse_instant(due), due) for due in timers.values()), key=_first)
            if at <= now:
                found.append((at, earliest, pathway_id))
        return [(earliest, pathway_id) for _, earliest, pathway_id in sorted(found, key=_first)]

    def next_due(self) -> str | None:
        self.catch_up()
        dues = [min(t.values(), key=parse_instant) for t in self._due.values() if t]
        return min(dues, key=parse_instant) if dues else None


def _first(pair: tuple) -> Any:
    return pair[0]


class NothingDue(CartpathError):
    """No timer of this pathway is due (yet): nothing to fire, nothing to record."""

    def __init__(self) -> None:
        super().__init__("no timer due")


class NothingMoved(NothingDue):
    """The engine fired and nothing moved: nothing is recorded, and the engine used is dropped
    (its timer bookkeeping may have moved with no input recorded to replay it from)."""

    engine_unchanged = False


@dataclass
class FiringRound:
    """What one round of firing did: timers fired, incidents raised, pathways that could not be fired."""

    fired: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def fire_due_timers(uow: UnitOfWork, clock: Any, index: TimerIndex, now: datetime | None = None) -> FiringRound:
    """Fire every timer due by ``now``, each at its own due time, in time order, one pathway at a time.

    A pathway whose step fails gets an incident and stops; one that cannot be fired at
    all (a conflicting write, a bug) is logged by id and left for the next round. Either
    way the others fire. The manual clock moves to ``now`` once the round is done, so
    a refused round never moves it."""
    now = now or clock.now()
    check_clock_range(now)
    done = FiringRound()
    for _, pathway_id in index.due(now + DUE_TOLERANCE):
        try:
            fired, incident = fire_pathway_timers(uow, pathway_id, now)
        except Exception as err:  # noqa: BLE001 - one pathway never stops the round
            uow.forget(pathway_id)
            log.warning("timers of pathway %s not fired this round (%s)", pathway_id, type(err).__name__)
            done.failed.append(str(pathway_id))
            continue
        done.fired += fired
        if incident is not None:
            log.warning("incident %s on pathway %s at %s (%s)", incident["incident_id"], pathway_id,
                        incident["node"], incident["error_class"])
            done.incidents.append({"pathway_id": str(pathway_id), **public_incident(incident)})  # type: ignore[dict-item]
    clock.advance(now)
    return done


def check_clock_range(now: datetime) -> None:
    """Simulated time stays within 1970-2200: far enough for any pathway, and every date in it is representable."""
    if now.tzinfo is None:
        raise InvalidTaskData("now must carry a time zone", {"now": ["must carry a time zone"]})
    if not CLOCK_FLOOR <= now < CLOCK_CEILING:
        raise InvalidTaskData(f"now must lie between {CLOCK_FLOOR.date()} and {CLOCK_CEILING.date()}",
                              {"now": [f"must lie between {CLOCK_FLOOR.date()} and {CLOCK_CEILING.date()}"]})


def fire_pathway_timers(uow: UnitOfWork, pathway_id: uuid.UUID, now: datetime) -> tuple[int, dict[str, Any] | None]:
    """Fire this pathway's due timers; how many firings were recorded, and the incident one raised."""
    fired = 0

    def act(pathway: Pathway, runtime: Runtime | None) -> list[Aggregate]:
        due = pathway.next_due() if pathway.status == "active" and pathway.incident is None else None
        if due is None or parse_instant(due) > now + DUE_TOLERANCE:
            raise NothingDue()
        at = max(parse_instant(due) + timedelta(microseconds=1), pathway.last_at)
        with determinism.engine_run(at, pathway.id, pathway.version + 1):
            if not pathway.fire_timers(runtime, at):  # type: ignore[arg-type]  # an active pathway has its runtime
                raise NothingMoved()
        return []

    for _ in range(10_000):  # a model that re-arms a timer in the past cannot spin us forever
        try:
            pathway = uow.command(pathway_id, act)
        except NothingDue:
            return fired, None
        fired += 1
        if pathway.incident is not None:
            return fired, pathway.incident
        # the saved pathway says whether another timer is due: no second command (a checkout and a
        # read of the store) just to learn that nothing is
        due = pathway.next_due() if pathway.status == "active" else None
        if due is None or parse_instant(due) > now + DUE_TOLERANCE:
            return fired, None
    return fired, None


def run_scheduler(app: Any, interval: float, stop: list, log: logging.Logger,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Fire due timers on the system clock every ``interval`` seconds until ``stop`` is non-empty.
    One per store: while another process holds the ``timer-scheduler`` role this one waits
    as a standby; while the store is unreachable it tries again each interval."""
    from .locks import RoleTaken, singleton
    from .store import store_unavailable_errors
    unavailable = store_unavailable_errors()
    said_standby = False
    while not stop:
        try:
            with singleton(app, "timer-scheduler", wait=True, timeout=1.0, poll=0.2) as role:
                if app.clock.manual:
                    log.info("manual clock: the scheduler fires nothing; time moves by POST /api/v1/timers/fire")
                else:
                    log.info("firing due timers every %s s", interval)
                _fire_while_held(app, role, interval, stop, log, sleep)
                said_standby = False
        except RoleTaken as err:
            if not said_standby:
                log.info("standby: %s", err.detail)
                said_standby = True
        except unavailable as err:  # the database is restarting: take the role again once it is back
            if not said_standby:
                log.warning("store unavailable (%s); trying again every %s s", type(err).__name__, interval)
            said_standby = True
            _pause(interval, stop, sleep)


def _fire_while_held(app: Any, role: Any, interval: float, stop: list, log: logging.Logger,
                     sleep: Callable[[float], None]) -> None:
    while not stop:
        if not role.held():
            log.warning("lost the timer-scheduler role; waiting to take it again")
            return
        if not app.clock.manual:
            try:
                done = app.fire_round()
                if done.fired:
                    log.info("fired %d timer(s)", done.fired)
                if done.incidents:
                    log.warning("%d incident(s) raised this round: %s", len(done.incidents),
                                ", ".join(f"{i['incident_id']} (pathway {i['pathway_id']})" for i in done.incidents))
            except Exception as err:  # a conflicting write or a locked store: try again next round
                log.warning("timer round failed (%s); retrying in %s s", type(err).__name__, interval)
        _pause(interval, stop, sleep)


def _pause(interval: float, stop: list, sleep: Callable[[float], None]) -> None:
    deadline = time.monotonic() + interval
    while not stop and time.monotonic() < deadline:
        sleep(min(0.2, interval))
