"""The projection runner: reads the event log after each view's position and applies it in batches.

Exactly once: a batch's view rows and the views' new positions are written in
one transaction of the view store, and a position only moves by compare-and-set
(``WHERE position = ? AND generation = ?``), so a runner killed anywhere in a
batch leaves the last committed batch and nothing else, and a stray second
writer can only fail, never double-count.

A view that cannot apply an event (a bug) stops exactly before it: its position
stays at the last good event and the error, with the failing event, is kept in
the tracking row for ``cartpath projections status``; the other views go on.
Starting a runner (new code) retries stopped views.
"""
from __future__ import annotations

import gc
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from .log import Event, EventLog
from .store import TRACKING, RunnerBusy, ViewStore
from .views import Context, View, all_views

DEFAULT_BATCH = 5000
GATHER = 0.25  # seconds a NOTIFY-woken runner waits for more saves before applying them in one batch


def tune_gc() -> None:
    """For a process that is a runner: each batch allocates ~10 objects per event, freed by
    reference counting; the cyclic collector's frequent young-generation passes over them
    cost a third of the runner's time, and long-lived objects need no rescanning."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 50, 50)


class Runner:
    def __init__(self, app: Any, store: ViewStore | None = None, views: Iterable[View] | None = None,
                 batch_size: int = DEFAULT_BATCH, log: Callable[[str], None] | None = None):
        self.app = app
        self.store = store or ViewStore.for_app(app)
        self.views = list(views) if views is not None else all_views()
        self.batch_size = batch_size
        self.log = log or (lambda message: None)
        self.events = EventLog(app)
        self.ctx = Context(app)
        self.applied_events = 0  # events read and handed to the views, for rebuild figures
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, int, Future] | None = None  # (start, head, the read in flight)
        # Fault testing only: hold each batch's transaction open this long before committing.
        self._hold = float(os.environ.get("CARTPATH_PROJECTIONS_TEST_HOLD") or 0)

    def view(self, name: str) -> View:
        for view in self.views:
            if view.name == name:
                return view
        raise KeyError(name)

    # -- set-up -------------------------------------------------------------------
    def prepare(self, *, retry_errors: bool = True) -> None:
        """Create what is missing; rebuild a view whose tables changed; clear old errors to retry them."""
        self.store.ensure_tracking()
        with self.store.transaction() as tx:
            rows = {r[0]: r for r in tx.query(f"SELECT name, schema_hash, generation, error FROM {TRACKING}")}
            for view in self.views:
                found = rows.get(view.name)
                if found is None or found[1] != view.schema_hash():
                    if found is not None:
                        self.log(f"view {view.name}: layout changed, rebuilding it from event zero")
                    self._reset(tx, view, 0 if found is None else found[2])
                else:
                    view.create(tx)
                    if retry_errors and found[3] is not None:
                        # the error's kind only: its message may quote event data (kept in the table)
                        self.log(f"view {view.name}: retrying after its error ({found[3].split(':', 1)[0]})")
                        tx.execute(f"UPDATE {TRACKING} SET error = NULL, error_position = NULL, error_event = NULL "
                                   f"WHERE name = ?", (view.name,))

    def reset(self, names: Iterable[str]) -> None:
        """Empty the named views and send them back to event zero (a rebuild's first step)."""
        self.store.ensure_tracking()
        with self.store.transaction() as tx:
            generations = dict(tx.query(f"SELECT name, generation FROM {TRACKING}"))
            for name in names:
                self._reset(tx, self.view(name), generations.get(name, 0))

    def _reset(self, tx: Any, view: View, generation: int) -> None:
        view.drop(tx)
        view.create(tx)
        tx.execute(f"DELETE FROM {TRACKING} WHERE name = ?", (view.name,))
        tx.execute(f"INSERT INTO {TRACKING} (name, position, generation, schema_hash, updated_at) "
                   "VALUES (?, 0, ?, ?, ?)",
                   (view.name, generation + 1, view.schema_hash(), time.time()))

    # -- the work -------------------------------------------------------------------
    def step(self, names: Iterable[str] | None = None) -> int:
        """Apply one batch to the views (all, or those named) that are behind; returns how far
        the slowest of them moved (0: nothing to do)."""
        wanted = set(names) if names is not None else None
        tracking = self.store.tracking()
        live = [v for v in self.views if v.name in tracking and tracking[v.name]["error"] is None
                and (wanted is None or v.name in wanted)]
        if not live:
            return 0
        head = self.events.head()
        start = min(tracking[v.name]["position"] for v in live)
        if start >= head:
            return 0
        events, seen = self._read(start, head)
        self.applied_events += len(events)
        with self.store.transaction() as tx:
            # PostgreSQL: lock the tracking rows, so a second writer waits here and then sees our positions.
            lock = " FOR UPDATE" if tx.dialect == "postgres" else ""
            now = {r[0]: r[1:] for r in tx.query(f"SELECT name, position, generation, error FROM {TRACKING}{lock}")}
            if any(now.get(v.name) != (tracking[v.name]["position"], tracking[v.name]["generation"], None)
                   for v in live):
                return 1  # reset or moved by someone else since we looked: look again
            for view in live:
                position, generation = tracking[view.name]["position"], tracking[view.name]["generation"]
                if position >= seen:
                    continue
                kinds = view.kinds
                mine = [ev for ev in events if ev.position > position and ev.kind in kinds]
                new_position, error = self._apply(tx, view, mine, seen)
                changed = tx.execute(
                    f"UPDATE {TRACKING} SET position = ?, error = ?, error_position = ?, error_event = ?, "
                    f"updated_at = ? WHERE name = ? AND position = ? AND generation = ?",
                    (new_position, error and error[0], error and error[1], error and error[2], time.time(),
                     view.name, position, generation))
                if changed != 1:
                    raise RuntimeError(f"view {view.name} was moved by another writer; batch rolled back")
            if self._hold:
                time.sleep(self._hold)
        return seen - start

    def _read(self, start: int, head: int) -> tuple[list[Event], int]:
        """The batch after ``start``: prefetched if a reader thread has it, and the next one
        is then read (and decoded) while this one is applied."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == start and ahead[1] <= head:
            events, seen = ahead[2].result()
        else:
            if ahead is not None:
                ahead[2].result()  # a stale read (the plan changed): finish it, use nothing of it
            events, seen = self.events.read(start, self.batch_size, head)
        if self._reader is not None and seen < head:
            self._ahead = (seen, head, self._reader.submit(self.events.read, seen, self.batch_size, head))
        return events, seen

    def _apply(self, tx: Any, view: View, events: list[Event], seen: int) -> tuple[int, tuple | None]:
        """(new position, error or None). On failure, find the first event that fails on its own,
        keep everything before it, and stop the view there."""
        try:
            with tx.savepoint():
                view.apply(tx, events, self.ctx)
            return seen, None
        except Exception:
            pass
        for ev in events:
            try:
                with tx.savepoint():
                    view.apply(tx, [ev], self.ctx)
            except Exception as err:
                detail = "".join(traceback.format_exception_only(type(err), err)).strip()
                # type only in the log (a message may quote task data); `projections status` shows the rest
                self.log(f"view {view.name} stopped at {ev.describe()}: {type(err).__name__}")
                return ev.position - 1, (detail + "\n" + traceback.format_exc(limit=8), ev.position, ev.describe())
        self.log(f"view {view.name}: a batch failed but each of its events applied alone (batching bug?)")
        return seen, None

    def catch_up(self, names: Iterable[str] | None = None, progress: Callable[[int, int], None] | None = None,
                 stop: threading.Event | None = None) -> int:
        """Apply batches until the views reach the log's head as it was when called."""
        names = list(names) if names is not None else None
        target = self.events.head()
        with self.prefetching():
            while not (stop and stop.is_set()):
                moved = self.step(names)
                positions = self.positions(names)
                if progress:
                    progress(min(positions.values(), default=target), target)
                if moved == 0 or min(positions.values(), default=target) >= target:
                    break
        return target

    @contextmanager
    def prefetching(self) -> Iterator[None]:
        """Read and decode the next batch in a second thread while this one is applied: the
        views' SQLite/PostgreSQL work releases the GIL, so on two cores the two overlap."""
        if self._reader is not None:
            yield
            return
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="projections-reader")
        try:
            yield
        finally:
            reader, self._reader = self._reader, None
            if self._ahead is not None:
                self._ahead[2].cancel()
                self._ahead = None
            reader.shutdown(wait=True)

    def positions(self, names: Iterable[str] | None = None) -> dict[str, int]:
        tracking = self.store.tracking()
        wanted = set(names) if names is not None else {v.name for v in self.views}
        return {n: r["position"] for n, r in tracking.items() if n in wanted and r["error"] is None}

    def run(self, stop: threading.Event, poll: float = 0.5, lock: Any = None, gather: float = GATHER) -> None:
        """Run until ``stop`` is set: catch up, then wait for news (PostgreSQL: NOTIFY wakes us, and
        ``gather`` seconds later one batch takes every save committed meanwhile). With the runner's
        ``lock``, stop if it is ever lost (another runner may have it now)."""
        waiter = Waiter(self.app, self.store, poll, gather)
        try:
            with self.prefetching():
                self._loop(stop, waiter, lock)
        finally:
            waiter.close()

    def _loop(self, stop: threading.Event, waiter: Waiter, lock: Any) -> None:
        applied_since, last_report, last_check = 0, time.monotonic(), time.monotonic()
        while not stop.is_set():
            if lock is not None and time.monotonic() - last_check > 5:
                last_check = time.monotonic()
                if not lock.held():
                    raise RunnerBusy("the runner lost its lock (store connection dropped?); stopping")
            moved = self.step()
            applied_since += moved
            if time.monotonic() - last_report > 10 and applied_since:
                self.log(f"projections at {self.events.head()}: {applied_since} positions applied in the last "
                         f"{time.monotonic() - last_report:.0f}s")
                applied_since, last_report = 0, time.monotonic()
            if moved == 0:
                waiter.wait(stop)
            elif moved < self.batch_size:  # caught up with the head it read: let the next saves gather
                waiter.gather_more(stop)


