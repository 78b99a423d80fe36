"""Issue 11, input and isolation: hostile requests are refused cheaply, as problem+json, recording
nothing and quoting nothing in the log, while the other pathways go on as before."""
from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from tests.support.bodies import CountingBody
from tests.support.http import MINI_MFR, Http, assert_problem, http, make_http  # noqa: F401

SIXTEEN_MB = 16 * 1024 * 1024
START = {"patient_ref": "P-0007", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
         "process_key": "mini_mfr"}


def unchanged(http: Http, before: int) -> None:
    assert http.position() == before, "a refused request recorded something"


def other_pathway(http: Http) -> dict:
    """A pathway already under way at another centre: every refusal below must leave it as it was."""
    return http.intake(http.start("P-OTHER-1", center="FR-02"), "ORD-OTHER", "ACME")


def goes_on(http: Http, other: dict) -> None:
    before = http.pathway(other["id"])
    assert http.slot("ORD-OTHER", "COI-OTHER").status_code == 200
    assert http.pathway(other["id"])["version"] > before["version"]


def test_a_body_is_never_read_before_the_token_is_valid(http: Http):
    other = other_pathway(http)
    before = http.position()
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        body = CountingBody(SIXTEEN_MB)
        r = http.client.post("/api/v1/pathways", input_stream=body, content_length=SIXTEEN_MB,
                             content_type="application/json", headers=headers)
        assert_problem(r, 401, type_part="unauthenticated")
        assert body.read_bytes == 0
    # with a valid token, a body over the limit is refused on its announced length, unread as well
    body = CountingBody(SIXTEEN_MB)
    r = http.client.post("/api/v1/pathways", input_stream=body, content_length=SIXTEEN_MB,
                         content_type="application/json", headers=http.headers("coordination"))
    assert_problem(r, 413, type_part="body-too-large")
    assert body.read_bytes == 0
    unchanged(http, before)
    goes_on(http, other)


@pytest.mark.parametrize("depth", [33, 1000, 200_000])
def test_deeply_nested_json_is_a_422_without_a_stack_trace(http: Http, caplog, depth):
    other = other_pathway(http)
    intake = http.task(http.start(), "intake")
    before = http.position()
    caplog.set_level(logging.DEBUG)
    data = b'{"data": {"note": ' + b"[" * depth + b"]" * depth + b"}}"
    r = http.call("POST", f"/tasks/{intake['id']}/complete", http.headers("coordination"),
                  data=data, content_type="application/json")
    body = assert_problem(r, 422, type_part="validation-failed")
    assert "32 levels" in body["detail"]
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
    unchanged(http, before)
    goes_on(http, other)


def test_a_5000_digit_number_is_a_problem_not_a_crash(http: Http, caplog):
    other = other_pathway(http)
    before = http.position()
    for number in (b"9" * 5000, b"-" + b"1" * 65, b"1." + b"0" * 100, b"NaN", b"Infinity"):
        r = http.call("POST", "/timers/fire", http.headers("admin", centers=()), data=b'{"now": ' + number + b"}",
                      content_type="application/json")
        assert_problem(r, 422, type_part="validation-failed")
    assert "Traceback" not in caplog.text
    unchanged(http, before)
    goes_on(http, other)


@pytest.mark.parametrize("if_match", ['"\u00b2"', '"' + "9" * 5000 + '"', "W/", '"3" "4"', "\u0663"])
def test_a_bad_if_match_is_a_400_problem(http: Http, if_match):
    p = http.start()
    before = http.position()
    r = http.call("POST", f"/pathways/{p['id']}/cancel", http.headers("coordination"),
                  headers={"If-Match": if_match.encode("utf-8").decode("latin-1")}, json={"reason": "other"})
    assert "If-Match" in assert_problem(r, 400, type_part="malformed-request")["detail"]
    unchanged(http, before)


@pytest.mark.parametrize("name", ["процесс.bpmn", "pathé \"v2\".bpmn", "流程.bpmn", "plain.bpmn"])
def test_a_stored_file_of_any_name_downloads(tmp_path, name):
    http = make_http(tmp_path)
    process = MINI_MFR.replace(b"mini_mfr", b"mini_named")
    http.engine.deploy({name: process})
    reader = http.headers("process_owner", centers=())
    for path in (f"/process-definitions/mini_named/versions/1/files/{quote(name)}",
                 "/process-definitions/mini_named/versions/1/bpmn"):
        r = http.call("GET", path, reader)
        assert r.status_code == 200 and r.data == process
        disposition = r.headers["Content-Disposition"]
        disposition.encode("ascii")  # a header is Latin-1: the name travels percent-encoded
        fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
        assert fallback and '"' not in fallback
        if name.isascii() and '"' not in name:
            assert "filename*" not in disposition and fallback == name
        else:
            assert disposition.endswith("filename*=UTF-8''" + quote(name, safe=""))


