"""Migrations over HTTP (issue 13): a process owner uploads a changed crs_grade table, plans the
move of the running pathways (dry run), applies it, and the patient in monitoring is graded by
the new table; the pathway, its history and verify show the move."""
from __future__ import annotations

import io

import pytest

from cartpath.engine.lint import read_paths
from tests.scenarios.conftest import PROCESSES
from tests.scenarios.journey import Journey
from tests.scenarios.migration import CRS_37_5
from tests.support.http import Http, assert_problem, make_http


@pytest.fixture
def http(tmp_path) -> Http:
    client = make_http(tmp_path)
    client.engine.deploy_bundled(PROCESSES)
    return client


def upload_v2(http: Http) -> int:
    files = read_paths([PROCESSES])
    name, old, new = CRS_37_5
    files[name] = files[name].replace(old, new)
    form = {"files": [(io.BytesIO(content), n) for n, content in files.items()]}
    r = http.call("POST", "/process-definitions", http.headers("process_owner", sub="po-1"), data=form,
                  content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return r.get_json()["items"][0]["version"]


def migrate(http: Http, body: dict, roles=("process_owner",)):
    return http.call("POST", "/process-definitions/cart_pathway/migrations", http.headers(*roles, centers=()),
                     json=body)


def test_a_process_owner_moves_a_patient_in_monitoring_to_a_new_crs_table(http: Http):
    j = Journey(http.engine, 1, center="FR-01")
    j.to_infused()
    v2 = upload_v2(http)
    before = http.position()
    plan = migrate(http, {"from_version": 1, "to_version": v2, "dry_run": True})
    assert plan.status_code == 200, plan.get_json()
    [item] = plan.get_json()["pathways"]
    assert item["status"] == "movable" and "daily_assessment" in item["tasks_after"]["ready"], item
    assert http.position() == before  # a plan records nothing
    moved = migrate(http, {"from_version": 1, "to_version": v2, "reason": "fever at 37.5 °C", "center": "FR-01"})
    assert moved.status_code == 200 and moved.get_json()["counts"] == {"migrated": 1}, moved.get_json()
    assert int(moved.headers["X-Cartpath-Position"]) > before
    pathway = http.pathway(str(j.id))
    assert pathway["definition"]["version"] == v2
    [task] = [t for t in pathway["tasks"] if t["name"] == "daily_assessment"]
    j.at_day(1)
    signs = {"temperature_c": 37.8, "hypotension": "none", "oxygen": "none", "ice_score": 10, "seizure": False,
             "cerebral_edema": "none"}
    r = http.call("POST", f"/tasks/{task['id']}/complete", http.headers("ward"), json={"data": signs})
    assert r.status_code == 200, r.get_json()
    history = http.call("GET", f"/pathways/{j.id}/history", http.headers("auditor", centers=())).get_json()["items"]
    [move] = [h for h in history if h["type"] == "Migrated"]
    assert move["kind"] == "input" and move["data"]["from"]["version"] == 1 and move["data"]["to"]["version"] == v2
    assert move["actor"]["sub"] == "process_owner" and move["data"]["reason"] == "fever at 37.5 °C"
    [grading] = [h for h in history if h["type"] == "NodeCompleted" and h["data"]["node_id"] == "crs_grading"]
    assert grading["data"]["result"] == {"crs_grade": 1} and grading["definition_version"] == v2
    verified = http.call("POST", f"/pathways/{j.id}/verify", http.headers("auditor", centers=())).get_json()
    assert verified["ok"], verified
    again = migrate(http, {"from_version": 1, "to_version": v2})
    assert again.get_json()["counts"] == {"already_migrated": 1}


def test_migration_refusals_are_problems_and_record_nothing(http: Http):
    Journey(http.engine, 1, center="FR-01")
    v2 = upload_v2(http)
    before = http.position()
    assert_problem(migrate(http, {"from_version": 1, "to_version": v2}, roles=("ward",)), 403)
    assert_problem(migrate(http, {"from_version": 1, "to_version": 1}), 422)
    body = assert_problem(migrate(http, {"from_version": 1, "to_version": 7}), 422)
    assert "to_version" in body["errors"]
    body = assert_problem(migrate(http, {"from_version": 1, "to_version": v2, "task_mapping": {"x": "y"}}), 422)
    assert "task_mapping.x" in body["errors"]
    assert_problem(migrate(http, {"from_version": "one", "to_version": v2}), 422)
    assert_problem(migrate(http, {"to_version": v2}), 422)
    assert_problem(http.call("POST", "/process-definitions/nope/migrations", http.headers("admin", centers=()),
                             json={"from_version": 1, "to_version": 2}), 404)
    assert http.position() == before
