"""CLI commands of the read side (``cartpath projections ...``), registered on ``cartpath``.

``run`` is what ``cartpath serve`` starts beside the API workers: one runner per
store (it holds a lock; a second one waits, or refuses with ``--no-wait``).
``rebuild`` empties views and replays the log from event zero; with a runner
alive it lets that runner do the work and follows its progress.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from functools import wraps
from typing import Any

import click

from cartpath.engine.console import out as _out
from cartpath.engine.console import refusals

from .reports import NotYet, Reports, parse_period
from .store import ProjectionsUnavailable, RunnerBusy, ViewStore
from .views import REPORT_VIEWS, VIEW_NAMES


def _say(message: str) -> None:
    click.echo(f"projections: {message}", err=True)


def read_side(func):
    """Read-side refusals as one plain line and exit status 1, like the rest of the CLI."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ProjectionsUnavailable, RunnerBusy, NotYet) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
    return refusals(wrapper)


def _open():
    from cartpath.engine.config import open_app
    app = open_app()
    return app, ViewStore.for_app(app)


def _names(name: str | None) -> list[str]:
    if name is None:
        return list(VIEW_NAMES)
    if name in VIEW_NAMES:
        return [name]
    if name in REPORT_VIEWS:
        return list(REPORT_VIEWS[name])
    known = dict.fromkeys(VIEW_NAMES + tuple(REPORT_VIEWS))
    raise ValueError(f"unknown view {name!r}; expected one of {', '.join(known)}")


@click.group("projections")
def projections() -> None:
    """The read side: views built from the event log, and the reports on them."""


@projections.command("run")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--poll", default=0.5, show_default=True, type=click.FloatRange(0.01, 60), help="seconds between looks")
@click.option("--gather", default=0.25, show_default=True, type=click.FloatRange(0, 5),
              help="PostgreSQL: seconds to wait after a save's notification (and after a batch that caught up) "
                   "for more saves, then apply them in one batch")
@click.option("--once", is_flag=True, help="catch up to the log's head and exit")
@click.option("--no-wait", is_flag=True, help="refuse (exit 1) instead of waiting when another runner holds the lock")
@read_side
def run_cmd(batch_size: int, poll: float, gather: float, once: bool, no_wait: bool) -> None:
    """Keep the views up to date with the event log (one runner per store)."""
    from .runner import Runner, tune_gc
    app, store = _open()
    tune_gc()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if store.runner_running():
        if no_wait:
            store.lock(wait=False)  # raises RunnerBusy, naming the holder
        _say("another runner holds the lock; waiting for it")
    lock = store.lock(wait=not no_wait)
    try:
        runner = Runner(app, store, batch_size=batch_size, log=_say)
        runner.prepare()
        _say(f"running ({store.dialect}), log head at {runner.events.head()}")
        if once:
            runner.catch_up(stop=stop)
        else:
            runner.run(stop, poll, lock=lock, gather=gather)
    finally:
        lock.release()
    _say("stopped")


@projections.command("rebuild")
@click.argument("name", required=False)
@click.option("--batch-size", default=20_000, show_default=True, type=click.IntRange(1, 100_000),
              help="events per transaction (larger than `run`'s: a rebuild has no one waiting on each batch)")
