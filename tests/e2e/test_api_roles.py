"""The access rules, role by endpoint: every cell of the matrix is one request on a fresh store.

Rules: coordination and hematology start and cancel pathways; a user completes only tasks of its
lanes, and sees only its centres' pathways (others' are 404: ids cannot be probed); the
manufacturer posts messages only for its own orders and reads only their outbox; auditors read
everything and write nothing; process owners deploy definitions; admin may do everything.
"""
from __future__ import annotations

import io

import pytest

from tests.support.http import MINI_MFR, Http, assert_problem, make_http

CALLERS = {
    "coord": (("coordination",), ("FR-01",), None),
    "hema": (("hematology",), ("FR-01",), None),
    "pharm": (("pharmacy",), ("FR-01",), None),
    "coord_fr02": (("coordination",), ("FR-02",), None),
    "auditor": (("auditor",), (), None),
    "owner": (("process_owner",), ("FR-01",), None),
    "admin": (("admin",), (), None),
    "acme": (("manufacturer",), (), "ACME"),
    "other_mfr": (("manufacturer",), (), "OTHER"),
}
COLUMNS = tuple(CALLERS)
READ = (200, 200, 200, 404, 200, 403, 200, 403, 403)   # one pathway: its centre's staff, auditors, admin
LIST = (200, 200, 200, 200, 200, 403, 200, 403, 403)   # lists: filtered by centre
MATRIX = {
    #                    coord hema pharm fr02 audit owner admin acme other
    "list_definitions": (200, 200, 200, 200, 200, 200, 200, 200, 200),
    "deploy":           (403, 403, 403, 403, 403, 201, 201, 403, 403),
    "start":            (201, 201, 403, 403, 403, 403, 201, 403, 403),
    "list_pathways":    LIST,
    "show_pathway":     READ,
    "cancel":           (200, 200, 403, 404, 403, 403, 200, 403, 403),
    "history":          READ,
    "verify":           READ,
    "list_tasks":       LIST,
    "show_task":        READ,
    "complete_intake":  (200, 403, 403, 404, 403, 403, 200, 403, 403),
    "complete_check":   (403, 403, 200, 404, 403, 403, 200, 403, 403),
    "message":          (403, 403, 403, 403, 403, 403, 200, 200, 422),
    "outbox":           (403, 403, 403, 403, 200, 403, 200, 200, 200),
    "events":           (403, 403, 403, 403, 200, 403, 200, 403, 403),
    "fire_timers":      (403, 403, 403, 403, 403, 403, 200, 403, 403),
}
WRITES = {"deploy", "start", "cancel", "complete_intake", "complete_check", "message", "fire_timers"}


def scenario(http: Http) -> dict:
    """P1: intake ready; P2: pharmacy check ready (order ORD-2 of ACME); P3: waits for slot_confirmed (ORD-3)."""
    p1 = http.start("P-1")
    p2 = http.to_check("P-2", "ORD-2", "COI-2")
    p3 = http.intake(http.start("P-3"), "ORD-3", "ACME")
    return {"p1": p1["id"], "intake": http.task(p1, "intake")["id"], "p2": p2["id"],
            "check": http.task(p2, "check")["id"], "p3": p3["id"]}


