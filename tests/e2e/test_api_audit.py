"""The auditor's reads over HTTP: time travel (`as_of`) on the pathway, its timeline and custody;
events across pathways with filters, cursor pages and CSV; the audit report as JSON and PDF;
who may read them, and bad queries as problems that record nothing."""
from __future__ import annotations

import csv
import io

import pytest
from pypdf import PdfReader

from tests.e2e.test_api_incidents import NO_WAIT, complete, retry
from tests.e2e.test_projections_api import catch_up, http  # noqa: F401  (http: the fixture)
from tests.support.http import Http, assert_problem


def two_centres(http: Http) -> tuple[dict, dict]:
    """P-1 at FR-01 with its slot confirmed and its day timer fired; P-2 at FR-02 at intake."""
    one = http.to_check("P-1", "ORD-1", "COI-1")
    two = http.start("P-2", center="FR-02")
    catch_up(http)
    return one, two


def test_as_of_shows_the_pathway_timeline_and_custody_as_they_were(http):
    one, _ = two_centres(http)
    auditor = http.headers("auditor", centers=())
    history = http.call("GET", f"/pathways/{one['id']}/history", auditor).get_json()["items"]
    intake_done = next(h["position"] for h in history if h["type"] == "TaskCompleted")
    before = http.call("GET", f"/pathways/{one['id']}?as_of={intake_done - 1}", auditor)
    assert before.status_code == 200 and before.headers["ETag"] == f'"{intake_done - 1}"'
    body = before.get_json()
    assert [t["name"] for t in body["tasks"]] == ["intake"] and "intake" not in body["data"]
    assert body["as_of"]["version"] == body["version"] == intake_done - 1
    now = http.call("GET", f"/pathways/{one['id']}", auditor).get_json()
    assert [t["name"] for t in now["tasks"]] == ["check"] and "as_of" not in now
    # the timeline then: intake open, no message yet; now: intake done, the slot received
    then = http.call("GET", f"/pathways/{one['id']}/timeline?as_of={intake_done - 1}", auditor).get_json()
    assert [(s["kind"], s["name"], s.get("open")) for s in then["steps"] if s["kind"] != "decision"] == [
        ("started", "mini_mfr", None), ("task", "intake", True)]
    live = http.call("GET", f"/pathways/{one['id']}/timeline", auditor).get_json()
    full = http.call("GET", f"/pathways/{one['id']}/timeline?as_of={now['version']}", auditor).get_json()
    # rebuilt from the events, the same as the runner's view (open steps wait until the version's time, not now)
    def timed(steps):
        return [{k: v for k, v in s.items() if not (s.get("open") and k == "waited_days")} for s in steps]
    assert timed(full["steps"]) == timed(live["steps"])
    assert [s["waited_days"] for s in full["steps"] if s.get("open")] == [0.0]  # check: ready at that very moment
    assert full["as_of"]["version"] == now["version"] and int(full["position"]) >= live["position"]
    ordered = next(h["position"] for h in history if h["type"] == "MessageSent")
    custody = http.call("GET", f"/pathways/{one['id']}/custody?as_of={ordered}", auditor).get_json()
    assert (custody["coi"], custody["order_id"]) == (None, "ORD-1")  # the order placed, no COI yet
    assert http.call("GET", f"/pathways/{one['id']}/custody", auditor).get_json()["coi"] == "COI-1"
    # a moment: the day timer fired on 6 January at 08:00; on the evening of the 5th it had not
    evening = http.call("GET", f"/pathways/{one['id']}?as_of=2026-01-05T20:00:00%2B00:00", auditor).get_json()
    assert evening["tasks"] == [] and [w["kind"] for w in evening["waiting"]] == ["timer"]
    assert evening["as_of"]["moment"] == "2026-01-05T20:00:00+00:00"


@pytest.mark.parametrize("as_of", ["0", "1000", "2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "yesterday",
                                   "2026-01-05", "2026-01-05T09:00:00"])