@read_side
def rebuild_cmd(name: str | None, batch_size: int) -> None:
    """Rebuild NAME (default: every view) from event zero, with a progress bar."""
    from .runner import Runner, status, tune_gc
    names = _names(name)
    app, store = _open()
    tune_gc()
    runner = Runner(app, store, batch_size=batch_size, log=_say)
    started = time.monotonic()
    try:
        lock = store.lock(wait=False)
    except RunnerBusy:
        lock = None
    if lock is None:
        _say("a runner is running: it rebuilds; following its progress")
        runner.reset(names)
        target = runner.events.head()
        with click.progressbar(length=max(target, 1), label="rebuilding " + ",".join(names), file=sys.stderr) as bar:
            done = 0
            while True:
                current = {v["name"]: v for v in status(app, store)["views"] if v["name"] in names}
                stopped = [v for v in current.values() if v["state"] == "stopped"]
                if stopped:
                    raise ValueError(f"view {stopped[0]['name']} stopped: {stopped[0]['error']}")
                reached = min((v["position"] or 0) for v in current.values())
                bar.update(max(reached - done, 0))
                done = max(done, reached)
                if reached >= target:
                    break
                time.sleep(0.2)
        events = None
    else:
        try:
            runner.prepare()
            runner.reset(names)
            with click.progressbar(length=max(runner.events.head(), 1), label="rebuilding " + ",".join(names),
                                   file=sys.stderr) as bar:
                seen = [0]

                def progress(position: int, target: int) -> None:
                    bar.update(max(position - seen[0], 0))
                    seen[0] = max(seen[0], position)
                target = runner.catch_up(names, progress=progress)
            events = runner.applied_events
            store.settle()
        finally:
            lock.release()
    seconds = time.monotonic() - started
    result = {v["name"]: v for v in status(app, store)["views"] if v["name"] in names}
    _out({"rebuilt": names, "position": target, "events": events, "seconds": round(seconds, 2),
          "events_per_second": round(events / seconds) if events and seconds else None,
          "views": list(result.values())})
    if any(v["state"] == "stopped" for v in result.values()):
        sys.exit(1)


@projections.command("status")
@read_side
def status_cmd() -> None:
    """Each view's position, lag behind the log and error (exit 1 if a view has stopped)."""
    from .runner import status
    app, store = _open()
    result = status(app, store)
    _out(result)
    if any(v["state"] == "stopped" for v in result["views"]):
        sys.exit(1)


@projections.group("show")
def show() -> None:
    """Print a report as JSON (what the matching /api/v1 endpoint returns)."""


def _reports(report: str) -> tuple[Any, Reports]:
    from .runner import status
    app, store = _open()
    reports = Reports(store)
    lag = {v["name"]: v for v in status(app, store)["views"]}
    behind = [n for n in REPORT_VIEWS[report] if (lag.get(n) or {}).get("state") != "current"]
    if behind:
        _say(f"note: view(s) {', '.join(behind)} are not current (is `cartpath projections run` running?)")
    return app, reports


@show.command("timeline")
@click.argument("pathway_id")
@read_side
def show_timeline(pathway_id: str) -> None:
    app, reports = _reports("timeline")
    _out(reports.timeline(pathway_id, now=app.clock.now()))


@show.command("custody")
@click.argument("pathway_id")
@read_side
def show_custody(pathway_id: str) -> None:
    _, reports = _reports("custody")
    _out(reports.custody(pathway_id))


@show.command("worklists")
@click.option("--center")
@click.option("--lane")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@read_side
def show_worklists(center: str | None, lane: str | None, limit: int) -> None:
    app, reports = _reports("worklists")
    _out(reports.worklists(now=app.clock.now(), center=center, lane=lane, limit=limit))


@show.command("kpis")
@click.option("--center")
@click.option("--product")
@click.option("--from", "start", help="pathways started on or after (ISO date)")
@click.option("--to", "end", help="pathways started before (ISO date)")
@read_side
def show_kpis(center: str | None, product: str | None, start: str | None, end: str | None) -> None:
    app, reports = _reports("kpis")
    _out(reports.kpis(now=app.clock.now(), center=center, product=product, start=parse_period(start, "--from"),
                      end=parse_period(end, "--to")))


@show.command("capacity")
@click.option("--center")
@click.option("--weeks", default=8, show_default=True, type=click.IntRange(1, 52))
@read_side
def show_capacity(center: str | None, weeks: int) -> None:
    app, reports = _reports("capacity")
    _out(reports.capacity(now=app.clock.now(), weeks=weeks, center=center))


@show.command("manufacturers")
@click.option("--manufacturer")
@read_side
def show_manufacturers(manufacturer: str | None) -> None:
    _, reports = _reports("manufacturers")
    _out(reports.manufacturers(manufacturer=manufacturer))


COMMANDS = [projections]

from .incident_commands import COMMANDS as _INCIDENT_COMMANDS  # noqa: E402  (its own module: one concept)

COMMANDS += _INCIDENT_COMMANDS

from . import audit_commands  # noqa: E402, F401  (adds `report` to the engine's `audit` group)