def act(http: Http, action: str, s: dict, who: dict):
    call = http.call
    if action == "list_definitions":
        return call("GET", "/process-definitions", who)
    if action == "deploy":
        variant = MINI_MFR.replace(b"mini_mfr", b"mini_two")
        return call("POST", "/process-definitions", who, data={"files": [(io.BytesIO(variant), "mini_two.bpmn")]},
                    content_type="multipart/form-data")
    if action == "start":
        return call("POST", "/pathways", who, json={"patient_ref": "P-9", "center": "FR-01", "indication": "DLBCL",
                                                    "product": "axi-cel", "process_key": "mini_mfr"})
    if action == "list_pathways":
        return call("GET", "/pathways", who)
    if action == "show_pathway":
        return call("GET", f"/pathways/{s['p1']}", who)
    if action == "cancel":
        return call("POST", f"/pathways/{s['p1']}/cancel", who, json={"reason": "patient_decision"})
    if action == "history":
        return call("GET", f"/pathways/{s['p1']}/history", who)
    if action == "verify":
        return call("POST", f"/pathways/{s['p1']}/verify", who)
    if action == "list_tasks":
        return call("GET", "/tasks", who)
    if action == "show_task":
        return call("GET", f"/tasks/{s['intake']}", who)
    if action == "complete_intake":
        return call("POST", f"/tasks/{s['intake']}/complete", who,
                    json={"data": {"ok": True, "order_id": "ORD-1", "manufacturer": "ACME"}})
    if action == "complete_check":
        return call("POST", f"/tasks/{s['check']}/complete", who, json={"data": {"coi_scanned": "COI-2", "n": 1}})
    if action == "message":
        return call("POST", "/messages", who, json={
            "name": "slot_confirmed", "message_id": "matrix-1", "correlation": {"order_id": "ORD-3", "coi": "COI-3"},
            "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}})
    if action == "outbox":
        return call("GET", "/outbox", who)
    if action == "events":
        return call("GET", "/events", who)
    if action == "fire_timers":
        return call("POST", "/timers/fire", who, json={"now": "2026-03-01T00:00:00+00:00"})
    raise AssertionError(action)


CELLS = [(action, caller, MATRIX[action][i]) for action in MATRIX for i, caller in enumerate(COLUMNS)]


@pytest.mark.parametrize("action, caller, expected", CELLS, ids=[f"{a}-{c}" for a, c, _ in CELLS])
def test_role_matrix(tmp_path, action, caller, expected):
    http = make_http(tmp_path)
    s = scenario(http)
    roles, centers, org = CALLERS[caller]
    before = http.position()
    r = act(http, action, s, http.headers(*roles, centers=centers, org=org, sub=caller))
    assert r.status_code == expected, r.get_data(as_text=True)[:300]
    if expected >= 400:
        assert r.mimetype == "application/problem+json"
        assert http.position() == before, "a refused request recorded something"
    elif action in WRITES:
        assert int(r.headers["X-Cartpath-Position"]) == http.position() > before
    else:
        assert http.position() == before


def test_lists_show_only_the_callers_centres(tmp_path):
    http = make_http(tmp_path)
    s = scenario(http)
    fr02 = http.start("P-FR02", center="FR-02")
    coord_fr02 = http.headers("coordination", centers=("FR-02",))
    assert [p["id"] for p in http.call("GET", "/pathways", coord_fr02).get_json()["items"]] == [fr02["id"]]
    assert [t["pathway_id"] for t in http.call("GET", "/tasks", coord_fr02).get_json()["items"]] == [fr02["id"]]
    assert http.call("GET", "/pathways?center=FR-01", coord_fr02).get_json()["items"] == []
    both = http.headers("pharmacy", centers=("FR-01", "FR-02"))
    assert len(http.call("GET", "/pathways", both).get_json()["items"]) == 4
    everything = http.call("GET", "/pathways", http.headers("auditor", centers=())).get_json()["items"]
    assert {p["id"] for p in everything} == {s["p1"], s["p2"], s["p3"], fr02["id"]}


def test_manufacturers_read_only_their_orders_outbox(tmp_path):
    http = make_http(tmp_path)
    scenario(http)
    http.intake(http.start("P-4"), "ORD-4", "OTHER")
    acme = http.call("GET", "/outbox", http.headers("manufacturer", org="ACME")).get_json()["items"]
    other = http.call("GET", "/outbox", http.headers("manufacturer", org="OTHER")).get_json()["items"]
    assert [m["payload"]["order_id"] for m in acme] == ["ORD-2", "ORD-3"]
    assert [m["payload"]["order_id"] for m in other] == ["ORD-4"]
    everything = http.call("GET", "/outbox", http.headers("auditor")).get_json()["items"]
    assert [m["payload"]["order_id"] for m in everything] == ["ORD-2", "ORD-3", "ORD-4"]
    assert_problem(http.call("GET", "/outbox", http.headers("manufacturer")), 403)  # no org claim


def test_a_manufacturer_cannot_replay_another_manufacturers_message_id(tmp_path):
    http = make_http(tmp_path)
    s = scenario(http)
    assert http.slot("ORD-3", "COI-3", "ACME", message_id="acme-77").status_code == 200
    before = http.position()
    replay = http.slot("ORD-3", "COI-3", "OTHER", message_id="acme-77")
    assert replay.status_code == 422 and s["p3"] not in replay.get_data(as_text=True)
    assert http.position() == before
