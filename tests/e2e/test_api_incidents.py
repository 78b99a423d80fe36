"""Incidents over HTTP: a step that fails stops its own pathway only, is listed, and is retried.

The incident model (tests/fixtures/incident_pathway.bpmn) waits an hour after ``dose``, then
computes ``100 // dose["divisor"]``: a divisor of 0 fails right after the timer, the way an
honest model bug does. It runs beside the bundled CAR-T pathway and the mini pathway.
"""
from __future__ import annotations

import io
from datetime import timedelta

from tests.support.http import Http, assert_problem, make_http
from tests.support.store import FIXTURES, T0

INCIDENT = (FIXTURES / "incident_pathway.bpmn").read_bytes()
CYCLE = (FIXTURES / "cycle_pathway.bpmn").read_bytes()
# the same model without the wait: completing `dose` runs the failing script at once
NO_WAIT = (INCIDENT.replace(b"incident_pathway", b"incident_now")
           .replace(b'<bpmn:intermediateCatchEvent id="wait_hour" name="Wait Hour">',
                    b'<bpmn:intermediateThrowEvent id="wait_hour" name="Wait Hour">')
           .replace(b'<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration>'
                    b'</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>', b'</bpmn:intermediateThrowEvent>'))
assert NO_WAIT.count(b"intermediateThrowEvent") == 2


def incident_http(tmp_path) -> Http:
    http = make_http(tmp_path)
    http.engine.deploy_bundled()
    http.engine.deploy({"incident_pathway.bpmn": INCIDENT})
    return http


def complete(http: Http, pathway: dict, name: str, data: dict, lane: str) -> dict:
    task = http.task(pathway, name)
    r = http.call("POST", f"/tasks/{task['id']}/complete", http.headers(lane, centers=(pathway["center"],)),
                  json={"data": data})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def dosed(http: Http, patient_ref: str, divisor: int, center: str = "FR-01", process_key: str = "incident_pathway"):
    p = http.start(patient_ref, center, process_key=process_key)
    return complete(http, p, "dose", {"divisor": divisor}, "ward")


def cart_waiting_for_slot(http: Http) -> dict:
    p = http.start("PSN-CART-1", process_key="cart_pathway")
    p = complete(http, p, "rcp_eligibility", {"eligible": True, "rcp_date": T0.date().isoformat()}, "hematology")
    p = complete(http, p, "patient_consent", {"consent_signed": True}, "coordination")
    p = complete(http, p, "place_order", {"order_id": "ORD-CART-1", "manufacturer": "ACME",
                                          "requested_apheresis_date": (T0 + timedelta(days=14)).date().isoformat()},
                 "pharmacy")
    assert {w["kind"] for w in p["waiting"]} == {"message", "timer"}, p["waiting"]
    return p


def events_of(http: Http, pathway_id: str) -> list[dict]:
    return http.call("GET", f"/pathways/{pathway_id}/history", http.headers("auditor", centers=())).get_json()["items"]


def retry(http: Http, pathway_id: str, incident_id: str, data: dict | None = None, who: dict | None = None):
    return http.call("POST", f"/pathways/{pathway_id}/incidents/{incident_id}/retry",
                     who or http.headers("process_owner", centers=("FR-01",)), json={"data": data} if data else {})


