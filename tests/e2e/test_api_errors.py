"""Every refusal status of the API, as an RFC 7807 problem, with nothing recorded."""
from __future__ import annotations

import time

import jwt
import pytest

from cartpath.api import create_app
from cartpath.engine.application import CartPath
from tests.support.http import MINI_MFR, SECRET, Http, assert_problem, http, make_http  # noqa: F401
from tests.support.store import store_env

START = {"patient_ref": "P-1", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
         "process_key": "mini_mfr"}


def unchanged(http: Http, before: int) -> None:
    assert http.position() == before, "a refused request recorded something"


def test_400_malformed_json_and_if_match(http: Http):
    before = http.position()
    r = http.call("POST", "/pathways", http.headers("coordination"), data=b'{"patient_ref": ',
                  content_type="application/json")
    body = assert_problem(r, 400, type_part="malformed-request")
    assert "JSON" in body["detail"]
    p = http.start()
    before = http.position()
    r = http.call("POST", f"/tasks/{http.task(p, 'intake')['id']}/complete", http.headers("coordination"),
                  headers={"If-Match": "yesterday"}, json={"data": {"ok": False, "order_id": "X", "manufacturer": "A"}})
    assert "If-Match" in assert_problem(r, 400)["detail"]
    unchanged(http, before)


@pytest.mark.parametrize("token, why", [
    (None, "send a bearer token"),
    (jwt.encode({"sub": "x", "roles": ["admin"], "exp": int(time.time()) + 3600}, "another-secret-" + "y" * 40,
                algorithm="HS256"), "not valid"),
    (jwt.encode({"sub": "x", "roles": ["admin"], "exp": int(time.time()) - 3600}, SECRET, algorithm="HS256"),
     "expired"),
    (jwt.encode({"sub": "x", "roles": ["admin"]}, SECRET, algorithm="HS256"), "not valid"),
    (jwt.encode({"sub": "x", "roles": "admin", "exp": int(time.time()) + 3600}, SECRET,
                algorithm="HS256"), "malformed"),
    (jwt.encode({"sub": "x", "roles": ["admin"], "exp": int(time.time()) + 3600}, "", algorithm="none"), "not valid"),
], ids=["missing", "wrong-key", "expired", "no-exp", "bad-claims", "alg-none"])
def test_401_without_a_valid_token(http: Http, token, why):
    before = http.position()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = http.call("POST", "/pathways", headers, json=START)
    body = assert_problem(r, 401, type_part="unauthenticated")
    assert why in body["detail"] and r.headers["WWW-Authenticate"].startswith("Bearer")
    unchanged(http, before)


def test_403_names_the_roles_needed(http: Http):
    before = http.position()
    r = http.call("POST", "/pathways", http.headers("pharmacy"), json=START)
    assert "coordination" in assert_problem(r, 403, type_part="forbidden")["detail"]
    r = http.call("POST", "/pathways", http.headers("coordination", centers=("FR-02",)), json=START)
    assert "FR-01" in assert_problem(r, 403)["detail"]
    unchanged(http, before)


def test_404_for_unknown_things(http: Http):
    reader = http.headers("coordination")
    for path in ("/pathways/4b0e8f0e-3f7e-4a51-9b55-1f1f1f1f1f1f", "/pathways/not-a-uuid", "/pathways/x/history",
                 "/tasks/not-a-task",
                 "/tasks/4b0e8f0e-3f7e-4a51-9b55-1f1f1f1f1f1f:4b0e8f0e-3f7e-4a51-9b55-1f1f1f1f1f1f",
                 "/process-definitions/nope/versions/1/bpmn", "/process-definitions/mini_mfr/versions/1/files/x.dmn",
                 "/no-such-resource"):
        assert_problem(http.call("GET", path, reader), 404)
    before = http.position()
    assert_problem(http.call("POST", "/tasks/nope/complete", reader, json={"data": {}}), 404)
    assert_problem(http.call("POST", "/pathways/4b0e8f0e-3f7e-4a51-9b55-1f1f1f1f1f1f/cancel", reader,
                             json={"reason": "other"}), 404, type_part="unknown-pathway")
    unchanged(http, before)
    r = http.call("DELETE", "/pathways", reader)
    assert_problem(r, 405) and "GET" in r.headers["Allow"]


def test_409_task_not_ready_and_stale_version(http: Http):
    p = http.start()
    task = http.task(p, "intake")
    http.intake(p)
    before = http.position()
    r = http.call("POST", f"/tasks/{task['id']}/complete", http.headers("coordination"),
                  json={"data": {"ok": True, "order_id": "ORD-9", "manufacturer": "ACME"}})
    assert "not ready" in assert_problem(r, 409, type_part="task-not-ready")["detail"]
    r = http.call("POST", f"/pathways/{p['id']}/cancel", http.headers("coordination"), headers={"If-Match": '"3"'},
                  json={"reason": "other"})
    assert_problem(r, 409, type_part="concurrent-update")
    unchanged(http, before)
    assert_problem(http.call("GET", f"/tasks/{task['id']}", http.headers("coordination")), 404)


def test_409_timers_on_a_real_clock(tmp_path):
    env = store_env(tmp_path) | {"CARTPATH_CLOCK": "system"}
    engine = CartPath(env=env)
    engine.deploy({"mini_mfr.bpmn": MINI_MFR})
    app = create_app({"DEPLOY_BUNDLED": False, "CARTPATH_JWT_SECRET": SECRET}, cartpath=engine)
    http = Http(app.test_client(), engine)
    before = http.position()
    r = http.fire()
    body = assert_problem(r, 409, type_part="clock-not-manual")
    assert "system clock" in body["detail"]
    unchanged(http, before)


