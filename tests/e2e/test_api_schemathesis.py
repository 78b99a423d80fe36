"""Property-based conformance: schemathesis generates requests from /api/v1/openapi.json and sends
them in-process (WSGI) to an app on a real SQLite store holding a few pathways. No response may be
a 5xx, and every response must match what the document says (status, media type, schema, headers).
Examples are bounded (hypothesis max_examples) to keep the suite quick on two cores.

(schemathesis' own lazy pytest fixture does not run under pytest 9, so each operation gets a
hypothesis test here; a separate test checks that the list covers the whole document.)"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.http import Http, make_http

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
MINE = [
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/process-definitions"),
    ("POST", "/api/v1/process-definitions"),
    ("GET", "/api/v1/process-definitions/{key}/versions/{version}"),
    ("GET", "/api/v1/process-definitions/{key}/versions/{version}/bpmn"),
    ("GET", "/api/v1/process-definitions/{key}/versions/{version}/files/{name}"),
    ("GET", "/api/v1/process-definitions/{key}/versions/{version}/diff"),
    ("POST", "/api/v1/pathways"),
    ("GET", "/api/v1/pathways"),
    ("GET", "/api/v1/pathways/{pathway_id}"),
    ("POST", "/api/v1/pathways/{pathway_id}/cancel"),
    ("GET", "/api/v1/pathways/{pathway_id}/history"),
    ("POST", "/api/v1/pathways/{pathway_id}/verify"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/{task_id}"),
    ("POST", "/api/v1/tasks/{task_id}/complete"),
    ("POST", "/api/v1/messages"),
    ("GET", "/api/v1/outbox"),
    ("GET", "/api/v1/events"),
    ("POST", "/api/v1/timers/fire"),
]


OPERATIONS = MINE  # the report endpoints (projections) have their own run in test_projections_api.py


def seeded(tmp_path) -> Http:
    http = make_http(tmp_path)
    http.to_check("P-1", "ORD-1", "COI-1")        # a pathway with a ready pharmacy task
    http.intake(http.start("P-2"), "ORD-2")        # one waiting for its slot
    http.start("P-3")                              # one at intake
    return http


def test_the_document_has_every_operation_of_the_issue(tmp_path):
    spec = make_http(tmp_path).client.get("/api/v1/openapi.json").get_json()
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    assert set(MINE) <= documented


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_conforms_to_the_openapi_document(tmp_path, method, path):
    http = seeded(tmp_path)
    admin = http.headers("admin", centers=())
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", http.client.application)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def conforms(case):
        case.call_and_validate(headers=admin, checks=CHECKS)
    conforms()


def test_successful_answers_of_every_operation_match_the_document(tmp_path):
    """Generated requests mostly meet refusals (random ids); these are the answers with data in them."""
    import io

    from tests.support.http import MINI_MFR
    http = seeded(tmp_path)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", http.client.application)
    admin = http.headers("admin", centers=())
    checked = set()

    def check(method: str, template: str, response, status: int = 200):
        assert response.status_code == status, response.get_data(as_text=True)[:300]
        schema[template][method].Case().validate_response(response, checks=CHECKS)
        checked.add((method, template))
        return response.get_json(silent=True)

    def call(method, template, path=None, status=200, **kw):
        return check(method, template, http.call(method, path or template.removeprefix("/api/v1"), admin, **kw), status)

    [p1, p2, p3] = [p["id"] for p in call("GET", "/api/v1/pathways")["items"]]
    call("GET", "/api/v1/health")
    call("GET", "/api/v1/process-definitions")
    call("POST", "/api/v1/process-definitions", status=201, content_type="multipart/form-data",
         data={"files": [(io.BytesIO(MINI_MFR.replace(b"mini_mfr", b"mini_new")), "mini_new.bpmn")]})
    call("GET", "/api/v1/process-definitions/{key}/versions/{version}", "/process-definitions/mini_new/versions/1")
    call("GET", "/api/v1/process-definitions/{key}/versions/{version}/bpmn",
         "/process-definitions/mini_new/versions/1/bpmn")
    call("GET", "/api/v1/process-definitions/{key}/versions/{version}/files/{name}",
         "/process-definitions/mini_new/versions/1/files/mini_new.bpmn")
    call("POST", "/api/v1/process-definitions", status=201, content_type="multipart/form-data",
         data={"files": [(io.BytesIO(MINI_MFR.replace(b"mini_mfr", b"mini_new").replace(b'label="Note"',
                                                                                          b'label="Remark"')),
                          "mini_new.bpmn")]})
    diffed = call("GET", "/api/v1/process-definitions/{key}/versions/{version}/diff",
                  "/process-definitions/mini_new/versions/1/diff?against=2")
    assert diffed["summary"]["form_changes"] == 1
    call("POST", "/api/v1/pathways", status=201, json={"patient_ref": "P-4", "center": "FR-01", "indication": "MM",
                                                       "product": "cilta-cel", "process_key": "mini_new"})
    call("GET", "/api/v1/pathways/{pathway_id}", f"/pathways/{p1}")
    tasks = call("GET", "/api/v1/tasks")["items"]
    [check_task] = [t for t in tasks if t["name"] == "check"]
    call("GET", "/api/v1/tasks/{task_id}", f"/tasks/{check_task['id']}")
    call("POST", "/api/v1/tasks/{task_id}/complete", f"/tasks/{check_task['id']}/complete",
         json={"data": {"coi_scanned": "COI-1", "n": 0}})
    call("POST", "/api/v1/messages", json={"name": "slot_confirmed", "message_id": "m-9",
                                           "correlation": {"order_id": "ORD-2", "coi": "COI-2"},
                                           "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": "S"}})
    call("POST", "/api/v1/pathways/{pathway_id}/cancel", f"/pathways/{p3}/cancel", json={"reason": "other"})
    call("GET", "/api/v1/pathways/{pathway_id}/history", f"/pathways/{p2}/history")
    call("POST", "/api/v1/pathways/{pathway_id}/verify", f"/pathways/{p1}/verify")
    call("GET", "/api/v1/outbox")
    call("GET", "/api/v1/events")
    assert call("POST", "/api/v1/timers/fire", json={"now": "2026-04-01T00:00:00Z"})["fired"] == 1
    assert checked == set(MINE)
