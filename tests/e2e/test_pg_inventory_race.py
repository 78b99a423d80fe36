"""Two patients, one vial: 16 clients against a real `cartpath serve` (2 gunicorn workers)
complete two pathways' `tocilizumab_reservation` at the same moment, with exactly one dose
in the centre's stock.

Runs on the store of the pass (SQLite, then PostgreSQL where the workers really write at once).
What must hold, in each round: exactly one reservation is recorded; every client of the other
pathway is refused with 422 naming `doses` and 0 available; the winner's other clients get 409
(the task was completed); the stock shows reserved 1, available 0; every pathway verifies; no
event is lost or twice in the log, and the views equal a rebuild.
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from cartpath.engine.inventory import stock_id
from tests.support.server import (
    Server,
    assert_store_sound,
    assert_views_equal_a_rebuild,
    call,
    in_threads,
    token,
    wait_for_views,
)
from tests.support.store import FIXTURES

CLIENTS = 16
ROUNDS = 3
COORDINATION, PHARMACY, AUDITOR = token("coordination"), token("pharmacy"), token("auditor", centers=())


def race_reservations(port: int, tasks: list[str]) -> dict[str, list]:
    """Client i completes tasks[i % 2] with doses 1; all leave the barrier together."""
    barrier = threading.Barrier(CLIENTS)

    def client(i: int):
        barrier.wait(timeout=120)
        return call(port, "POST", f"/tasks/{tasks[i % 2]}/complete", PHARMACY, {"data": {"doses": 1}})
    answers = in_threads(CLIENTS, client)
    return {task: [a for i, a in enumerate(answers) if tasks[i % 2] == task] for task in tasks}


@pytest.mark.slow
def test_two_patients_racing_for_one_dose_get_it_once(tmp_path):
    server = Server(tmp_path, workers=2)
    server.engine.deploy({"tocilizumab_pathway.bpmn": (FIXTURES / "tocilizumab_pathway.bpmn").read_bytes()})
    winners: list[str] = []
    try:
        server.start()
        port = server.port
        for round_ in range(ROUNDS):
            received = call(port, "POST", "/inventory/tocilizumab/receipts", PHARMACY,
                            {"center": "FR-01", "doses": 1, "lot": f"TCZ-{round_}", "expires_on": "2030-01-01"})
            assert received.status == 201 and received.body["available"] == 1, received
            pathways = []
            for k in range(2):
                started = call(port, "POST", "/pathways", COORDINATION, {
                    "patient_ref": f"P-T{round_}-{k}", "center": "FR-01", "indication": "DLBCL",
                    "product": "axi-cel", "process_key": "tocilizumab_pathway"})
                assert started.status == 201, started
                pathways.append(started.body)
            tasks = [p["tasks"][0]["id"] for p in pathways]
            by_task = race_reservations(port, tasks)

            won = [t for t, answers in by_task.items() if any(a.status == 200 for a in answers)]
            assert len(won) == 1, (round_, {t: Counter(a.status for a in by_task[t]) for t in tasks})
            [lost] = [t for t in tasks if t not in won]
            statuses = Counter(a.status for a in by_task[won[0]])
            assert statuses[200] == 1 and statuses[409] == CLIENTS // 2 - 1, (round_, statuses, by_task[won[0]])
            for answer in by_task[lost]:
                assert answer.status == 422, (round_, answer)
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.body["errors"]["doses"] and answer.body["available"] == 0, answer
            winners.append(won[0].split(":")[0])

            shown = call(port, "GET", "/inventory/tocilizumab?center=FR-01", AUDITOR)
            assert shown.status == 200, shown
            assert (shown.body["reserved"], shown.body["available"], shown.body["on_hand"]) == \
                   (round_ + 1, 0, round_ + 1), shown
            assert [r["pathway_id"] for r in shown.body["reservations"]] == sorted(winners)
        wait_for_views(server.engine)
        assert server.stop() == 0
    finally:
        server.kill()

    engine = server.engine
    pathways = assert_store_sound(engine)
    reserved = {str(p.id) for p in pathways if "tocilizumab_reservation" in p.data}
    assert reserved == set(winners)
    # the stock's own history: one receipt and one reservation per round, versions without a gap
    events = list(engine.events.get(stock_id("FR-01")))
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert Counter(type(e).__name__ for e in events) == {"Opened": 1, "Received": ROUNDS, "Reserved": ROUNDS}
    assert_views_equal_a_rebuild(engine)
