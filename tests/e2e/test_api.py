"""The REST API end to end on a real SQLite store: the mini pathway over HTTP, and the conventions
(idempotency, ETag/If-Match, cursors, read-your-writes positions, OpenAPI)."""
from __future__ import annotations

from tests.support.http import MINI_MFR, Http, assert_problem, http  # noqa: F401 (fixture)


def test_mini_pathway_over_http_with_manufacturer_messages(http: Http):
    coordinator = http.headers("coordination", sub="nurse-1")
    pharmacist = http.headers("pharmacy", sub="pharm-1")
    acme = http.headers("manufacturer", centers=(), org="ACME", sub="acme-portal")

    started = http.start("P-0042")
    assert started["status"] == "active" and started["definition"]["key"] == "mini_mfr"
    worklist = http.call("GET", "/tasks?lane=coordination", coordinator).get_json()
    [intake] = worklist["items"]
    assert intake["name"] == "intake" and intake["pathway_id"] == started["id"]
    assert {f["name"] for f in intake["fields"]} == {"ok", "order_id", "manufacturer", "note"}
    assert http.call("GET", f"/tasks/{intake['id']}", coordinator).get_json() == intake

    after_intake = http.call("POST", f"/tasks/{intake['id']}/complete", coordinator,
                             json={"data": {"ok": True, "order_id": "ORD-42", "manufacturer": "ACME"}}).get_json()
    assert after_intake["tasks"] == [] and after_intake["waiting"] == [
        {"kind": "message", "name": "slot_confirmed", "due_at": None}]

    outbox = http.call("GET", "/outbox", acme).get_json()
    [order] = outbox["items"]
    assert order["name"] == "order_placed"
    assert order["payload"] == {"order_id": "ORD-42", "patient_ref": "P-0042", "manufacturer": "ACME"}
    assert outbox["next"] is None and outbox["last_position"] >= order["position"]

    answer = http.call("POST", "/messages", acme, json={
        "name": "slot_confirmed", "message_id": "acme-1", "correlation": {"order_id": "ORD-42", "coi": "COI-42"},
        "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": "S7"}})
    assert answer.status_code == 200
    assert answer.get_json() | {"position": 0} == {"pathway_id": started["id"], "accepted": True,
                                                   "message_id": "acme-1", "name": "slot_confirmed",
                                                   "duplicate": False, "position": 0}
    waiting = http.pathway(started["id"])
    assert waiting["correlation"] == {"order_id": "ORD-42", "coi": "COI-42", "manufacturer": "ACME"}
    [timer] = waiting["waiting"]
    assert timer["kind"] == "timer" and timer["due_at"] == "2026-01-06T08:00:00+00:00"

    fired = http.fire("2026-01-06T09:00:00+00:00").get_json()
    assert fired == {"fired": 1, "now": "2026-01-06T09:00:00+00:00", "incidents": []}
    [check] = http.call("GET", "/tasks?lane=pharmacy", pharmacist).get_json()["items"]
    done = http.call("POST", f"/tasks/{check['id']}/complete", pharmacist,
                     json={"data": {"coi_scanned": "COI-42", "n": 3}})
    assert done.status_code == 200
    ended = done.get_json()
    assert (ended["status"], ended["outcome"]) == ("ended", "follow_up_handover")
    assert ended["data"]["check"] == {"coi_scanned": "COI-42", "n": 3}

    history = http.call("GET", f"/pathways/{started['id']}/history", coordinator).get_json()["items"]
    assert [h["position"] for h in history] == list(range(1, len(history) + 1))
    inputs = [(h["type"], (h["actor"] or {}).get("sub")) for h in history if h["kind"] == "input"]
    assert inputs == [("Started", "coordination"), ("TaskCompleted", "nurse-1"), ("MessageReceived", "acme-portal"),
                      ("TimersFired", None), ("TaskCompleted", "pharm-1")]
    assert history[-1]["type"] == "PathwayEnded" and history[-1]["data"]["outcome"] == "follow_up_handover"
    assert http.call("POST", f"/pathways/{started['id']}/verify", coordinator).get_json()["ok"] is True

    feed = http.call("GET", "/events?limit=1000", http.headers("auditor", centers=())).get_json()
    mine = [e for e in feed["items"] if e["pathway_id"] == started["id"]]
    assert [e["type"] for e in mine] == [h["type"] for h in history]
    assert [e["position"] for e in feed["items"]] == sorted(e["position"] for e in feed["items"])