@pytest.mark.parametrize("path", ["", "/timeline", "/custody"])
def test_a_bad_or_future_as_of_is_422_naming_it(http, path, as_of):
    one, _ = two_centres(http)
    before = http.position()
    r = http.call("GET", f"/pathways/{one['id']}{path}", http.headers("auditor", centers=()),
                  query_string={"as_of": as_of})
    body = assert_problem(r, 422, type_part="invalid-as-of")
    assert list(body["errors"]) == ["as_of"] and http.position() == before


def test_as_of_keeps_the_centre_rules(http):
    one, _ = two_centres(http)
    nurse2 = http.headers("coordination", centers=("FR-02",))
    for path in ("", "/timeline", "/custody"):
        assert_problem(http.call("GET", f"/pathways/{one['id']}{path}?as_of=2", nurse2), 404)
        assert_problem(http.call("GET", f"/pathways/{one['id']}{path}?as_of=bad", nurse2), 404)  # no probing
    nurse1 = http.headers("coordination", centers=("FR-01",))
    assert http.call("GET", f"/pathways/{one['id']}/timeline?as_of=2", nurse1).status_code == 200


def test_audit_events_filter_page_and_follow_the_log(http):
    one, two = two_centres(http)
    auditor = http.headers("auditor", centers=())
    everything = http.call("GET", "/audit/events?limit=1000", auditor).get_json()
    positions = [i["position"] for i in everything["items"]]
    assert positions == sorted(positions) and everything["next"] is None
    assert {i["pathway_id"] for i in everything["items"]} == {one["id"], two["id"]}
    # cursor pages give the same events, in the same order
    paged, cursor = [], 0
    while cursor is not None:
        page = http.call("GET", f"/audit/events?limit=4&cursor={cursor}", auditor).get_json()
        paged += page["items"]
        cursor = page["next"]
    assert paged == everything["items"]
    started = http.call("GET", "/audit/events?type=Started", auditor).get_json()["items"]
    assert [(i["patient_ref"], i["center"], i["version"]) for i in started] == [("P-1", "FR-01", 1),
                                                                                ("P-2", "FR-02", 1)]
    assert started[1]["actor"]["sub"] == "coordination" and started[1]["actor"]["roles"] == ["coordination"]
    fr2 = http.call("GET", "/audit/events?center=FR-02", auditor).get_json()["items"]
    assert fr2 and {i["pathway_id"] for i in fr2} == {two["id"]}
    acme = http.call("GET", "/audit/events?actor=manufacturer", auditor).get_json()["items"]
    assert [(i["type"], i["actor"]["org"]) for i in acme] == [("MessageReceived", "ACME")]
    assert "received slot_confirmed" in acme[0]["summary"]
    outcomes = [i for i in everything["items"] if i["type"] == "TaskBecameReady"]
    assert outcomes and all(i["actor"] is None for i in outcomes)  # the engine's outcomes have no actor
    day2 = http.call("GET", "/audit/events?from=2026-01-06T00:00:00Z&to=2026-01-08", auditor).get_json()["items"]
    assert day2 and all(i["at"] >= "2026-01-06" for i in day2)
    assert {i["type"] for i in day2} >= {"TimersFired"}
    assert "TimersFired" not in {i["type"] for i in
                                 http.call("GET", "/audit/events?to=2026-01-06", auditor).get_json()["items"]}


def test_audit_events_as_csv(http):
    two_centres(http)
    auditor = http.headers("auditor", centers=())
    page = http.call("GET", "/audit/events?limit=1000&center=FR-01", auditor).get_json()
    r = http.call("GET", "/audit/events?center=FR-01&limit=1", auditor, headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert int(r.headers["X-Cartpath-Position"]) == page["position"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == len(page["items"]) > 1  # every matching event, not a page of `limit`
    assert [int(row["position"]) for row in rows] == [i["position"] for i in page["items"]]
    assert rows[0]["summary"] == page["items"][0]["summary"] and rows[0]["actor_sub"] == "coordination"
    after = http.call("GET", f"/audit/events?center=FR-01&cursor={rows[0]['position']}", auditor,
                      headers={"Accept": "text/csv"}).get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(after)))) == len(rows) - 1