@pytest.mark.parametrize("ref", ["Jean Dupont", "DUPONT", "P1", "x" * 64 + "1", "P-1 ", "P-\u202e1", "P-1\n",
                                 "P\u00e91", "P-\u0661\u0662"])
def test_a_patient_ref_that_does_not_look_pseudonymous_is_refused(http: Http, ref):
    other = other_pathway(http)
    before = http.position()
    r = http.call("POST", "/pathways", http.headers("coordination"), json=dict(START, patient_ref=ref))
    body = assert_problem(r, 422)
    assert list(body["errors"]) == ["patient_ref"]
    unchanged(http, before)
    goes_on(http, other)


def test_the_patient_ref_pattern_is_the_sites_to_choose(tmp_path):
    http = make_http(tmp_path, env={"CARTPATH_PATIENT_REF_PATTERN": r"IPP[0-9]{6}"})
    assert http.call("POST", "/pathways", http.headers("coordination"),
                     json=dict(START, patient_ref="IPP123456")).status_code == 201
    body = assert_problem(http.call("POST", "/pathways", http.headers("coordination"),
                                    json=dict(START, patient_ref="P-0007")), 422)
    assert "CARTPATH_PATIENT_REF_PATTERN" in body["errors"]["patient_ref"][0]


@pytest.mark.parametrize("text", ["red\x1b[31m", "abc\u202edcb", "nul\x00", "iso\u2066late", "c1\x85"])
def test_control_and_bidi_characters_are_refused_in_every_free_text_field(http: Http, text):
    other = other_pathway(http)
    p = http.start()
    intake = http.task(p, "intake")
    before = http.position()
    coordination = http.headers("coordination")
    for method, path, body, field in (
            ("POST", f"/tasks/{intake['id']}/complete",
             {"data": {"ok": True, "order_id": "ORD-1", "manufacturer": "ACME", "note": text}}, "note"),
            ("POST", f"/tasks/{intake['id']}/complete",
             {"data": {"ok": True, "order_id": text, "manufacturer": "ACME"}}, "order_id"),
            ("POST", f"/pathways/{p['id']}/cancel", {"reason": "other", "comment": text}, "comment"),
            ("POST", "/pathways", dict(START, business_key=text), "business_key"),
            ("POST", "/pathways", dict(START, indication=text), "indication")):
        r = http.call(method, path, coordination, json=body)
        assert field in assert_problem(r, 422)["errors"], (path, field)
    mfr = http.headers("manufacturer", centers=(), org="ACME")
    for body, field in (({"name": "slot_confirmed", "message_id": text, "correlation": {"order_id": "ORD-OTHER",
                                                                                        "coi": "COI-OTHER"}},
                         "message_id"),
                        ({"name": "slot_confirmed", "message_id": "m-x", "correlation": {"order_id": "ORD-OTHER",
                                                                                         "coi": "COI-OTHER"},
                          "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": text}},
                         "manufacturing_slot")):
        r = http.call("POST", "/messages", mfr, json=body)
        assert field in str(assert_problem(r, 422)["errors"])
    unchanged(http, before)
    # a line break stays allowed in prose (a comment), never in an identifier
    r = http.call("POST", f"/pathways/{p['id']}/cancel", coordination, json={"reason": "other", "comment": "a\nb"})
    assert r.status_code == 200
    goes_on(http, other)