def test_business_key_makes_start_idempotent(http: Http):
    first = http.start("P-1", business_key="HOSP-77")
    before = http.position()
    again = http.call("POST", "/pathways", http.headers("coordination"), json={
        "patient_ref": "P-1", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
        "process_key": "mini_mfr", "business_key": "HOSP-77"})
    assert again.status_code == 200 and again.get_json() == first
    assert http.position() == before == int(again.headers["X-Cartpath-Position"])  # recorded nothing
    other = http.call("POST", "/pathways", http.headers("coordination"), json={
        "patient_ref": "P-2", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
        "process_key": "mini_mfr", "business_key": "HOSP-77"})
    body = assert_problem(other, 409, type_part="business-key-conflict")
    assert "HOSP-77" in body["detail"]
    assert http.position() == before


def test_repeated_message_id_returns_first_answer_and_records_nothing(http: Http):
    p = http.intake(http.start())
    first = http.slot(message_id="dup-1")
    before = http.position()
    again = http.slot(message_id="dup-1")
    assert again.status_code == 200
    assert again.get_json()["duplicate"] is True and first.get_json()["duplicate"] is False
    assert {k: v for k, v in again.get_json().items() if k not in ("duplicate", "position")} == \
           {k: v for k, v in first.get_json().items() if k not in ("duplicate", "position")}
    assert http.position() == before
    assert [h["type"] for h in http.call("GET", f"/pathways/{p['id']}/history", http.headers("auditor")).get_json()
            ["items"]].count("MessageReceived") == 1


def test_writes_carry_their_log_position_and_pathways_their_version(http: Http):
    created = http.call("POST", "/pathways", http.headers("hematology"), json={
        "patient_ref": "P-9", "center": "FR-01", "indication": "MM", "product": "cilta-cel", "process_key": "mini_mfr"})
    assert created.status_code == 201
    assert int(created.headers["X-Cartpath-Position"]) == http.position()
    assert created.headers["Location"] == f"/api/v1/pathways/{created.get_json()['id']}"
    shown = http.call("GET", f"/pathways/{created.get_json()['id']}", http.headers("hematology"))
    assert shown.headers["ETag"] == f'"{shown.get_json()["version"]}"' == created.headers["ETag"]
    assert "X-Cartpath-Position" not in shown.headers  # reads record nothing
    task = http.task(created.get_json(), "intake")
    stale = http.call("POST", f"/tasks/{task['id']}/complete", http.headers("coordination"),
                      headers={"If-Match": '"1"'}, json={"data": {"ok": False, "order_id": "X", "manufacturer": "A"}})
    assert_problem(stale, 409, type_part="concurrent-update")
    fresh = http.call("POST", f"/tasks/{task['id']}/complete", http.headers("coordination"),
                      headers={"If-Match": shown.headers["ETag"]},
                      json={"data": {"ok": False, "order_id": "X", "manufacturer": "A"}})
    assert fresh.status_code == 200 and fresh.get_json()["outcome"] == "declined"
    assert int(fresh.headers["X-Cartpath-Position"]) == http.position()
    assert fresh.headers["ETag"] == f'"{fresh.get_json()["version"]}"'


