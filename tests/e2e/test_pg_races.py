"""Races between API worker processes: 4 gunicorn workers under `cartpath serve`, 32 clients
sending the same commands at the same moment.

Runs on the store of the pass (`make test` runs it on SQLite, then on PostgreSQL, where the
workers really write at once: PostgreSQL has no database-wide write lock). What must hold:
each ready task is completed once (one 200, every other client 409), each message is
recorded once (a repeated message_id gets the first answer, another message for the same
wait is refused), a timer fires once however many ask, no event is lost or twice in the
log, every pathway verifies, and the projection runner's views equal a rebuild.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from cartpath.engine.errors import MessageNotCorrelated
from tests.support.server import (
    Server,
    assert_store_sound,
    assert_views_equal_a_rebuild,
    call,
    in_threads,
    token,
    wait_for_views,
)
from tests.support.store import T0

CLIENTS = 32
PATHWAYS = 6
COORDINATION, PHARMACY = token("coordination"), token("pharmacy")
MANUFACTURER, ADMIN = token("manufacturer", centers=(), org="ACME"), token("admin", centers=())


def race(port: int, requests: list[tuple[str, str, str, dict]]) -> list[list]:
    """Every client sends every request in turn; before each one, all clients wait at a barrier,
    so the same request reaches the workers at the same moment. Returns answers[request][client]."""
    barrier = threading.Barrier(CLIENTS)

    def client(i: int) -> list:
        answers = []
        for method, path, bearer, body in requests:
            barrier.wait(timeout=120)
            answers.append(call(port, method, path, bearer, body(i) if callable(body) else body))
        return answers
    per_client = in_threads(CLIENTS, client)
    return [[per_client[c][r] for c in range(CLIENTS)] for r in range(len(requests))]


def one_winner(answers: list, what: str):
    statuses = Counter(a.status for a in answers)
    assert statuses[200] == 1 and statuses[409] == CLIENTS - 1, (what, statuses,
                                                                 [a for a in answers if a.status != 409])
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers if a.status == 409)
    return next(a for a in answers if a.status == 200)


@pytest.mark.slow
def test_workers_racing_on_the_same_commands_record_each_once(tmp_path):
    server = Server(tmp_path, workers=4)
    try:
        server.start()
        assert len(set(server.api_workers())) == 4
        port = server.port
        pathways = []
        for k in range(PATHWAYS):
            started = call(port, "POST", "/pathways", COORDINATION, {
                "patient_ref": f"P-R{k}", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
                "process_key": "mini_mfr"})
            assert started.status == 201, started
            pathways.append(started.body)

        # 1. every client completes every pathway's intake
        intakes = [("POST", f"/tasks/{p['tasks'][0]['id']}/complete", COORDINATION,
                    {"data": {"ok": True, "order_id": f"ORD-R{k}", "manufacturer": "ACME"}})
                   for k, p in enumerate(pathways)]
        winners = {}
        for k, answers in enumerate(race(port, intakes)):
            winner = one_winner(answers, f"intake of pathway {k}")
            assert winner.body["correlation"]["order_id"] == f"ORD-R{k}"
            winners[pathways[k]["id"]] = [(pathways[k]["tasks"][0]["id"].split(":")[1], winner.body["version"])]

        # 2. every client posts the slot confirmation: half of them under one shared message_id,
        #    the others each under its own id (a manufacturer sending twice)
        def slot(k: int):
            return lambda i: {"name": "slot_confirmed", "message_id": f"slot-{k}" if i % 2 else f"slot-{k}-{i}",
                              "correlation": {"order_id": f"ORD-R{k}", "coi": f"COI-R{k}"},
                              "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": f"S{k}"}}
        delivered = {}
        for k, answers in enumerate(race(port, [("POST", "/messages", MANUFACTURER, slot(k))
                                                for k in range(PATHWAYS)])):
            statuses = Counter(a.status for a in answers)
            assert set(statuses) <= {200, 409, 422}, (k, statuses, answers)
            accepted = [a for a in answers if a.status == 200 and not a.body["duplicate"]]
            assert len(accepted) == 1, (k, answers)
            first = accepted[0].body
            assert first["accepted"] and first["pathway_id"] == pathways[k]["id"]
            # a repeat of the winning id gets the first answer; no other id was ever accepted
            for a in answers:
                if a.status == 200 and a.body["duplicate"]:
                    assert {key: a.body[key] for key in ("pathway_id", "message_id", "accepted")} == \
                           {key: first[key] for key in ("pathway_id", "message_id", "accepted")}
            delivered[pathways[k]["id"]] = first["message_id"]

        # 3. every client, as an admin, moves the manual clock past the one-day timer at once
        fire = [("POST", "/timers/fire", ADMIN, {"now": (T0 + timedelta(days=2)).isoformat()})]
        fired = race(port, fire)[0]
        # a request that loses the race on one pathway answers 409 (after firing the ones it won):
        # the timers' effect is checked in the store below (each pathway fired once, `check` ready)
        assert {a.status for a in fired} <= {200, 409} and any(a.status == 200 for a in fired), fired

        # 4. every client completes every pathway's pharmacy check
        checks = []
        for k, p in enumerate(pathways):
            [task] = server.engine.ready_tasks(p["id"])
            assert task["name"] == "check"
            checks.append(("POST", f"/tasks/{task['id']}/complete", PHARMACY,
                           {"data": {"coi_scanned": f"COI-R{k}", "n": 3}}))
        for k, answers in enumerate(race(port, checks)):
            winner = one_winner(answers, f"check of pathway {k}")
            assert winner.body["status"] == "ended" and winner.body["outcome"] == "follow_up_handover"
            winners[pathways[k]["id"]].append((checks[k][1].split(":")[1].split("/")[0], winner.body["version"]))

        wait_for_views(server.engine)
        assert server.stop() == 0
    finally:
        server.kill()

    engine = server.engine
    for pathway in assert_store_sound(engine):
        history = engine.history(pathway.id)
        kinds = Counter(h["type"] for h in history)
        assert (kinds["TaskCompleted"], kinds["MessageReceived"], kinds["TimersFired"], kinds["PathwayEnded"]) == \
               (2, 1, 1, 1), kinds
        # what each winner was told is what the store holds
        for task_id, version in winners[str(pathway.id)]:
            [done] = [h for h in history if h["type"] == "TaskCompleted" and h["data"]["task_id"] == task_id]
            assert done["version"] < version <= pathway.version
        [received] = [h for h in history if h["type"] == "MessageReceived"]
        assert received["data"]["message_id"] == delivered[str(pathway.id)]
        assert pathway.status == "ended" and pathway.data["check"]["n"] == 3
    # the losing message ids left no receipt: delivering one now is refused, the winner's is a repeat
    k = 0
    winner_id = delivered[pathways[k]["id"]]
    loser_id = f"slot-{k}" if winner_id != f"slot-{k}" else f"slot-{k}-0"
    correlation = {"order_id": f"ORD-R{k}", "coi": f"COI-R{k}"}
    payload = {"apheresis_date": "2026-02-01", "manufacturing_slot": "S0"}
    assert engine.deliver_message("slot_confirmed", winner_id, correlation, payload)["duplicate"] is True
    with pytest.raises(MessageNotCorrelated):
        engine.deliver_message("slot_confirmed", loser_id, correlation, payload)
    assert_views_equal_a_rebuild(engine)
