"""One timer scheduler and one projection runner per store, whatever is started by mistake.

A second `cartpath scheduler` or `cartpath projections run` beside a running `cartpath serve`
waits as a standby (saying so in one log line) and writes nothing; when the holder dies
(`kill -9`: the database or the kernel frees its lock), the standby takes over. Runs on the
store of the pass: advisory locks on PostgreSQL, flock on SQLite.
"""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.support.server import (
    CARTPATH,
    Server,
    assert_store_sound,
    assert_views_equal_a_rebuild,
    wait_for_views,
    wait_until,
)
from tests.support.store import ROOT


def start(server: Server, log, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTPATH_", "POSTGRES_", "PERSISTENCE_"))}
    return subprocess.Popen([CARTPATH, *args], env={**env, **server.env, "CREATE_TABLE": "false"}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log)


def begin(server: Server, patient_ref: str) -> None:
    server.engine.start_pathway(patient_ref, "FR-01", "DLBCL", "axi-cel", process_key="mini_mfr")


@pytest.mark.slow
def test_standbys_wait_in_one_line_and_take_over_when_the_holders_die(tmp_path):
    server = Server(tmp_path, workers=1)
    standbys: list[subprocess.Popen] = []
    scheduler_log, runner_log = tmp_path / "scheduler.log", tmp_path / "runner.log"
    try:
        server.start()
        holder_scheduler, holder_runner = server.child("scheduler"), server.child("projections")
        wait_until(lambda: "manual clock" in server.log() and "projections: running" in server.log(),
                   "serve's scheduler and runner to hold their roles")
        with open(scheduler_log, "wb") as slog, open(runner_log, "wb") as rlog:
            standbys.append(start(server, slog, "scheduler", "--tick", "0.1"))
            standbys.append(start(server, rlog, "projections", "run", "--poll", "0.1"))
        wait_until(lambda: "standby:" in scheduler_log.read_text() and "waiting for it" in runner_log.read_text(),
                   "both standbys to say they wait")
        begin(server, "P-S1")  # serve's runner, not the standby, applies it
        wait_for_views(server.engine)
        refused = subprocess.run([CARTPATH, "projections", "run", "--no-wait"], cwd=ROOT, capture_output=True,
                                 text=True, env={**os.environ, **server.env, "CREATE_TABLE": "false"}, timeout=120)
        assert refused.returncode == 1 and f"pid {holder_runner} " in refused.stderr, refused.stderr

        # the holders die outright; serve is frozen first, so it cannot start a new runner
        server.proc.send_signal(signal.SIGSTOP)
        os.kill(holder_scheduler, signal.SIGKILL)
        os.kill(holder_runner, signal.SIGKILL)
        wait_until(lambda: "manual clock" in scheduler_log.read_text() and "running" in runner_log.read_text(),
                   "the standbys to take over", timeout=60)
        begin(server, "P-S2")  # now the former standby follows the log
        wait_for_views(server.engine)
        refused = subprocess.run([CARTPATH, "projections", "run", "--no-wait"], cwd=ROOT, capture_output=True,
                                 text=True, env={**os.environ, **server.env, "CREATE_TABLE": "false"}, timeout=120)
        assert refused.returncode == 1 and f"pid {standbys[1].pid} " in refused.stderr, refused.stderr
        for proc in standbys:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
    finally:
        for proc in standbys:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
        server.kill()

    waited = scheduler_log.read_text()
    [line] = [line for line in waited.splitlines() if "standby:" in line]  # one line, not one per look
    assert "timer-scheduler" in line and f"pid {holder_scheduler} " in line
    assert waited.index("standby:") < waited.index("manual clock")  # it waited, then it held the role
    ran = runner_log.read_text()
    assert ran.count("another runner holds the lock; waiting for it") == 1
    assert ran.index("waiting for it") < ran.index("running")
    assert len(assert_store_sound(server.engine)) == 2
    assert_views_equal_a_rebuild(server.engine)