class Waiter:
    """Sleep until the event log may have grown: LISTEN/NOTIFY on PostgreSQL, polling on SQLite."""

    def __init__(self, app: Any, store: ViewStore, poll: float, gather: float = 0.0):
        self.poll = poll
        self.gather = gather
        self.conn = None
        channel = getattr(app.recorder, "channel_name", None)
        if store.dialect == "postgres" and channel:
            try:
                from psycopg import sql
                self.conn = store.connect()
                self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            except Exception:  # polling still works; waking early is an optimisation
                self.conn = None

    def wait(self, stop: threading.Event) -> None:
        if self.conn is None:
            stop.wait(self.poll)
            return
        woken = False
        for _ in self.conn.notifies(timeout=self.poll, stop_after=1):
            woken = True
        if woken:
            # Each save notifies: a batch per notification cost the runner (and its database backend)
            # more per completion than the API worker's own statements under load. The saves that
            # commit meanwhile join this batch; their notifications are read now, not woken on again.
            self.gather_more(stop)

    def gather_more(self, stop: threading.Event) -> None:
        """After a batch that reached the log's head as it was read: wait ``gather`` seconds, so the
        saves committed meanwhile make the next batch together. A runner that went straight on
        under load applied a batch of the few events saved while the last one ran, and paid a
        batch's fixed cost (the tracking rows locked and updated, a savepoint a view, the log's
        head) for each: at ~270 completions/s on PostgreSQL that was 0.5 ms of its CPU and ~0.25 ms
        of its database backend's a completion, against 0.2 and ~0 gathering (README, Performance).
        PostgreSQL only (woken by NOTIFY): on SQLite a batch costs the runner little (0.07-0.09 ms a
        completion either way under the same bench), and the views stay as fresh as they were."""
        if self.conn is None or self.gather <= 0:
            return
        stop.wait(self.gather)
        for _ in self.conn.notifies(timeout=0):  # read now: none of them wakes the runner again
            pass

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def status(app: Any, store: ViewStore | None = None, views: Iterable[View] | None = None) -> dict[str, Any]:
    """Each view's position, lag behind the log and error, and whether a runner holds the lock."""
    store = store or ViewStore.for_app(app)
    head = EventLog(app).head()
    try:
        tracking = store.tracking()
    except Exception:
        tracking = {}
    names = [v.name for v in (views if views is not None else all_views())]
    out = []
    for name in names:
        row = tracking.get(name)
        if row is None:
            out.append({"name": name, "position": None, "lag": None, "state": "not started"})
            continue
        out.append({"name": name, "position": row["position"], "lag": max(head - row["position"], 0),
                    "state": "stopped" if row["error"] else ("current" if row["position"] >= head else "behind"),
                    "error": row["error"].splitlines()[0] if row["error"] else None,
                    "error_position": row["error_position"], "error_event": row["error_event"],
                    # stored as epoch seconds (a number both dialects keep exactly); shown as ISO 8601 like every time
                    "updated_at": datetime.fromtimestamp(row["updated_at"], UTC).isoformat()
                    if row["updated_at"] is not None else None})
    return {"head": head, "runner_running": store.runner_running(), "views": out,
            "store": store.dialect, "size_bytes": store.size_bytes() if tracking else None}


def wait_for_position(store: ViewStore, names: Iterable[str], position: int, timeout: float = 2.0) -> int:
    """Wait until every named view has reached ``position``; returns the slowest position reached."""
    names = list(names)
    deadline = time.monotonic() + timeout
    while True:
        tracking = store.tracking()
        reached = min((tracking[n]["position"] if n in tracking else 0) for n in names)
        if reached >= position or time.monotonic() >= deadline:
            return reached
        time.sleep(0.05)