def test_a_step_failing_after_a_timer_stops_its_pathway_only_and_is_retried_after_a_correction(tmp_path, caplog):
    http = incident_http(tmp_path)
    cart = cart_waiting_for_slot(http)
    mini = http.intake(http.start("PSN-MINI-1"), "ORD-MINI-1")
    assert http.slot("ORD-MINI-1", "COI-MINI-1").status_code == 200
    bad = dosed(http, "PSN-BAD-1", 0)
    good = dosed(http, "PSN-GOOD-1", 5)

    r = http.fire((T0 + timedelta(days=6)).isoformat())
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    [incident] = body["incidents"]
    assert incident["pathway_id"] == bad["id"] and incident["node"] == "compute"
    assert incident["error_class"] == "ScriptFailed" and "ZeroDivisionError" in incident["message"]
    assert body["fired"] >= 4  # CAR-T's chase timer, the mini check timer, both incident models' waits
    assert "PSN-BAD-1" not in caplog.text and bad["id"] in caplog.text and incident["incident_id"] in caplog.text

    # every other pathway moved in the same round, and its commands work
    assert "chase_slot" in [t["name"] for t in http.pathway(cart["id"])["tasks"]]
    complete(http, http.pathway(cart["id"]), "chase_slot", {"contacted_at": (T0 + timedelta(days=6)).isoformat()},
             "coordination")
    assert [t["name"] for t in http.pathway(good["id"])["tasks"]] == ["review"]
    assert [t["name"] for t in http.pathway(mini["id"])["tasks"]] == ["check"]

    # the failing pathway shows its incident; nothing it was given is lost
    shown = http.pathway(bad["id"])
    assert shown["status"] == "incident" and shown["incident"]["incident_id"] == incident["incident_id"]
    assert shown["data"]["dose"] == {"divisor": 0} and shown["tasks"] == []
    kinds = [e["type"] for e in events_of(http, bad["id"])]
    assert kinds[-3:] == ["NodeCompleted", "WaitEnded", "IncidentRaised"] and "TimersFired" in kinds
    listed = http.call("GET", "/incidents", http.headers("auditor", centers=())).get_json()["items"]
    assert [i["pathway_id"] for i in listed] == [bad["id"]]

    # a later round leaves the stopped pathway alone (no 500, nothing recorded on it)
    before = len(events_of(http, bad["id"]))
    assert http.fire((T0 + timedelta(days=7)).isoformat()).get_json()["incidents"] == []
    assert len(events_of(http, bad["id"])) == before

    # the same data fails again: a new incident, the old one is closed
    again = retry(http, bad["id"], incident["incident_id"], {"dose": {"divisor": 0}})
    assert again.status_code == 200, again.get_json()
    second = again.get_json()["incident"]
    assert second is not None and second["incident_id"] != incident["incident_id"]
    assert_problem(retry(http, bad["id"], incident["incident_id"]), 409, type_part="incident-closed")
    assert_problem(retry(http, bad["id"], "no-such-incident"), 404, type_part="unknown-incident")

    fixed = retry(http, bad["id"], second["incident_id"], {"dose": {"divisor": 4}})
    assert fixed.status_code == 200 and fixed.get_json()["incident"] is None
    assert fixed.get_json()["status"] == "active"
    assert [t["name"] for t in fixed.get_json()["tasks"]] == ["review"]
    assert http.call("GET", "/incidents", http.headers("admin", centers=())).get_json()["items"] == []
    kinds = [e["type"] for e in events_of(http, bad["id"])]
    assert kinds[-4:] == ["IncidentRetried", "IncidentResolved", "NodeCompleted", "TaskBecameReady"]
    ended = complete(http, http.pathway(bad["id"]), "review", {"ok": True}, "ward")
    assert ended["status"] == "ended"
    for pathway in (bad, good, cart, mini):
        verified = http.call("POST", f"/pathways/{pathway['id']}/verify", http.headers("auditor", centers=()))
        assert verified.get_json()["ok"] is True, verified.get_json()


def test_a_completion_whose_next_step_fails_is_recorded_and_answered_with_the_incident(tmp_path):
    http = make_http(tmp_path)
    http.engine.deploy({"incident_now.bpmn": NO_WAIT})
    p = http.start("PSN-NOW-1", process_key="incident_now")
    done = complete(http, p, "dose", {"divisor": 0}, "ward")
    assert done["status"] == "incident" and done["incident"]["node"] == "compute"
    assert done["data"]["dose"] == {"divisor": 0}  # what the user gave is recorded
    r = http.call("POST", f"/tasks/{http.task(p, 'dose')['id']}/complete", http.headers("ward"),
                  json={"data": {"divisor": 3}})
    assert_problem(r, 409)
    assert_problem(http.call("POST", f"/pathways/{p['id']}/incidents/{done['incident']['incident_id']}/retry",
                             http.headers("coordination"), json={}), 403)
    fixed = retry(http, p["id"], done["incident"]["incident_id"], {"dose": {"divisor": 3}})
    assert fixed.get_json()["incident"] is None and [t["name"] for t in fixed.get_json()["tasks"]] == ["review"]
    assert http.call("POST", f"/pathways/{p['id']}/verify", http.headers("auditor")).get_json()["ok"] is True


def test_incidents_are_listed_for_admins_process_owners_and_auditors_of_the_right_centres(tmp_path):
    http = make_http(tmp_path)
    http.engine.deploy({"incident_now.bpmn": NO_WAIT})
    here = dosed(http, "PSN-FR1-1", 0, "FR-01", "incident_now")
    there = dosed(http, "PSN-FR2-1", 0, "FR-02", "incident_now")
    dosed(http, "PSN-FR2-2", 7, "FR-02", "incident_now")  # no incident: not listed

    def listed(who: dict, query: str = "") -> list[str]:
        r = http.call("GET", f"/incidents{query}", who)
        assert r.status_code == 200, r.get_json()
        return [i["pathway_id"] for i in r.get_json()["items"]]
    assert listed(http.headers("auditor", centers=())) == [here["id"], there["id"]]
    assert listed(http.headers("admin", centers=())) == [here["id"], there["id"]]
    assert listed(http.headers("process_owner", centers=("FR-01",))) == [here["id"]]
    assert listed(http.headers("process_owner", centers=("FR-01",)), "?center=FR-02") == []
    assert listed(http.headers("auditor", centers=()), "?center=FR-02") == [there["id"]]
    assert listed(http.headers("auditor", centers=()), "?key=incident_now&limit=1") == [here["id"]]
    assert listed(http.headers("auditor", centers=()), "?key=cart_pathway") == []
    item = http.call("GET", "/incidents", http.headers("auditor", centers=())).get_json()["items"][0]
    assert {"incident_id", "node", "error_class", "message", "at", "center", "definition"} <= set(item)
    for lane in ("coordination", "ward", "manufacturer"):
        assert_problem(http.call("GET", "/incidents", http.headers(lane)), 403)
    incident_id = there["incident"]["incident_id"]
    # another centre's pathway does not exist for a process owner of FR-01
    assert_problem(retry(http, there["id"], incident_id), 404)
    assert retry(http, there["id"], incident_id, {"dose": {"divisor": 1}},
                 http.headers("process_owner", centers=("FR-02",))).get_json()["incident"] is None
    # cancelling a stopped pathway ends it, and closes its incident
    cancelled = http.call("POST", f"/pathways/{here['id']}/cancel", http.headers("coordination"),
                          json={"reason": "physician_decision"})
    assert cancelled.status_code == 200 and cancelled.get_json()["incident"] is None
    assert listed(http.headers("auditor", centers=())) == []


