"""GET /reports/process-nodes: per node of one process, pathways there now and how long the node held
them, by centre and period; process owners read every centre's aggregates, lane roles their own."""
from __future__ import annotations

import pytest

from tests.support.http import Http, assert_problem, catch_up, make_http


@pytest.fixture
def http(tmp_path) -> Http:
    return make_http(tmp_path, CARTPATH_REPORT_WAIT_SECONDS=0.2)


def nodes(http: Http, query: str, *roles: str, centers=("FR-01",)) -> dict:
    r = http.call("GET", f"/reports/process-nodes?key=mini_mfr{query}", http.headers(*roles, centers=centers))
    assert r.status_code == 200, r.get_json()
    return {n["node"]: n for n in r.get_json()["nodes"]}


def test_counts_now_and_held_times_per_node(http):
    first = http.start("P-0001")
    http.intake(first)  # intake done: the pathway waits for slot_confirmed
    http.start("P-0002")  # intake ready
    http.start("P-0003", center="FR-02")
    http.fire("2026-01-06T08:00:00+00:00")  # a day later: the clock moves, P-0002/3 wait one day so far
    catch_up(http)
    owner = nodes(http, "", "process_owner", centers=())
    assert owner["intake"]["now"] == 2 and owner["intake"]["waiting_now"]["median"] == pytest.approx(1.0)
    assert owner["intake"]["held"]["count"] == 1 and owner["intake"]["held"]["median"] == 0.0
    waits = [n for n in owner.values() if n["kind"] == "wait"]
    assert [w["now"] for w in waits] == [1]
    fr01 = nodes(http, "&center=FR-01", "process_owner", centers=())
    assert fr01["intake"]["now"] == 1
    coordination = nodes(http, "", "coordination")  # a lane role: its own centre only
    assert coordination["intake"]["now"] == 1
    assert nodes(http, "&from=2030-01-01", "process_owner", centers=()) == {}


def test_refusals(http):
    catch_up(http)
    assert_problem(http.call("GET", "/reports/process-nodes", http.headers("process_owner", centers=())), 422)
    assert_problem(http.call("GET", "/reports/process-nodes?key=mini_mfr&center=FR-02",
                             http.headers("coordination")), 403)
    assert_problem(http.call("GET", "/reports/process-nodes?key=mini_mfr",
                             http.headers("manufacturer", centers=(), org="ACME")), 403)