def test_a_business_key_used_at_another_centre_is_neither_shown_nor_blocking(http: Http):
    def start(center: str, ref: str, key: str = "BK-1"):
        return http.call("POST", "/pathways", http.headers("coordination", centers=(center,)),
                         json=dict(START, center=center, patient_ref=ref, business_key=key))
    first = start("FR-01", "P-0001")
    assert first.status_code == 201
    # another centre, same key, other content: its own new pathway, and nothing of FR-01's in the answer
    second = start("FR-02", "P-0002")
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["id"] != first.get_json()["id"] and "P-0001" not in second.get_data(as_text=True)
    # each centre's repeat is idempotent for itself; its conflict is its own
    again = start("FR-02", "P-0002")
    assert again.status_code == 200 and again.get_json()["id"] == second.get_json()["id"]
    assert start("FR-01", "P-0001").get_json()["id"] == first.get_json()["id"]
    before = http.position()
    conflict = assert_problem(start("FR-02", "P-0003"), 409, type_part="business-key-conflict")
    assert first.get_json()["id"] not in conflict["detail"]
    unchanged(http, before)


def test_order_ids_are_each_manufacturers_own(http: Http):
    acme = http.intake(http.start("P-0001", center="FR-01"), "ORD-7", "ACME")
    beta = http.intake(http.start("P-0002", center="FR-02"), "ORD-7", "BETA")  # the same order id, another company
    assert beta["status"] == "active"
    # each company's message goes to its own order's pathway
    assert http.slot("ORD-7", "COI-B", org="BETA").get_json()["pathway_id"] == beta["id"]
    assert http.slot("ORD-7", "COI-A", org="ACME").get_json()["pathway_id"] == acme["id"]
    assert http.pathway(acme["id"])["correlation"]["coi"] == "COI-A"
    assert http.pathway(beta["id"])["correlation"]["coi"] == "COI-B"
    again = http.start("P-0003", center="FR-01")
    before = http.position()
    # the same company reusing its order id is still refused
    r = http.call("POST", f"/tasks/{http.task(again, 'intake')['id']}/complete", http.headers("coordination"),
                  json={"data": {"ok": True, "order_id": "ORD-7", "manufacturer": "BETA"}})
    assert "order_id" in assert_problem(r, 422)["errors"]
    # an administrator must say which company speaks for an order id two of them use
    body = {"name": "manufacturing_status", "message_id": "adm-1", "correlation": {"order_id": "ORD-7", "coi": "COI-A"},
            "payload": {"stage": "qc", "at": "2026-01-06T08:00:00+00:00"}}
    assert "org" in assert_problem(http.call("POST", "/messages", http.headers("admin", centers=()), json=body),
                                   422)["errors"]
    unchanged(http, before)


def test_a_message_id_is_the_senders_and_a_changed_repeat_is_a_409(http: Http):
    acme = http.intake(http.start("P-0001"), "ORD-1", "ACME")
    beta = http.intake(http.start("P-0002"), "ORD-2", "BETA")
    first = http.slot("ORD-1", "COI-A", org="ACME", message_id="m-1")
    assert first.status_code == 200 and first.get_json()["duplicate"] is False
    assert http.slot("ORD-1", "COI-A", org="ACME", message_id="m-1").get_json()["duplicate"] is True
    before = http.position()
    changed = assert_problem(http.slot("ORD-1", "COI-Z", org="ACME", message_id="m-1"), 409,
                             type_part="message-id-reused")
    assert "m-1" in changed["detail"]
    unchanged(http, before)
    other = http.slot("ORD-2", "COI-B", org="BETA", message_id="m-1")  # BETA's m-1 is its own
    assert other.status_code == 200 and other.get_json()["pathway_id"] == beta["id"]
    assert http.pathway(acme["id"])["correlation"]["coi"] == "COI-A"


def test_security_headers_on_every_answer(http: Http):
    answers = [http.client.get("/api/v1/health"), http.client.get("/api/v1/openapi.json"),
               http.call("GET", "/pathways"), http.call("GET", "/no-such-thing", http.headers("admin")),
               http.client.get("/"), http.client.get("/api/v1/docs"), http.client.get("/api/v1/docs/swagger-ui.css")]
    for r in answers:
        assert r.headers["X-Content-Type-Options"] == "nosniff", r
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert answers[2].status_code == 401 and answers[2].headers["Cache-Control"] == "no-store"


def test_the_docs_page_needs_nothing_from_another_site(http: Http):
    page = http.client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "http" not in csp
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "<script>" not in html  # no inline script
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "cartpath-docs.js"):
        r = http.client.get(f"/api/v1/docs/{asset}")
        assert r.status_code == 200 and len(r.data) > 100, asset
        assert asset in html
    assert http.client.get("/api/v1/docs/../../setup.cfg").status_code == 404
    assert http.client.get("/api/v1/docs/index.j2").status_code == 404