def test_a_refused_firing_never_moves_the_manual_clock(tmp_path):
    http = make_http(tmp_path)
    clock = http.engine.clock.now()
    before = http.position()
    for now in ("1969-12-31T23:59:59+00:00", "2200-01-01T00:00:00+00:00", "2500-01-01T00:00:00+00:00"):
        assert "now" in assert_problem(http.fire(now), 422)["errors"]
    assert_problem(http.call("POST", "/timers/fire", http.headers("coordination"),
                             json={"now": "2026-03-01T00:00:00+00:00"}), 403)
    assert_problem(http.call("POST", "/timers/fire", http.headers("admin"), json={"now": "2026-03-01T00:00:00"}),
                   422)
    assert http.engine.clock.now() == clock and http.position() == before
    moved = http.fire("2026-03-01T00:00:00+00:00")
    assert moved.status_code == 200 and moved.get_json()["incidents"] == []
    assert http.engine.clock.now().isoformat() == "2026-03-01T00:00:00+00:00"


def test_a_cycle_timer_fires_its_repetitions_then_records_nothing(tmp_path):
    http = make_http(tmp_path)
    http.engine.deploy({"cycle_pathway.bpmn": CYCLE})  # R2/PT1H on a user task: two reminders
    p = http.start("PSN-CYCLE-1", process_key="cycle_pathway")
    fired = [http.fire((T0 + timedelta(hours=h, minutes=1)).isoformat()).get_json()["fired"] for h in range(1, 6)]
    assert fired == [1, 1, 0, 0, 0]
    events = events_of(http, p["id"])
    fired_at = [i for i, e in enumerate(events) if e["type"] == "TimersFired"]
    assert len(fired_at) == 2
    for i in fired_at:  # no firing is recorded without what it did
        assert events[i + 1]["kind"] == "outcome"
    assert [e["data"]["node_id"] for e in events if e["type"] == "NodeCompleted"].count("remind") == 2
    assert http.fire((T0 + timedelta(days=3)).isoformat()).get_json()["fired"] == 0
    assert len(events_of(http, p["id"])) == len(events)  # (only the manual clock moved)
    assert http.call("POST", f"/pathways/{p['id']}/verify", http.headers("auditor")).get_json()["ok"] is True


def upload(http: Http, name: str, content: bytes):
    return http.call("POST", "/process-definitions", http.headers("process_owner"), content_type="multipart/form-data",
                     data={"files": [(io.BytesIO(content), name)]})


def test_deploy_accepts_bounded_cycles_and_refuses_unbounded_zero_or_absurd_timers(tmp_path):
    http = make_http(tmp_path)
    for cycle in ("R5/PT1S", "R3/2026-01-05T09:00:00Z/P1D", "R5475/P1D"):
        r = upload(http, "cycle.bpmn", CYCLE.replace(b"R2/PT1H", cycle.encode()))
        assert r.status_code in (200, 201), (cycle, r.get_json())
    before = http.position()
    refused = {
        b'<bpmn:timeCycle>"R2/PT1H"': [b'<bpmn:timeCycle>"R/PT1H"', b'<bpmn:timeCycle>"R5/PT0S"',
                                       b'<bpmn:timeCycle>"R-1/PT1H"', b'<bpmn:timeCycle>"R5/P99999Y"',
                                       b'<bpmn:timeCycle>"R2/10000-01-01T00:00:00Z/P1D"',
                                       b'<bpmn:timeCycle>"every hour"', b'<bpmn:timeCycle>"R20000/PT1M"'],
    }
    cases = [CYCLE.replace(old, new) for old, news in refused.items() for new in news]
    cases += [INCIDENT.replace(b'"PT1H"', bad) for bad in (b'"P99999Y"', b'"-P1D"', b'"P1X"', b'"PT"')]
    date_timer = (INCIDENT.replace(b'<bpmn:timeDuration>"PT1H"</bpmn:timeDuration>',
                                  b'<bpmn:timeDate>"1900-01-01T00:00:00Z"</bpmn:timeDate>'))
    cases.append(date_timer)
    for content in cases:
        body = assert_problem(upload(http, "bad.bpmn", content), 422, type_part="definition-rejected")
        assert "remind_timer" in body["detail"] or "wait_hour" in body["detail"], body["detail"]
    assert http.position() == before
