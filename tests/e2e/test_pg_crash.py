"""Crashes under load: `kill -9` of an API worker and of the projection runner while 12 clients
start pathways, complete tasks and deliver messages through `cartpath serve --workers 4`.

gunicorn's master replaces the killed worker; serve starts the runner again. Runs on the
store of the pass (SQLite, then PostgreSQL in `make test`). What must hold: every command a
client saw acknowledged (2xx) is in the store; a command whose answer was lost is either
wholly there or not at all (every pathway verifies), and repeating it is safe (business key,
409 for a completed task, the first answer for a delivered message id); the views, kept by a
runner killed mid-batch and restarted, equal a rebuild (nothing applied twice or skipped).
"""
from __future__ import annotations

import os
import signal
import threading
from collections import Counter

import pytest

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

CLIENTS = 12
FLOWS = 6  # pathways per client, three commands each
COORDINATION, MANUFACTURER = token("coordination"), token("manufacturer", centers=(), org="ACME")


class Load:
    """Clients that repeat a command until it is answered, as a careful integration would."""

    def __init__(self, port: int):
        self.port = port
        self.answered = 0
        self.lost = 0  # attempts that got no answer (the worker died under them)
        self.lock = threading.Lock()

    def send(self, method: str, path: str, bearer: str, body: dict):
        for _ in range(20):
            answer = call(self.port, method, path, bearer, body)
            with self.lock:
                if answer.status is None:
                    self.lost += 1
                    continue
                self.answered += 1
            return answer
        raise AssertionError(f"{method} {path}: no answer after 20 attempts")

    def client(self, i: int) -> list[dict]:
        flows = []
        for n in range(FLOWS):
            flow = {"patient_ref": f"P-C{i}-{n}", "order_id": f"ORD-C{i}-{n}", "message_id": f"slot-C{i}-{n}"}
            started = self.send("POST", "/pathways", COORDINATION, {
                "patient_ref": flow["patient_ref"], "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
                "process_key": "mini_mfr", "business_key": f"BK-C{i}-{n}"})
            assert started.status in (200, 201), started  # 200: a repeat found the pathway started
            flow["pathway_id"] = started.body["id"]
            [intake] = [t for t in started.body["tasks"] if t["name"] == "intake"]
            done = self.send("POST", f"/tasks/{intake['id']}/complete", COORDINATION,
                             {"data": {"ok": True, "order_id": flow["order_id"], "manufacturer": "ACME"}})
            assert done.status in (200, 409), done  # 409: a lost attempt had completed it
            flow["intake"] = (intake["id"].split(":")[1], done.status, done.body.get("type"))
            slot = self.send("POST", "/messages", MANUFACTURER, {
                "name": "slot_confirmed", "message_id": flow["message_id"],
                "correlation": {"order_id": flow["order_id"], "coi": f"COI-C{i}-{n}"},
                "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}})
            assert slot.status == 200 and slot.body["accepted"], slot
            flow["slot"] = slot.body
            flows.append(flow)
        return flows


@pytest.mark.slow
def test_killed_worker_and_runner_lose_no_acknowledged_command(tmp_path):
    # each runner batch holds its transaction open a moment, so the kill lands inside one
    server = Server(tmp_path, workers=4, env={"CARTPATH_PROJECTIONS_TEST_HOLD": "0.05"})
    try:
        server.start()
        load = Load(server.port)
        result: list = []
        clients = threading.Thread(target=lambda: result.append(in_threads(CLIENTS, load.client)))
        clients.start()
        total = CLIENTS * FLOWS * 3
        for share in (1, 2, 3):  # a worker at a quarter, half and three quarters of the load; the runner at half
            # (each lambda below is called within its own iteration: B023's late binding cannot bite)
            wait_until(lambda: load.answered >= total * share // 4, f"{share}/4 of the load", timeout=120)  # noqa: B023
            victim, runner = server.api_workers()[0], server.child("projections")
            os.kill(victim, signal.SIGKILL)
            if share == 2:
                os.kill(runner, signal.SIGKILL)
                wait_until(lambda: (server.child("projections") or runner) != runner,  # noqa: B023
                           "serve to start the runner again", timeout=60)
            wait_until(lambda: len(server.api_workers()) == 4 and victim not in server.api_workers(),  # noqa: B023
                       "gunicorn to replace the worker", timeout=60)
        clients.join(timeout=300)
        assert not clients.is_alive() and result, "the clients did not finish"
        flows = [f for per_client in result[0] for f in per_client]
        assert server.proc.poll() is None
        assert "projections exited with status -9" in server.log()
        wait_for_views(server.engine)
        assert server.stop() == 0
    finally:
        server.kill()

    engine = server.engine
    pathways = {str(p.id): p for p in assert_store_sound(engine)}
    # no phantom: every pathway in the store is one a client asked for, once
    assert sorted(p.patient_ref for p in pathways.values()) == sorted(f["patient_ref"] for f in flows)
    outcomes = Counter()
    for flow in flows:
        pathway = pathways[flow["pathway_id"]]
        history = engine.history(pathway.id)
        task_id, status, problem = flow["intake"]
        [done] = [h for h in history if h["type"] == "TaskCompleted"]
        assert done["data"]["task_id"] == task_id and done["data"]["data"]["order_id"] == flow["order_id"]
        if status == 409:  # the answer was lost, the command had been applied: once
            assert problem.endswith("task-not-ready")
        [received] = [h for h in history if h["type"] == "MessageReceived"]
        assert received["data"]["message_id"] == flow["message_id"]
        assert [w["kind"] for w in pathway.waiting.values()] == ["timer"] and not pathway.ready
        outcomes[(status, flow["slot"]["duplicate"])] += 1
    assert sum(outcomes.values()) == CLIENTS * FLOWS
    print(f"attempts without an answer: {load.lost}; (intake status, slot repeat) -> flows: {dict(outcomes)}")
    assert_views_equal_a_rebuild(engine)