def test_cursor_pagination_is_stable_and_complete(http: Http):
    ids = [http.start(f"P-{i}")["id"] for i in range(5)]
    http.start("P-OTHER-1", center="FR-02")
    reader = http.headers("pharmacy")
    seen, after, pages = [], 0, 0
    while True:
        page = http.call("GET", f"/pathways?limit=2&after={after}", reader).get_json()
        seen += [p["id"] for p in page["items"]]
        pages += 1
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == ids and pages == 3  # FR-02's pathway is not visible to an FR-01 pharmacist
    tasks = http.call("GET", "/tasks?limit=3&lane=coordination", reader).get_json()
    rest = http.call("GET", f"/tasks?limit=3&lane=coordination&after={tasks['next']}", reader).get_json()
    assert [t["pathway_id"] for t in tasks["items"] + rest["items"]] == ids and rest["next"] is None
    one = http.call("GET", f"/tasks?pathway_id={ids[3]}", reader).get_json()["items"]
    assert [t["pathway_id"] for t in one] == [ids[3]]
    http.intake(http.pathway(ids[0]))
    ended = http.call("GET", "/pathways?status=active", http.headers("auditor", centers=())).get_json()
    assert len(ended["items"]) == 6
    assert [t["pathway_id"] for t in http.call("GET", "/tasks?lane=coordination", reader).get_json()["items"]] \
        == ids[1:]
    auditor = http.headers("auditor", centers=())
    feed = http.call("GET", "/events?limit=4", auditor).get_json()
    more = http.call("GET", f"/events?limit=4&after={feed['next']}", auditor).get_json()
    assert len(feed["items"]) == 4 and more["items"][0]["position"] > feed["items"][-1]["position"]


def test_cancel_ends_the_pathway_with_its_reason(http: Http):
    p = http.intake(http.start())
    r = http.call("POST", f"/pathways/{p['id']}/cancel", http.headers("hematology", sub="dr-h"),
                  json={"reason": "progression", "comment": "PD at day 20"})
    assert r.status_code == 200
    body = r.get_json()
    assert (body["status"], body["outcome"]) == ("ended", "cancelled")
    assert body["cancellation"]["reason"] == "progression" and body["cancellation"]["by"] == "dr-h"
    assert body["waiting"] == [] and body["tasks"] == []
    assert_problem(http.call("POST", f"/pathways/{p['id']}/cancel", http.headers("hematology"),
                             json={"reason": "other"}), 409, type_part="pathway-ended")


def test_definitions_can_be_read_back(http: Http):
    reader = http.headers("pharmacy")
    [d] = http.call("GET", "/process-definitions", reader).get_json()["items"]
    assert (d["key"], d["version"], d["files"]) == ("mini_mfr", 1, ["mini_mfr.bpmn"])
    xml = http.call("GET", "/process-definitions/mini_mfr/versions/1/bpmn", reader)
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and xml.data == MINI_MFR
    assert http.call("GET", "/process-definitions/mini_mfr/versions/1/files/mini_mfr.bpmn", reader).data == MINI_MFR
    assert http.call("GET", "/process-definitions/mini_mfr/versions/1", reader).get_json()["sha256"] == d["sha256"]
    assert_problem(http.call("GET", "/process-definitions/mini_mfr/versions/2/bpmn", reader), 404)


def test_openapi_document_and_docs_page(http: Http):
    doc = http.client.get("/api/v1/openapi.json")
    assert doc.status_code == 200
    spec = doc.get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/pathways", "/api/v1/pathways/{pathway_id}", "/api/v1/tasks/{task_id}/complete",
                 "/api/v1/messages", "/api/v1/outbox", "/api/v1/events", "/api/v1/timers/fire",
                 "/api/v1/process-definitions", "/api/v1/process-definitions/{key}/versions/{version}/bpmn",
                 "/api/v1/pathways/{pathway_id}/history", "/api/v1/pathways/{pathway_id}/verify"):
        assert path in spec["paths"], path
    start = spec["paths"]["/api/v1/pathways"]["post"]
    body_schema = start["requestBody"]["content"]["application/json"]["schema"]
    assert set(body_schema["$ref"].split("/")[-1:]) == {"StartPathway"}
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "application/problem+json" in spec["components"]["responses"]["NOT_FOUND"]["content"]
    page = http.client.get("/api/v1/docs")
    assert page.status_code == 200 and b"swagger" in page.data.lower()
    assert http.client.get("/api/v1/health").get_json()["status"] == "ok"


