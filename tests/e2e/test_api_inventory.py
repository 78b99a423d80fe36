"""The tocilizumab inventory over HTTP (receipts, the stock, reservations through task completion)
and from the command line, on a real store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from cartpath.engine.inventory import stock_id
from tests.e2e.test_api_schemathesis import CHECKS
from tests.support.http import Http, assert_problem, make_http
from tests.support.store import FIXTURES, T0

TOCI = (FIXTURES / "tocilizumab_pathway.bpmn").read_bytes()
RECEIPTS, STOCK = "/inventory/tocilizumab/receipts", "/inventory/tocilizumab"
GIVEN = T0.isoformat()  # the manual clock's now: nothing recorded may lie ahead of it


@pytest.fixture
def http(tmp_path) -> Http:
    h = make_http(tmp_path)
    h.engine.deploy({"tocilizumab_pathway.bpmn": TOCI})
    return h


def receipt(**kw) -> dict:
    return {"center": "FR-01", "doses": 2, "lot": "TCZ-1", "expires_on": "2026-06-30", **kw}


def start(http: Http, patient_ref: str, center: str = "FR-01") -> dict:
    r = http.call("POST", "/pathways", http.headers("coordination", centers=(center,)),
                  json={"patient_ref": patient_ref, "center": center, "indication": "DLBCL", "product": "axi-cel",
                        "process_key": "tocilizumab_pathway"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def complete(http: Http, pathway: dict, name: str, data: dict, lane: str, expect: int = 200):
    [task] = [t for t in pathway["tasks"] if t["name"] == name]
    answer = http.call("POST", f"/tasks/{task['id']}/complete", http.headers(lane, centers=(pathway["center"],)),
                       json={"data": data})
    assert answer.status_code == expect, answer.get_json()
    return answer


def stock(http: Http, center: str = "FR-01") -> dict:
    r = http.call("GET", STOCK, http.headers("auditor", centers=()), query_string={"center": center})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_pharmacy_receives_and_the_stock_says_what_is_there(http: Http):
    r = http.call("POST", RECEIPTS, http.headers("pharmacy"), json=receipt())
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["center"], body["on_hand"], body["reserved"], body["available"]) == ("FR-01", 2, 0, 2)
    assert body["lots"] == [{"lot": "TCZ-1", "expires_on": "2026-06-30", "received": 2, "used": 0, "on_hand": 2,
                             "reserved": 0, "available": 2, "expired": False}]
    assert int(r.headers["X-Cartpath-Position"]) == http.position()
    for role in ("pharmacy", "ward", "coordination", "hematology"):
        got = http.call("GET", STOCK, http.headers(role), query_string={"center": "FR-01"})
        assert got.status_code == 200 and got.get_json()["available"] == 2
    assert stock(http)["on_hand"] == 2


@pytest.mark.parametrize("roles, centers, status", [
    (("ward",), ("FR-01",), 403),               # a lane that does not receive stock
    (("pharmacy",), ("FR-02",), 403),           # the pharmacy of another centre
    (("auditor",), (), 403),                    # reads, never writes
    (("manufacturer",), (), 403),
])
def test_only_the_centres_pharmacy_or_an_admin_records_a_receipt(http: Http, roles, centers, status):
    r = http.call("POST", RECEIPTS, http.headers(*roles, centers=centers), json=receipt())
    assert_problem(r, status)
    assert not list(http.engine.events.get(stock_id("FR-01")))
    assert http.call("POST", RECEIPTS, http.headers("admin", centers=()), json=receipt()).status_code == 201


def test_reading_another_centres_stock_is_refused(http: Http):
    for roles, centers in ((("ward",), ("FR-02",)), (("manufacturer",), ()), (("process_owner",), ("FR-01",))):
        r = http.call("GET", STOCK, http.headers(*roles, centers=centers), query_string={"center": "FR-01"})
        assert_problem(r, 403)
    assert_problem(http.call("GET", STOCK, http.headers("pharmacy")), 422)  # which centre?
    assert_problem(http.call("GET", STOCK, query_string={"center": "FR-01"}), 401)


@pytest.mark.parametrize("change, field", [
    ({"doses": 0}, "doses"), ({"doses": -3}, "doses"), ({"doses": 1.5}, "doses"), ({"doses": "2"}, "doses"),
    ({"doses": True}, "doses"), ({"expires_on": "2026-02-30"}, "expires_on"), ({"expires_on": "soon"}, "expires_on"),
    ({"lot": ""}, "lot"), ({"center": ""}, "center"), ({"lot": None}, "lot"),
])
def test_bad_receipts_are_422_naming_the_field_and_record_nothing(http: Http, change, field):
    head = http.position()
    r = http.call("POST", RECEIPTS, http.headers("pharmacy"), json=receipt(**change))
    assert field in assert_problem(r, 422)["errors"]
    assert http.position() == head


def test_a_lot_cannot_change_its_expiry(http: Http):
    assert http.call("POST", RECEIPTS, http.headers("pharmacy"), json=receipt()).status_code == 201
    r = http.call("POST", RECEIPTS, http.headers("pharmacy"), json=receipt(expires_on="2027-01-01"))
    assert "expires_on" in assert_problem(r, 422, type_part="invalid-receipt")["errors"]
    assert stock(http)["on_hand"] == 2


def test_a_reservation_beyond_the_stock_is_422_naming_doses_and_what_is_available(http: Http):
    http.call("POST", RECEIPTS, http.headers("pharmacy"), json=receipt(doses=1))
    p = start(http, "P-1")
    head = http.position()
    r = complete(http, p, "tocilizumab_reservation", {"doses": 2}, "pharmacy", expect=422)
    body = assert_problem(r, 422, type_part="insufficient-stock")
    assert body["errors"]["doses"] and body["available"] == 1 and body["requested"] == 2
    assert "1 available" in body["detail"]
    assert http.position() == head and http.pathway(p["id"])["version"] == p["version"]
    assert complete(http, p, "tocilizumab_reservation", {"doses": 1}, "pharmacy").status_code == 200
    assert (stock(http)["reserved"], stock(http)["available"]) == (1, 0)


def test_a_patients_doses_are_reserved_used_and_released_through_its_tasks(http: Http):
    http.call("POST", RECEIPTS, http.headers("pharmacy"), json=receipt(doses=3))
    p = start(http, "P-1")
    p = complete(http, p, "tocilizumab_reservation", {"doses": 2}, "pharmacy").get_json()
    [held] = stock(http)["reservations"]
    assert held == {"pathway_id": p["id"], "doses": 2, "lots": [{"lot": "TCZ-1", "doses": 2}]}
    p = complete(http, p, "toxicity_treatment", {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": GIVEN},
                 "ward").get_json()
    s = stock(http)
    assert (s["on_hand"], s["reserved"], s["available"]) == (2, 1, 1)
    p = complete(http, p, "discharge", {"discharged_at": GIVEN}, "ward").get_json()
    assert p["outcome"] == "follow_up_handover"
    s = stock(http)
    assert (s["on_hand"], s["reserved"], s["available"], s["reservations"]) == (2, 0, 2, [])
    assert http.call("POST", f"/pathways/{p['id']}/verify", http.headers("auditor", centers=())).get_json()["ok"]


def test_the_openapi_document_describes_the_inventory(http: Http):
    spec = http.client.get("/api/v1/openapi.json").get_json()
    assert "post" in spec["paths"]["/api/v1/inventory/tocilizumab/receipts"]
    assert "get" in spec["paths"]["/api/v1/inventory/tocilizumab"]
    assert {"center", "doses", "lot", "expires_on"} <= set(spec["components"]["schemas"]["Receipt"]["properties"])


@pytest.mark.parametrize("method, path", [("POST", "/api/v1/inventory/tocilizumab/receipts"),
                                          ("GET", "/api/v1/inventory/tocilizumab")])
def test_inventory_operations_conform_to_the_openapi_document(http: Http, method, path):
    http.call("POST", RECEIPTS, http.headers("pharmacy"), json=receipt())
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", http.client.application)
    operation = schema[path][method]
    admin = http.headers("admin", centers=())

    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def conforms(case):
        case.call_and_validate(headers=admin, checks=CHECKS)
    conforms()


# -- the command line ---------------------------------------------------------------------------------
CLI = [str(Path(sys.executable).parent / "cartpath")]


def run(env, *args):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_receives_and_shows_and_refuses_in_one_line(tmp_path, env):
    cli_env = {**os.environ, **env, "CARTPATH_DATA_DIR": str(tmp_path)}
    got = run(cli_env, "inventory", "receive", "--center", "FR-01", "--doses", "3", "--lot", "L7",
              "--expires-on", "2026-06-30")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["available"] == 3
    shown = json.loads(run(cli_env, "inventory", "show", "--center", "FR-01").stdout)
    assert (shown["on_hand"], shown["lots"][0]["lot"], shown["today"]) == (3, "L7", T0.date().isoformat())
    for bad in (["--doses", "three"], ["--doses", "0"], ["--expires-on", "2026-02-30"], ["--lot", " "]):
        args = dict(zip(["--center", "--doses", "--lot", "--expires-on"], ["FR-01", "1", "L8", "2026-06-30"]))
        args.update(zip(bad[::2], bad[1::2]))
        proc = run(cli_env, "inventory", "receive", *[x for kv in args.items() for x in kv])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert json.loads(run(cli_env, "inventory", "show", "--center", "FR-01").stdout)["on_hand"] == 3
