"""The newcomer's rough edges over HTTP: filters refused alike everywhere, min_position beyond the
log, the way to the docs, timers with a title, order_id/coi repeated in a message's payload."""
from __future__ import annotations

import shutil

import pytest

from cartpath.engine.application import CartPath
from cartpath.projections.reports import Reports
from cartpath.projections.runner import Runner
from cartpath.projections.store import ViewStore
from tests.integration.test_old_stores import STORE
from tests.support.http import MINI_MFR, Http, assert_problem, catch_up, make_http


@pytest.fixture
def http(tmp_path) -> Http:
    made = make_http(tmp_path, CARTPATH_REPORT_WAIT_SECONDS=0.2)
    Runner(made.engine).prepare()
    return made


@pytest.mark.parametrize("path, field, allowed", [
    ("/pathways?status=paused", "status", ["active", "ended"]),
    ("/pathways?outcome=won", "outcome", ["not_eligible", "declined", "follow_up_handover"]),
    ("/tasks?lane=nursing", "lane", ["coordination", "pharmacy", "icu"]),
    ("/reports/worklists?lane=nursing", "lane", ["coordination", "pharmacy", "icu"]),
])
def test_unknown_filter_values_are_422_naming_the_allowed_ones(http, path, field, allowed):
    body = assert_problem(http.call("GET", path, http.headers("auditor", centers=())), 422,
                          type_part="validation-failed")
    [message] = body["errors"][field]
    assert message.startswith("Must be one of: ")
    for value in allowed:
        assert value in message


def test_a_known_lane_filters(http):
    http.start()
    coordination = http.call("GET", "/tasks?lane=coordination", http.headers("auditor", centers=())).get_json()
    pharmacy = http.call("GET", "/tasks?lane=pharmacy", http.headers("auditor", centers=())).get_json()
    assert [t["name"] for t in coordination["items"]] == ["intake"] and pharmacy["items"] == []


def test_min_position_beyond_the_log_is_422_not_retry(http):
    head = http.position()
    auditor = http.headers("auditor", centers=())
    body = assert_problem(http.call("GET", f"/reports/kpis?min_position={head + 1}", auditor), 422,
                          type_part="validation-failed")
    assert f"({head})" in body["detail"] and "min_position" in body["errors"]
    catch_up(http)
    assert http.call("GET", f"/reports/kpis?min_position={head}", auditor).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/"])
def test_the_api_root_leads_to_the_docs(http, path):
    r = http.client.get(path)
    assert r.status_code == 302 and r.headers["Location"].endswith("/api/v1/docs")
    assert http.client.get(r.headers["Location"]).status_code == 200


def _timer_step(http: Http, pathway_id: str) -> dict:
    catch_up(http)
    timeline = http.call("GET", f"/pathways/{pathway_id}/timeline", http.headers("auditor", centers=())).get_json()
    [timer] = [s for s in timeline["steps"] if s["kind"] == "timer"]
    return timer


def test_timers_carry_the_bpmn_events_name_as_title(http):
    p = http.intake(http.start())
    assert http.slot().status_code == 200
    [timer] = [w for w in http.pathway(p["id"])["waiting"] if w["kind"] == "timer"]
    assert timer["title"] == "Wait Day" and timer["due_at"]
    step = _timer_step(http, p["id"])
    assert (step["name"], step["title"]) == ("wait_day", "Wait Day")
    armed = [e for e in http.call("GET", f"/pathways/{p['id']}/history", http.headers("auditor", centers=()))
             .get_json()["items"] if e["type"] == "TimerArmed"]
    assert armed[0]["data"]["title"] == "Wait Day"  # recorded: readers never parse BPMN


def test_a_timers_documentation_is_its_title(http):
    documented = MINI_MFR.replace(b"mini_mfr", b"mini_doc").replace(
        b'name="Wait Day">', b'name="Wait Day"><bpmn:documentation>5 days without an answer</bpmn:documentation>')
    http.engine.deploy({"mini_doc.bpmn": documented})
    p = http.intake(http.start(process_key="mini_doc"))
    assert http.slot().status_code == 200
    [timer] = [w for w in http.pathway(p["id"])["waiting"] if w["kind"] == "timer"]
    assert timer["title"] == "5 days without an answer"
    assert _timer_step(http, p["id"])["title"] == "5 days without an answer"


def test_timers_recorded_before_titles_show_their_node_id(tmp_path):
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(STORE, copy)
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
                        "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"})
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    reports = Reports(ViewStore.for_app(app))
    timers = [s for pid in app.pathway_ids() for s in reports.timeline(str(pid), now=app.clock.now())["steps"]
              if s["kind"] == "timer"]
    assert timers and all(s["title"] == "Timer: " + s["name"].replace("_", " ") for s in timers)
    assert all(app.verify(pid)["ok"] for pid in app.pathway_ids())  # re-executing now gives titles: not a divergence


def _message(http: Http, payload_extra: dict, order_id: str = "ORD-1", coi: str = "COI-1"):
    body = {"name": "slot_confirmed", "message_id": "m-1", "correlation": {"order_id": order_id, "coi": coi},
            "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1", **payload_extra}}
    return http.call("POST", "/messages", http.headers("manufacturer", centers=(), org="ACME"), json=body)


def test_a_payload_may_repeat_the_correlation(http):
    p = http.intake(http.start())
    r = _message(http, {"order_id": "ORD-1", "coi": "COI-1"})
    assert r.status_code == 200 and r.get_json()["accepted"] is True, r.get_json()
    assert http.engine.get_pathway(p["id"]).coi == "COI-1"


@pytest.mark.parametrize("extra, field", [({"order_id": "ORD-2"}, "payload.order_id"),
                                          ({"coi": "COI-9"}, "payload.coi")])
def test_a_payload_that_contradicts_the_correlation_is_refused(http, extra, field):
    p = http.intake(http.start())
    before = http.position()
    body = assert_problem(_message(http, extra), 422)
    assert field in body["errors"], body
    assert http.position() == before and http.engine.get_pathway(p["id"]).coi is None  # nothing recorded


def test_an_api_on_a_store_of_the_other_clock_answers_503_naming_it(tmp_path, monkeypatch):
    """`cartpath serve` refuses to start; a WSGI server started by other means answers every request so."""
    from cartpath.api import create_app
    from cartpath.engine.config import open_app
    from tests.support.http import SECRET
    from tests.support.store import store_env
    env = store_env(tmp_path)
    open_app(env, writes=True).close()  # the store is recorded as a manual-clock store
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CARTPATH_CLOCK")  # the server runs on the system clock
    client = create_app({"DEPLOY_BUNDLED": False, "CARTPATH_JWT_SECRET": SECRET}).test_client()
    for path in ("/api/v1/health", "/api/v1/pathways"):
        body = assert_problem(client.get(path), 503, type_part="clock-mismatch")
        assert "CARTPATH_CLOCK" in body["detail"] and "manual clock" in body["detail"]
