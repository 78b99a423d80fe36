"""Shared set-up of the multi-process tests (test_pg_races, test_pg_crash, test_pg_roles,
test_pg_restart): a real `cartpath serve` (gunicorn workers, timer scheduler, projection
runner) on the store this pass of the suite runs on, HTTP clients in threads, and the
checks every one of those tests ends with: each pathway verifies, no event is missing or
twice in the log, and the incrementally maintained views equal a rebuild.

It holds no tests; it is named test_pg_* because those are the files of this part.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cartpath.api.auth import mint_token
from cartpath.engine.application import CartPath
from tests.support.http import MINI_MFR
from tests.support.store import ROOT, store_env

SECRET = "pg-test-secret-" + "p" * 40
CARTPATH = str(Path(sys.executable).parent / "cartpath")
ON_POSTGRES = os.environ.get("CARTPATH_TEST_STORE") == "postgres"


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.05) -> Any:
    """Wait for the system under test (a guard against hanging, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def token(*roles: str, centers=("FR-01",), org: str | None = None) -> str:
    return mint_token(SECRET, "HS256", sub="-".join(roles), roles=roles, centers=centers, org=org)


class Answer:
    """One HTTP exchange as a client saw it; ``status`` None: no answer (connection dropped)."""

    def __init__(self, status: int | None, headers: dict[str, str], body: Any, error: str | None = None):
        self.status, self.headers, self.body, self.error = status, headers, body, error

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.error or str(self.body)[:300]})"


def call(port: int, method: str, path: str, bearer: str, body: dict | None = None, timeout: float = 60) -> Answer:
    """One request on its own connection (a dropped worker loses only this one)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {bearer}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    try:
        conn.request(method, f"/api/v1{path}", body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, parsed)
    except (OSError, http.client.HTTPException) as err:
        return Answer(None, {}, None, f"{type(err).__name__}: {err}")
    finally:
        conn.close()


class Server:
    """`cartpath serve` on a fresh store of this pass's kind, with the mini_mfr process deployed."""

    def __init__(self, tmp_path: Path, workers: int, env: dict[str, str] | None = None):
        self.env = store_env(tmp_path) | {"CARTPATH_JWT_SECRET": SECRET, **(env or {})}
        self.engine = CartPath(env=self.env)
        self.engine.deploy({"mini_mfr.bpmn": MINI_MFR})
        self.port = free_port()
        self.workers = workers
        self.log_path = tmp_path / "serve.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        process_env = {k: v for k, v in os.environ.items()
                       if not k.startswith(("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_", "CREATE_TABLE"))}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([CARTPATH, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                                     env={**process_env, **self.env}, cwd=ROOT, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        wait_until(lambda: (self.proc.poll() is not None
                            or call(self.port, "GET", "/health", "", timeout=2).status == 200),
                   "the server to answer", timeout=90, every=0.2)
        assert self.proc.poll() is None, self.log()
        wait_until(lambda: len(self.api_workers()) == self.workers and self.child("projections"),
                   "every worker and the projection runner", timeout=60)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child(self, name: str) -> int | None:
        """The pid of serve's child: 'api' (gunicorn master), 'scheduler' or 'projections'."""
        marks = {"api": "gunicorn", "scheduler": " scheduler", "projections": "projections run"}
        found = [pid for pid in children(self.proc.pid) if marks[name] in cmdline(pid)]
        return found[0] if found else None

    def api_workers(self) -> list[int]:
        master = self.child("api")
        return children(master) if master else []

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self._log.close()

    def kill(self) -> None:
        """Clean-up after a failed test: the supervisor and whatever it started."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = children(self.proc.pid)
        pids += [p for pid in pids for p in children(pid)]
        self.proc.kill()
        self.proc.wait()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as err:  # re-raised after the join
            errors.append(err)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# -- what every test ends with ------------------------------------------------------------------------
def assert_store_sound(engine: CartPath) -> list:
    """Every pathway verifies (its recorded outcomes follow from its inputs: no half-applied command),
    its versions run 1..n without a gap, and the notification log holds each of its events once."""
    ids = engine.pathway_ids()
    logged: Counter = Counter()
    start = 1
    while True:
        notes = engine.recorder.select_notifications(start=start, limit=1000)
        logged.update((n.originator_id, n.originator_version) for n in notes)
        if len(notes) < 1000:
            break
        start = notes[-1].id + 1
    assert max(logged.values()) == 1, [k for k, n in logged.items() if n > 1]
    pathways = []
    for pathway_id in ids:
        versions = [ev.originator_version for ev in engine.events.get(pathway_id)]
        assert versions == list(range(1, len(versions) + 1)), (pathway_id, versions)
        assert {(pathway_id, v) for v in versions} <= set(logged), pathway_id
        assert sum(1 for oid, _ in logged if oid == pathway_id) == len(versions)
        verdict = engine.verify(pathway_id)
        assert verdict["ok"], verdict
        pathways.append(engine.get_pathway(pathway_id))
    return pathways


def views_dump(engine: CartPath) -> dict:
    from cartpath.projections.runner import Runner
    runner = Runner(engine)
    return {v.name: v.dump(runner.store) for v in runner.views}


def assert_views_equal_a_rebuild(engine: CartPath) -> None:
    """The views the serve's runner kept up to date, against the same views rebuilt from event zero
    (call with the server stopped: the rebuild writes the same tables)."""
    from cartpath.projections.runner import Runner
    incremental = views_dump(engine)
    fresh = Runner(engine, batch_size=3000)
    fresh.prepare()
    fresh.reset([v.name for v in fresh.views])
    fresh.catch_up()
    rebuilt = {v.name: v.dump(fresh.store) for v in fresh.views}
    assert incremental == rebuilt
    assert any(rows for tables in rebuilt.values() for rows in tables.values())


def wait_for_views(engine: CartPath, timeout: float = 60) -> None:
    """Until the live runner has applied the whole log to every view."""
    from cartpath.projections.store import ProjectionsUnavailable, ViewStore
    from cartpath.projections.views import VIEW_NAMES
    head = engine.recorder.max_notification_id()
    store = ViewStore.for_app(engine)

    def current() -> bool:
        try:
            tracking = store.tracking()  # read directly: `status` would probe the runner's lock
        except ProjectionsUnavailable:
            return False
        return all(name in tracking and tracking[name]["error"] is None and tracking[name]["position"] >= head
                   for name in VIEW_NAMES)
    try:
        wait_until(current, f"the views to reach event {head}", timeout=timeout, every=0.2)
    finally:
        store.close()