def test_only_auditors_and_admins_read_the_audit_trail(http):
    one, _ = two_centres(http)
    for token in (http.headers("coordination"), http.headers("hematology"),
                  http.headers("manufacturer", centers=(), org="ACME")):
        assert_problem(http.call("GET", "/audit/events", token), 403)
        assert_problem(http.call("GET", f"/pathways/{one['id']}/audit", token), 403)
    assert_problem(http.call("GET", "/audit/events"), 401)
    admin = http.headers("admin", centers=())
    assert http.call("GET", "/audit/events", admin).status_code == 200
    assert_problem(http.call("GET", "/pathways/00000000-0000-0000-0000-000000000000/audit", admin), 404)


@pytest.mark.parametrize("query, field", [("type=Updated", "type"), ("from=yesterday", "from"),
                                          ("to=2026-13-01", "to"), ("limit=0", "limit"), ("cursor=-1", "cursor"),
                                          ("min_position=999999", "min_position")])
def test_bad_audit_queries_are_problems(http, query, field):
    two_centres(http)
    for accept in ("application/json", "text/csv"):
        r = http.call("GET", f"/audit/events?{query}", http.headers("auditor", centers=()),
                      headers={"Accept": accept})
        assert field in assert_problem(r, 422)["errors"]


def test_the_audit_report_as_json_and_pdf(http):
    one, _ = two_centres(http)
    auditor = http.headers("auditor", centers=(), sub="inspector-7")
    report = http.call("GET", f"/pathways/{one['id']}/audit", auditor).get_json()
    history = http.call("GET", f"/pathways/{one['id']}/history", auditor).get_json()["items"]
    assert [e["position"] for e in report["events"]] == [h["position"] for h in history]
    assert (report["patient_ref"], report["center"], report["printed"]["by"]) == ("P-1", "FR-01", "inspector-7")
    assert report["definitions"][0]["key"] == "mini_mfr" and report["integrity"]["verify"]["ok"] is True
    r = http.call("GET", f"/pathways/{one['id']}/audit", auditor, headers={"Accept": "application/pdf"})
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF-")
    assert one["id"] in r.headers["Content-Disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.data)).pages)
    for expected in ("P-1", "FR-01", "mini_mfr version 1", "verify: PASSED", "inspector-7", "MessageReceived",
                     "received slot_confirmed", "manufacturer@ACME"):
        assert expected in text, expected


def test_an_incident_and_its_retry_in_the_audit_trail_the_report_and_as_of(http):
    http.engine.deploy({"incident_now.bpmn": NO_WAIT})
    p = http.start("PSN-INC-1", process_key="incident_now")
    failed = complete(http, p, "dose", {"divisor": 0}, "ward")
    incident = failed["incident"]
    fixed = retry(http, p["id"], incident["incident_id"], {"dose": {"divisor": 3}}).get_json()
    catch_up(http)
    auditor = http.headers("auditor", centers=())
    raised = http.call("GET", "/audit/events?type=IncidentRaised", auditor).get_json()["items"]
    assert [(e["pathway_id"], e["actor"]) for e in raised] == [(p["id"], None)]
    assert f"incident {incident['incident_id']} at compute" in raised[0]["summary"]
    [retried] = http.call("GET", "/audit/events?type=IncidentRetried", auditor).get_json()["items"]
    assert retried["actor"]["roles"] == ["process_owner"]
    # before the retry the pathway was stopped by the incident; now it goes on
    then = http.call("GET", f"/pathways/{p['id']}?as_of={raised[0]['version']}", auditor).get_json()
    assert then["status"] == "incident" and then["incident"]["incident_id"] == incident["incident_id"]
    assert fixed["incident"] is None and fixed["status"] == "active"
    report = http.call("GET", f"/pathways/{p['id']}/audit", auditor).get_json()
    assert [i["type"] for i in report["incidents"]] == ["IncidentRaised", "IncidentRetried", "IncidentResolved"]
    assert report["integrity_ok"] is True
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(http.call(
        "GET", f"/pathways/{p['id']}/audit", auditor, headers={"Accept": "application/pdf"}).data)).pages)
    assert "Incidents (3)" in text and "ZeroDivisionError" in text
