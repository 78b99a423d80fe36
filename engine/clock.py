"""Where "now" comes from for commands: the real clock, or a manual one.

The manual clock (``CARTPATH_CLOCK=manual``) starts at ``CARTPATH_CLOCK_START``
and moves only when timers are fired with a later ``now``. Its position is an
event stream in the store, so every process sharing the store shares it.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from eventsourcing.domain import Aggregate, event

from .errors import CartpathError
from .topics import pin_topics

MANUAL_CLOCK_ID = uuid.uuid5(uuid.NAMESPACE_URL, "cartpath:manual-clock")
CLOCK_KIND_ID = uuid.uuid5(uuid.NAMESPACE_URL, "cartpath:clock-kind")


class ManualClockState(Aggregate):
    @staticmethod
    def create_id(start: datetime):
        return MANUAL_CLOCK_ID

    @event("Set")
    def __init__(self, start: datetime):
        self.now = start

    @event("Advanced")
    def advance(self, to: datetime) -> None:
        self.now = to


class ClockKind(Aggregate):
    """Which clock a store runs on, recorded once: simulated and real time must not mix in one
    store (a manual-clock demo's timers would all fire at once on the system clock, and a real
    pathway's deadlines would stop moving on a manual one)."""

    @staticmethod
    def create_id(kind: str):
        return CLOCK_KIND_ID

    @event("Recorded")
    def __init__(self, kind: str):
        self.kind = kind


class ClockMismatch(CartpathError):
    code = "clock-mismatch"


def store_clock_kind(app) -> str | None:
    """The kind the store recorded; stores from before the record: ``manual`` if a manual clock
    was ever moved in it, else unknown (None)."""
    for aggregate_id in (CLOCK_KIND_ID, MANUAL_CLOCK_ID):
        try:
            state = app.repository.get(aggregate_id)
        except Exception as err:  # AggregateNotFoundError
            if type(err).__name__ != "AggregateNotFoundError":
                raise
            continue
        return state.kind if isinstance(state, ClockKind) else "manual"
    return None


def check_clock_kind(app, *, record: bool) -> None:
    """Refuse a command whose CARTPATH_CLOCK is not the store's; ``record`` (commands that write)
    records the kind if the store has none yet."""
    from eventsourcing.persistence import IntegrityError
    kind = "manual" if app.clock.manual else "system"
    known = store_clock_kind(app)
    if known is not None and known != kind:
        raise ClockMismatch(f"this store runs on the {known} clock, but CARTPATH_CLOCK={kind}: set "
                            f"CARTPATH_CLOCK={known}, or use another CARTPATH_DATA_DIR for {kind} time")
    if record and CLOCK_KIND_ID not in app.repository:
        try:
            app.save(ClockKind(kind=kind))
        except IntegrityError:  # another process recorded it at the same moment: check against theirs
            check_clock_kind(app, record=False)


class SystemClock:
    manual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, to: datetime) -> None:
        """Real time moves by itself; firing timers 'at' a time does not move it."""


class ManualClock:
    """Reads its time from the store each time, so CLI and server agree."""

    manual = True

    def __init__(self, app, start: datetime):
        self._app = app
        self._start = start
        self._state: ManualClockState | None = None

    def _load(self) -> ManualClockState | None:
        state = self._state
        if state is None:
            try:
                state = self._app.repository.get(MANUAL_CLOCK_ID)
            except Exception as err:  # AggregateNotFoundError: clock never set in this store
                if type(err).__name__ != "AggregateNotFoundError":
                    raise
                return None
        else:
            for ev in self._app.events.get(MANUAL_CLOCK_ID, gt=state.version):
                ev.mutate(state)
        self._state = state
        return state

    def now(self) -> datetime:
        state = self._load()
        return state.now if state is not None else self._start

    def advance(self, to: datetime) -> None:
        from eventsourcing.persistence import IntegrityError
        for _ in range(100):
            state = self._load()
            if state is None:
                state = ManualClockState(start=max(self._start, to))
            elif to > state.now:
                state.advance(to=to)
            else:
                return
            try:
                self._app.save(state)
                return
            except IntegrityError:
                # Another process moved the clock at the same moment (API workers firing timers
                # together): drop our unsaved state, read theirs, and move on from it if still behind.
                self._state = None
        raise RuntimeError("the manual clock kept changing under us")


pin_topics("clock", ManualClockState, ClockKind)
