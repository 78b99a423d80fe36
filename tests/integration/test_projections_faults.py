"""Faults of the read side: a runner killed with SIGKILL mid-batch, a second runner, two writers
at once, a view with a bug; and the CLI's behaviour on bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from cartpath.projections.log import Event
from cartpath.projections.runner import Runner, status
from cartpath.projections.store import ProjectionsUnavailable, ViewStore
from cartpath.projections.views import all_views
from cartpath.projections.views.custody import CustodyView
from cartpath.projections.views.timeline import TimelineView
from tests.support.sample import T0 as SAMPLE_T0
from tests.support.sample import write_population
from tests.support.store import ROOT, T0, ready_named, run_mini_to_slot

CARTPATH = str(Path(sys.executable).parent / "cartpath")


def dump(runner: Runner) -> dict:
    return {v.name: v.dump(runner.store) for v in runner.views}


def rebuilt(app) -> dict:
    fresh = Runner(app, batch_size=3000)
    fresh.prepare()
    fresh.reset([v.name for v in fresh.views])
    fresh.catch_up()
    return dump(fresh)


def wait_until(condition, what: str, timeout: float = 120.0):
    """Wait for a condition of the system under test (a guard against hanging, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def cli(env: dict, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([CARTPATH, *args], env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True,
                          timeout=300, **kw)


def start_runner(env: dict, *args: str, hold: float = 0.0) -> subprocess.Popen:
    extra = {"CARTPATH_PROJECTIONS_TEST_HOLD": str(hold)} if hold else {}
    return subprocess.Popen([CARTPATH, "projections", "run", "--poll", "0.05", *args],
                            env={**os.environ, **env, **extra}, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def positions(store: ViewStore) -> dict[str, int]:
    try:
        return {n: r["position"] for n, r in store.tracking().items()}
    except ProjectionsUnavailable:
        return {}


def test_runner_killed_mid_batch_counts_nothing_twice_and_misses_nothing(app, env):
    write_population(app, 120, seed=3, until=SAMPLE_T0 + timedelta(days=90))
    store = ViewStore.for_app(app)
    # Each batch holds its transaction open a moment, so the kill lands inside one.
    runner = start_runner(env, "--batch-size", "400", hold=0.05)
    try:
        wait_until(lambda: positions(store) and min(positions(store).values()) > 0, "a first committed batch")
        # more load arrives while the runner works
        write_population(app, 40, seed=4, start=SAMPLE_T0 + timedelta(days=30), until=SAMPLE_T0 + timedelta(days=120),
                         first=1000)
        head = app.recorder.max_notification_id()
        assert min(positions(store).values()) < head, "the runner finished before it could be killed"
        runner.send_signal(signal.SIGKILL)
        assert runner.wait(timeout=30) == -signal.SIGKILL
    finally:
        if runner.poll() is None:
            runner.kill()
    killed_at = positions(store)
    assert 0 < min(killed_at.values()) < head
    # a new runner picks up after the last committed batch
    second = start_runner(env, "--batch-size", "700")
    try:
        wait_until(lambda: positions(store) and min(positions(store).values()) >= head, "the restarted runner")
        run_mini_to_slot(app)  # and it keeps following new writes
        head = app.recorder.max_notification_id()
        wait_until(lambda: min(positions(store).values()) >= head, "the runner to follow new writes")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0, second.stderr.read()
    incremental = dump(Runner(app))
    assert len(incremental["timeline"]["view_timeline"]) > 1000
    assert incremental == rebuilt(app)


def test_a_second_runner_waits_or_refuses_and_rebuild_follows_the_live_runner(app, env):
    run_mini_to_slot(app)
    first = start_runner(env)
    try:
        store = ViewStore.for_app(app)
        wait_until(lambda: positions(store) and min(positions(store).values()) >= app.recorder.max_notification_id(),
                   "the first runner")
        refused = cli(env, "projections", "run", "--no-wait")
        assert refused.returncode == 1
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("error: another projection runner is running on this store (held by "), last
        assert f"pid {first.pid} " in last  # it names the holder
        assert status(app)["runner_running"] is True
        before = dump(Runner(app))
        rebuilt_live = cli(env, "projections", "rebuild", "timeline")
        assert rebuilt_live.returncode == 0, rebuilt_live.stderr
        assert "it rebuilds; following its progress" in rebuilt_live.stderr
        assert json.loads(rebuilt_live.stdout)["rebuilt"] == ["timeline"]
        assert dump(Runner(app)) == before
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    assert status(app)["runner_running"] is False


def test_two_writers_at_once_never_double_count(app):
    write_population(app, 60, seed=8, until=SAMPLE_T0 + timedelta(days=100))
    errors = []

    def work(batch: int) -> None:
        try:
            Runner(app, store=ViewStore.for_app(app), batch_size=batch).catch_up()
        except Exception as err:  # a writer that lost a race may fail; it must not corrupt anything
            errors.append(err)

    Runner(app).prepare()
    threads = [threading.Thread(target=work, args=(b,)) for b in (97, 131)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    late = Runner(app)
    late.catch_up()
    assert all("moved by another writer" in str(e) for e in errors)
    assert dump(late) == rebuilt(app)


class BuggyTimeline(TimelineView):
    """A timeline with a bug that shows on the completion of the mini pathway's 'check' task."""

    def on_TaskCompleted(self, steps, ev: Event) -> None:
        if ev.data["name"] == "check":
            raise ZeroDivisionError("a bug")
        super().on_TaskCompleted(steps, ev)


class DoubleCustody(CustodyView):
    """A custody view whose writes fail (a duplicate row) once an order is placed."""

    def on_MessageSent(self, batch, ev: Event) -> None:
        super().on_MessageSent(batch, ev)
        if ev.data["name"] == "order_placed":
            self._add(batch, ev, "collected", None, "x", None, [], {})
            self._add(batch, ev, "collected", None, "x", None, [], {})


def _finish_mini(app, p):
    app.fire_due_timers(T0 + timedelta(days=2))
    p = app.get_pathway(p.id)
    return app.complete_task(p.id, ready_named(p, "check"), {"coi_scanned": "COI-1", "n": 1})


@pytest.mark.parametrize("buggy", [BuggyTimeline, DoubleCustody])
def test_a_view_with_a_bug_stops_at_the_event_and_the_others_go_on(app, buggy):
    p = run_mini_to_slot(app)
    _finish_mini(app, p)
    views = [buggy() if v.name == buggy.name else v for v in all_views()]
    runner = Runner(app, views=views, batch_size=1000)
    runner.prepare()
    runner.catch_up()
    history = app.history(p.id)
    culprit = "TaskCompleted" if buggy is BuggyTimeline else "MessageSent"
    bad_version = [h["version"] for h in history if h["type"] == culprit][-1 if buggy is BuggyTimeline else 0]
    notes = app.recorder.select_notifications(start=1, limit=1000)
    bad_position = next(n.id for n in notes if n.originator_id == p.id and n.originator_version == bad_version)
    report = {v["name"]: v for v in status(app)["views"]}
    stopped = report[buggy.name]
    assert stopped["state"] == "stopped" and stopped["error_position"] == bad_position
    assert stopped["position"] == bad_position - 1
    assert f"v{bad_version} of pathway {p.id}" in stopped["error_event"]
    expected = "ZeroDivisionError: a bug" if buggy is BuggyTimeline else "unique"  # sqlite3 and psycopg words
    assert expected.lower() in stopped["error"].lower()
    assert all(v["state"] == "current" for n, v in report.items() if n != buggy.name)
    # everything before the bad event was applied, nothing after
    before = dump(runner)[buggy.name]
    assert any(before.values())
    # the fixed code (a new runner) retries the view from where it stopped, and ends as a rebuild would
    fixed = Runner(app)
    fixed.prepare()
    fixed.catch_up()
    assert all(v["state"] == "current" for v in status(app)["views"])
    assert dump(fixed) == rebuilt(app)


def test_status_and_rebuild_commands(app, env):
    run_mini_to_slot(app)
    done = cli(env, "projections", "rebuild")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rebuilt"] == ["pathways", "timeline", "worklists", "custody", "audit"]
    assert summary["position"] == app.recorder.max_notification_id() and summary["events"] > 0
    assert "rebuilding" in done.stderr  # the progress bar goes to stderr
    shown = cli(env, "projections", "status")
    assert shown.returncode == 0
    state = json.loads(shown.stdout)
    assert state["head"] == summary["position"] and {v["lag"] for v in state["views"]} == {0}
    kpis = cli(env, "projections", "show", "kpis", "--center", "FR-01")
    assert kpis.returncode == 0 and json.loads(kpis.stdout)["pathways"] == 1


@pytest.mark.parametrize("args, message", [
    (("show", "kpis", "--from", "last tuesday"),
     "error: --from must be an ISO 8601 date or date-time, not 'last tuesday'"),
    (("show", "timeline", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
     "error: pathway 1b4e28ba-2fa1-11d2-883f-0016d3cca427 is not in the timeline"),
    (("rebuild", "everything"), "error: unknown view 'everything'; expected one of pathways, timeline, worklists, "
                                "custody, audit, kpis, manufacturers, capacity, audit_events, process_nodes"),
])
def test_cli_refusals_are_one_plain_line(app, env, args, message):
    Runner(app).prepare()
    done = cli(env, "projections", *args)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == message


def test_reports_before_any_runner_say_so(app, env):
    done = cli(env, "projections", "show", "worklists")
    assert done.returncode == 1
    assert "the projections are not initialised yet" in done.stderr.strip().splitlines()[-1]
