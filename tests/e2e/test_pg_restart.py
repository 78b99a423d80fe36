"""The database restarts under load (PostgreSQL only: the PostgreSQL pass of `make test` collects
this module, the SQLite pass leaves it out, see tests/conftest.py).

The server runs on its own small cluster, which `.ci/run` creates next to the main test
cluster (CARTPATH_TEST_POSTGRES_RESTART_CLUSTER / _PORT), so stopping it disturbs no other
test. While `cartpath serve --workers 2` takes commands from 4 clients, the cluster is stopped
until every client has been refused, then started again. What must hold: while it is down,
requests are refused cleanly (503 application/problem+json with Retry-After: no 500, no
dropped connection); once it is back they succeed again without restarting serve; the
scheduler and the projection runner hold their roles again; nothing acknowledged is missing
and nothing is half-recorded; the views equal a rebuild.
"""
from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter

import pytest
from psycopg import sql

from cartpath.engine.locks import RoleTaken, singleton
from tests.support.pg import connect, server_settings
from tests.support.server import (
    Server,
    assert_store_sound,
    assert_views_equal_a_rebuild,
    call,
    in_threads,
    token,
    wait_for_views,
    wait_until,
)

CLIENTS = 4
COORDINATION = token("coordination")


def restart_cluster() -> tuple[str, str, str]:
    """(version, name, port) of the cluster this test may stop, as `.ci/run --server-only` exports them."""
    cluster = os.environ.get("CARTPATH_TEST_POSTGRES_RESTART_CLUSTER", "")
    port = os.environ.get("CARTPATH_TEST_POSTGRES_RESTART_PORT", "")
    assert "/" in cluster and port, ("the database-restart test needs CARTPATH_TEST_POSTGRES_RESTART_CLUSTER and "
                                     "_PORT: run `eval \"$(bash .ci/run --server-only)\"` (it creates that cluster)")
    version, name = cluster.split("/", 1)
    return version, name, port


def pg_ctlcluster(version: str, name: str, action: str) -> None:
    """Debian's tool, as .ci/run uses it (root or the postgres user may run it)."""
    fast = ["-m", "fast"] if action == "stop" else []
    done = subprocess.run(["pg_ctlcluster", version, name, action, *fast], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "LC_ALL": "C.UTF-8"})
    said = done.stdout + done.stderr
    assert done.returncode == 0 or (action == "start" and "already running" in said), said


class Load:
    """Clients that start pathways and complete their intake, repeating a refused command."""

    def __init__(self, port: int):
        self.port = port
        self.stop = threading.Event()
        self.answers: list[list[tuple[str, object]]] = [[] for _ in range(CLIENTS)]

    def send(self, i: int, what: str, path: str, body: dict):
        while True:
            answer = call(self.port, "POST", path, COORDINATION, body, timeout=120)
            self.answers[i].append((what, answer))
            if answer.status != 503 or self.stop.is_set():
                return answer
            self.stop.wait(0.2)  # sooner than Retry-After: the test wants to see the way back

    def client(self, i: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            started = self.send(i, "start", "/pathways", {
                "patient_ref": f"P-D{i}-{n}", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
                "process_key": "mini_mfr", "business_key": f"BK-D{i}-{n}"})
            if started.status not in (200, 201):
                return  # reported by the assertions on the answers
            [intake] = [t for t in started.body["tasks"] if t["name"] == "intake"]
            self.send(i, intake["id"].split(":")[1], f"/tasks/{intake['id']}/complete",
                      {"data": {"ok": True, "order_id": f"ORD-D{i}-{n}", "manufacturer": "ACME"}})

    def seen(self, i: int, status: int, since: int) -> bool:
        return any(a.status == status for _, a in self.answers[i][since:])


@pytest.mark.slow
def test_a_database_restart_under_load_gives_503_then_service_again(tmp_path):
    version, name, port = restart_cluster()
    pg_ctlcluster(version, name, "start")  # a previous run that failed half-way may have left it down
    settings = {**server_settings(), "POSTGRES_PORT": port}
    schema = f"cpt_restart_{os.getpid()}"
    with connect(settings) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    # each of eventsourcing's 10 tries waits 1 s for a connection: a request gives up in ~12 s
    # PostgreSQL whatever the pass (run by name, the module still tests what it is about)
    server = Server(tmp_path, workers=2, env={
        "PERSISTENCE_MODULE": "eventsourcing.postgres", **settings, "POSTGRES_SCHEMA": schema,
        "POSTGRES_ENABLE_DB_FUNCTIONS": "no", "CREATE_TABLE": "true", "POSTGRES_CONNECT_TIMEOUT": "1"})
    try:
        server.start()
        load = Load(server.port)
        clients = threading.Thread(target=lambda: in_threads(CLIENTS, load.client))
        clients.start()
        wait_until(lambda: all(len(a) >= 5 for a in load.answers), "some load before the restart")
        marks = [len(a) for a in load.answers]
        pg_ctlcluster(version, name, "stop")
        try:
            wait_until(lambda: all(load.seen(i, 503, marks[i]) for i in range(CLIENTS)),
                       "every client to be refused while the database is down", timeout=90, every=0.2)
        finally:
            pg_ctlcluster(version, name, "start")
        marks = [len(a) for a in load.answers]
        wait_until(lambda: all(load.seen(i, 201, marks[i]) and load.seen(i, 200, marks[i]) for i in range(CLIENTS)),
                   "every client to be served again", timeout=90, every=0.2)
        load.stop.set()
        clients.join(timeout=180)
        assert not clients.is_alive()
        assert server.proc.poll() is None  # serve rode it out: nothing had to restart it
        # its scheduler holds the role again: it tries once a tick (5 s), so the clients may be served
        # again before its next try comes (CI saw it: the role checked a moment too early)
        wait_until(lambda: _role_taken(server.env, "timer-scheduler"), "the scheduler to hold its role again",
                   timeout=60, every=0.5)
        wait_for_views(server.engine, timeout=90)  # and its runner (started again) follows the log
        assert server.stop() == 0
    finally:
        server.kill()

    answers = [(what, a) for per_client in load.answers for what, a in per_client]
    statuses = Counter(a.status for _, a in answers)
    # 409: a repeated intake whose first try was recorded after all (its acknowledgement was lost)
    print(f"answers by status: {dict(statuses)}")
    assert set(statuses) <= {200, 201, 409, 503} and statuses[503] >= CLIENTS, statuses
    for _, a in answers:
        if a.status == 503:
            assert a.headers["content-type"] == "application/problem+json"
            assert a.headers["retry-after"] == "5"
            assert a.body["status"] == 503 and a.body["type"].endswith("/store-unavailable")
        if a.status == 409:
            assert a.body["type"].endswith("/task-not-ready")
    assert "Exception on /api" not in server.log()  # what Flask logs for a request that crashed

    engine = server.engine
    pathways = {str(p.id): p for p in assert_store_sound(engine)}
    started = {a.body["id"] for what, a in answers if what == "start" and a.status in (200, 201)}
    assert started <= set(pathways)  # every acknowledged start is there
    for what, a in answers:
        if what != "start" and a.status == 200:  # every acknowledged completion is there, once
            history = engine.history(a.body["id"])
            assert [h["data"]["task_id"] for h in history if h["type"] == "TaskCompleted"] == [what]
    assert_views_equal_a_rebuild(engine)
    with connect(settings) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _role_taken(env, role: str) -> bool:
    """Whether another process holds ``role`` (trying to take it, and letting it go at once)."""
    try:
        with singleton(env, role):
            return False
    except RoleTaken:
        return True