def test_413_body_over_the_configured_limit(tmp_path):
    http = make_http(tmp_path, CARTPATH_MAX_BODY_BYTES=2048)
    before = http.position()
    r = http.call("POST", "/pathways", http.headers("coordination"), json=START | {"business_key": "k" * 4000})
    assert "2048" in assert_problem(r, 413, type_part="body-too-large")["detail"]
    r = http.call("POST", "/process-definitions", http.headers("process_owner"),
                  data={"files": [(__import__("io").BytesIO(MINI_MFR), "big.bpmn")]},
                  content_type="multipart/form-data")
    assert_problem(r, 413)
    unchanged(http, before)


def test_415_wrong_media_types(http: Http):
    before = http.position()
    r = http.call("POST", "/pathways", http.headers("coordination"), data="patient_ref=P-1", content_type="text/plain")
    assert "application/json" in assert_problem(r, 415, type_part="unsupported-media-type")["detail"]
    r = http.call("POST", "/process-definitions", http.headers("process_owner"), json={"files": ["x.bpmn"]})
    assert "multipart" in assert_problem(r, 415)["detail"]
    unchanged(http, before)


def test_422_validation_lists_fields(http: Http):
    before = http.position()
    r = http.call("POST", "/pathways", http.headers("coordination"),
                  json={"patient_ref": "P-1", "center": "FR-01", "colour": "red"})
    body = assert_problem(r, 422, type_part="validation-failed")
    assert set(body["errors"]) == {"indication", "product", "colour"}
    r = http.call("POST", "/pathways", http.headers("coordination"), json=START | {"process_key": "unknown"})
    assert "process_key" in assert_problem(r, 422)["errors"]
    r = http.call("POST", "/messages", http.headers("manufacturer", org="ACME"),
                  json={"name": "slot_confirmed", "message_id": "m1", "correlation": {"coi": 5}, "payload": {}})
    assert set(assert_problem(r, 422)["errors"]) == {"correlation.order_id", "correlation.coi"}
    r = http.call("GET", "/pathways?limit=0", http.headers("coordination"))
    assert "limit" in assert_problem(r, 422)["errors"]
    r = http.call("POST", "/pathways", http.headers("coordination"), json=[START])
    assert_problem(r, 422)
    unchanged(http, before)


def test_422_refusals_of_the_domain(http: Http):
    p = http.start()
    before = http.position()
    r = http.call("POST", f"/tasks/{http.task(p, 'intake')['id']}/complete", http.headers("coordination"),
                  json={"data": {"ok": "yes", "manufacturer": "ACME"}})
    assert set(assert_problem(r, 422, type_part="invalid-task-data")["errors"]) == {"ok", "order_id"}
    r = http.call("POST", f"/pathways/{p['id']}/cancel", http.headers("coordination"), json={"reason": "boredom"})
    assert "reason" in assert_problem(r, 422)["errors"]
    unchanged(http, before)
    checked = http.to_check("P-2", "ORD-2", "COI-2")
    before = http.position()
    r = http.call("POST", f"/tasks/{http.task(checked, 'check')['id']}/complete", http.headers("pharmacy"),
                  json={"data": {"coi_scanned": "COI-WRONG", "n": 1}})
    body = assert_problem(r, 422, type_part="coi-mismatch")
    assert body["expected"] == "COI-2" and body["scanned"] == "COI-WRONG"
    r = http.slot("ORD-UNKNOWN", "COI-9")
    assert_problem(r, 422, type_part="message-not-correlated")
    unchanged(http, before)


def test_a_failing_process_model_records_the_message_and_an_incident_free_of_patient_data(tmp_path, caplog):
    """The manufacturer's message is a true fact: it is recorded; the step it led to failed, so the
    pathway stops with an incident (no 500, no data values in the answer, the log or the event)."""
    http = make_http(tmp_path)
    broken = MINI_MFR.replace(b"mini_mfr", b"mini_boom").replace(b"count = 1", b"count = 1 // (len(coi) - len(coi))")
    http.engine.deploy({"mini_boom.bpmn": broken})
    p = http.intake(http.start("P-SECRET-7", process_key="mini_boom"), "ORD-B")
    r = http.slot("ORD-B", "COI-B")
    assert r.status_code == 200, r.get_data(as_text=True)
    incident = r.get_json()["incident"]
    assert incident["node"] == "count" and incident["error_class"] == "ScriptFailed"
    assert "P-SECRET" not in r.get_data(as_text=True) and "P-SECRET" not in caplog.text
    shown = http.pathway(p["id"])
    assert shown["status"] == "incident" and shown["incident"]["incident_id"] == incident["incident_id"]
    assert shown["data"]["slot_confirmed"]["coi"] == "COI-B"  # the message is recorded
    events = http.call("GET", f"/pathways/{p['id']}/history", http.headers("coordination")).get_json()["items"]
    raised = [e for e in events if e["type"] == "IncidentRaised"]
    assert len(raised) == 1 and "COI-B" not in str(raised) and "P-SECRET" not in str(raised)


def test_a_crash_is_logged_without_its_message(tmp_path, caplog):
    """Exception messages can quote request data (a patient reference): the log keeps type and stack."""
    import sys
    app = make_http(tmp_path).client.application
    with app.test_request_context("/api/v1/pathways", method="POST"):
        patient_ref = "-".join(("P", "SECRET", "42"))
        try:
            {}[patient_ref]
        except KeyError:
            app.log_exception(sys.exc_info())
    assert "KeyError" in caplog.text and "POST /api/v1/pathways" in caplog.text
    assert "P-SECRET" not in caplog.text