def test_cancel_v2_death_carries_its_date_and_cause(http: Http):
    """(v2) 422 naming the missing or wrong fields, nothing recorded; then a death with date and cause."""
    p = http.intake(http.start())
    url, dr = f"/pathways/{p['id']}/cancel", http.headers("hematology", sub="dr-h")
    before = http.position()
    missing = assert_problem(http.call("POST", url, dr, json={"reason": "death"}), 422, type_part="cancel-refused")
    assert set(missing["errors"]) == {"death_date", "death_cause"}
    unknown = assert_problem(http.call("POST", url, dr, json={"reason": "death", "death_date": "2026-01-05",
                                                              "death_cause": "old_age"}), 422)
    assert "death_cause" in unknown["errors"]
    future = assert_problem(http.call("POST", url, dr, json={"reason": "death", "death_date": "2026-02-01",
                                                             "death_cause": "infection"}), 422,
                            type_part="clinical-rule-violation")
    assert "in the future" in future["errors"]["death_date"][0]
    early = assert_problem(http.call("POST", url, dr, json={"reason": "transferred"}), 422, type_part="cancel-refused")
    assert "after infusion only" in early["detail"]
    assert http.position() == before
    r = http.call("POST", url, dr, json={"reason": "death", "death_date": "2026-01-05", "death_cause": "infection"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["outcome"] == "cancelled"
    assert {k: r.get_json()["cancellation"][k] for k in ("reason", "death_date", "death_cause")} == {
        "reason": "death", "death_date": "2026-01-05", "death_cause": "infection"}


def test_a_message_id_repeated_with_other_content_is_409(http: Http):
    p = http.intake(http.start())
    assert http.slot(message_id="acme-7").status_code == 200
    before = http.position()
    body = {"name": "slot_confirmed", "message_id": "acme-7", "correlation": {"order_id": "ORD-1", "coi": "COI-1"},
            "payload": {"apheresis_date": "2026-02-02", "manufacturing_slot": "S1"}}
    refused = assert_problem(http.call("POST", "/messages", http.headers("manufacturer", centers=(), org="ACME"),
                                       json=body), 409, type_part="message-id-reused")
    assert "acme-7" in refused["detail"]
    assert http.position() == before
    assert http.pathway(p["id"])["version"] == http.engine.get_pathway(p["id"]).version


def test_a_coi_held_by_another_pathway_is_409(http: Http):
    http.intake(http.start("P-1"), "ORD-1")
    other = http.intake(http.start("P-2"), "ORD-2")
    assert http.slot("ORD-1", "COI-X").status_code == 200
    before = http.position()
    assert_problem(http.slot("ORD-2", "COI-X"), 409, type_part="coi-in-use")
    assert http.position() == before and http.engine.get_pathway(other["id"]).coi is None


def test_a_form_field_gives_its_french_label_and_every_bundled_field_has_one(http: Http):
    http.engine.deploy_bundled()
    coordinator = http.headers("coordination", centers=("FR-01",))
    started = http.call("POST", "/pathways", coordinator, json={
        "patient_ref": "P-FR1", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel"}).get_json()
    [ready] = started["tasks"]
    task = http.call("GET", f"/tasks/{ready['id']}", http.headers("hematology", centers=("FR-01",))).get_json()
    labels = {f["name"]: (f["label"], f.get("label_fr")) for f in task["fields"]}
    assert labels["eligible"] == ("Eligible for CAR-T (RCP decision)", "Éligible aux CAR-T (décision de RCP)")
    untranslated = [(task_name, f.name) for task_name, form in http.engine.model("cart_pathway").forms.items()
                    for f in form.fields if not f.label_fr]
    assert untranslated == []
