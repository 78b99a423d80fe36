"""The report endpoints over HTTP: read-your-writes, who sees what, refusals as problems, and
conformance of every report operation to the OpenAPI document."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from cartpath.projections.runner import Runner
from tests.e2e.test_api_schemathesis import CHECKS
from tests.support.http import Http, assert_problem, catch_up, make_http

REPORTS = [
    ("GET", "/api/v1/pathways/{pathway_id}/timeline"),
    ("GET", "/api/v1/pathways/{pathway_id}/custody"),
    ("GET", "/api/v1/reports/worklists"),
    ("GET", "/api/v1/reports/kpis"),
    ("GET", "/api/v1/reports/capacity"),
    ("GET", "/api/v1/reports/manufacturers"),
    ("GET", "/api/v1/reports/process-nodes"),
    ("GET", "/api/v1/audit/events"),
    ("GET", "/api/v1/pathways/{pathway_id}/audit"),
]


@pytest.fixture
def http(tmp_path) -> Http:
    return make_http(tmp_path, CARTPATH_REPORT_WAIT_SECONDS=0.2)


def test_reports_answer_503_until_a_runner_has_started(http):
    body = assert_problem(http.call("GET", "/reports/kpis", http.headers("auditor", centers=())), 503,
                          type_part="projections-unavailable")
    assert "cartpath projections run" in body["detail"]


def test_read_your_writes_with_min_position(http):
    Runner(http.engine).prepare()
    nurse = http.headers("coordination", sub="nurse-1")
    started = http.call("POST", "/pathways", nurse, json={"patient_ref": "P-1", "center": "FR-01", "indication": "MM",
                                                          "product": "cilta-cel", "process_key": "mini_mfr"})
    position = int(started.headers["X-Cartpath-Position"])
    not_yet = http.call("GET", f"/reports/worklists?min_position={position}", nurse)
    body = assert_problem(not_yet, 409, type_part="not-yet")
    assert (body["min_position"], body["position"]) == (position, 0) and not_yet.headers["Retry-After"] == "1"
    catch_up(http)
    ready = http.call("GET", f"/reports/worklists?min_position={position}&lane=coordination", nurse)
    assert ready.status_code == 200
    answer = ready.get_json()
    assert answer["position"] >= position and int(ready.headers["X-Cartpath-Position"]) == answer["position"]
    [task] = answer["tasks"]
    assert task["name"] == "intake" and task["pathway_id"] == started.get_json()["id"]
    assert task["id"] == started.get_json()["tasks"][0]["id"]  # the same public task id as the write side


def test_users_see_only_their_centres(http):
    fr1 = http.to_check("P-1", "ORD-1", "COI-1", center="FR-01")
    http.start("P-2", center="FR-02")
    catch_up(http)
    nurse2 = http.headers("coordination", centers=("FR-02",))
    assert [t["patient_ref"] for t in http.call("GET", "/reports/worklists", nurse2).get_json()["tasks"]] == ["P-2"]
    assert_problem(http.call("GET", f"/pathways/{fr1['id']}/timeline", nurse2), 404)
    assert_problem(http.call("GET", f"/pathways/{fr1['id']}/custody", nurse2), 404)
    assert_problem(http.call("GET", "/reports/kpis?center=FR-01", nurse2), 403)
    assert http.call("GET", "/reports/kpis", nurse2).get_json()["pathways"] == 1
    assert http.call("GET", "/reports/manufacturers", nurse2).get_json()["manufacturers"] == []
    auditor = http.headers("auditor", centers=())
    assert http.call("GET", "/reports/kpis", auditor).get_json()["pathways"] == 2
    timeline = http.call("GET", f"/pathways/{fr1['id']}/timeline", auditor).get_json()
    assert [s["name"] for s in timeline["steps"] if s["kind"] == "message_in"] == ["slot_confirmed"]
    assert http.call("GET", "/reports/manufacturers", auditor).get_json()["manufacturers"][0]["manufacturer"] == "ACME"
    acme = http.headers("manufacturer", centers=(), org="ACME")
    assert_problem(http.call("GET", "/reports/manufacturers", acme), 403)
    assert_problem(http.call("GET", "/reports/kpis"), 401)


@pytest.mark.parametrize("query, field", [("from=yesterday", "from"), ("to=2026-13-01", "to"), ("weeks=0", "weeks"),
                                          ("min_position=-1", "min_position")])
def test_bad_report_queries_are_problems(http, query, field):
    Runner(http.engine).prepare()
    path = "/reports/capacity" if field == "weeks" else "/reports/kpis"
    body = assert_problem(http.call("GET", f"{path}?{query}", http.headers("auditor", centers=())), 422)
    assert field in body["errors"]


def test_report_answers_match_the_document(http):
    p = http.to_check("P-1", "ORD-1", "COI-1")
    catch_up(http)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", http.client.application)
    auditor = http.headers("auditor", centers=())
    for method, template in REPORTS:
        path = template.removeprefix("/api/v1").replace("{pathway_id}", p["id"])
        path += "?key=mini_mfr" if path.endswith("process-nodes") else ""  # its one required parameter
        response = http.call(method, path, auditor)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        schema[template][method].Case().validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("method, path", REPORTS, ids=[p for _, p in REPORTS])
def test_every_report_operation_conforms_to_the_document(tmp_path, method, path):
    http = make_http(tmp_path, CARTPATH_REPORT_WAIT_SECONDS=0.05)
    http.to_check("P-1", "ORD-1", "COI-1")
    catch_up(http)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", http.client.application)
    admin = http.headers("admin", centers=())

    @given(case=schema[path][method].as_strategy())
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def conforms(case):
        case.call_and_validate(headers=admin, checks=CHECKS)
    conforms()
