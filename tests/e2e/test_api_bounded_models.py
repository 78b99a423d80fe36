"""Process files whose scripts, conditions or decision cells would run away: refused at deploy
(422 problem+json naming the element) whenever the source shows it, with nothing recorded and
the pathways already running unaffected; and a file of many processes deploys at the cost its
size warrants, its files stored once."""
from __future__ import annotations

import pytest

from tests.e2e.test_api_definitions import definitions, upload
from tests.support.http import MINI_MFR, Http, assert_problem, http  # noqa: F401

EVIL = MINI_MFR.replace(b"mini_mfr", b"mini_evil")


def with_script(script: bytes) -> bytes:
    return EVIL.replace(b'coi = slot_confirmed["coi"]\ncount = 1', script)


def with_condition(condition: bytes) -> bytes:
    return EVIL.replace(b'intake["ok"] == True', condition)


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">
<decision id="long_cell" name="Long"><decisionTable id="t" hitPolicy="UNIQUE">
<input id="i1"><inputExpression id="ie1" typeRef="integer"><text>n</text></inputExpression></input>
<output id="o1" name="r" typeRef="integer"/>
<rule id="r1"><inputEntry id="cell_1"><text>{cell}</text></inputEntry>
<outputEntry id="out_1"><text>1</text></outputEntry></rule>
</decisionTable></decision></definitions>"""


@pytest.mark.parametrize("content, element, says", [
    (with_script(b"x = [0] * 10000000"), "count", "repetition makes 10000000 items"),
    (with_script(b"x = 'ab' * 1000000"), "count", "repetition makes 2000000 items"),
    (with_script(b"x = 2 ** 1000000000"), "count", "Pow is not allowed"),
    (with_script(b"x = 1 &lt;&lt; 100000000"), "count", "LShift is not allowed"),
    (with_script(b"x = " + b"1" * 200), "count", "integer literal larger than 256 bits"),
    (with_script(b"x = 1\n" * 5000), "count", "longer than the limit of 20000"),
    (with_condition(b"(" * 100_000 + b"1" + b")" * 100_000), "f4", "longer than the limit of 4000"),
    (with_condition(b"(" * 1500 + b"1" + b")" * 1500), "f4", "nested deeper than 50"),
    (with_condition(b"[" * 1500 + b"]" * 1500), "f4", "nested deeper than 50"),
    (with_condition(b"-(" * 1000 + b"1" + b")" * 1000), "f4", "nested deeper than 50"),
    (with_condition(b"-" * 3000 + b"1"), "f4", "nested deeper than 50"),
    (with_condition(b"+".join([b"1"] * 1500)), "f4", "nested deeper than 50"),
    (with_condition(b"1" + b" " * 10_000), "f4", "longer than the limit of 4000"),
], ids=["literal-list-repeat", "literal-string-repeat", "power", "shift", "huge-literal", "long-script",
        "100k-nested-parens", "nested-parens", "nested-lists", "nested-negation", "unary-chain", "operator-chain",
        "long-condition"])
def test_runaway_sources_are_refused_at_deploy_naming_the_element(http: Http, content, element, says):
    running = http.start("P-1001")  # a pathway already on its way
    before = http.position()
    body = assert_problem(upload(http, ("evil.bpmn", content)), 422, type_part="definition-rejected")
    [problem] = [p for p in body["problems"] if says in p["message"]]
    assert element in problem["message"] and problem["file"] == "evil.bpmn" and problem["line"]
    assert len(str(body)) < 10_000  # the hostile source is never echoed whole
    assert http.position() == before and definitions(http) == [("mini_mfr", 1)]
    assert http.pathway(running["id"])["status"] == running["status"]
    http.intake(running)  # and it goes on
    assert http.start("P-1002")["definition"]["key"] == "mini_mfr"


@pytest.mark.parametrize("cell, says", [
    ("?" * 100_000, "longer than the limit of 4000"),
    ("'" + "?" * 3000 + "' == ? or " * 3, "syntax error"),
    ("(" * 1000 + "?" + ")" * 1000, "nested deeper than 50"),
], ids=["question-marks", "quoted-question-marks", "nested"])
def test_long_and_deep_decision_cells_are_refused_at_deploy(http: Http, cell, says):
    before = http.position()
    dmn = DMN.format(cell=cell).encode()
    body = assert_problem(upload(http, ("mini_mfr.bpmn", MINI_MFR), ("long.dmn", dmn)), 422,
                          type_part="definition-rejected")
    [problem] = [p for p in body["problems"] if says in p["message"]]
    assert "inputEntry cell_1" in problem["message"] and problem["file"] == "long.dmn"
    assert len(str(body)) < 10_000
    assert http.position() == before and definitions(http) == [("mini_mfr", 1)]


def many_processes(count: int) -> bytes:
    """One file defining ``count`` copies of the mini process, each its own key."""
    head, rest = MINI_MFR.split(b"<bpmn:process", 1)
    process, tail = rest.split(b"</bpmn:process>", 1)
    body, diagram = tail, b""
    if b"<bpmndi:BPMNDiagram" in tail:
        body, diagram = tail.split(b"<bpmndi:BPMNDiagram", 1)
        diagram = b"<bpmndi:BPMNDiagram" + diagram
    copies = []
    for i in range(count):
        copy = (b"<bpmn:process" + process + b"</bpmn:process>")
        copies.append(copy.replace(b'id="mini_mfr"', b'id="mini_mfr_%d"' % i))
    return head + b"".join(copies) + body + diagram


def stored_bytes_since(http: Http, position: int) -> int:
    return sum(len(n.state) for n in http.engine.recorder.select_notifications(start=position + 1, limit=10_000))


def test_a_file_of_many_processes_deploys_each_once_and_stores_its_bytes_once(http: Http):
    content = many_processes(40)
    before = http.position()
    r = upload(http, ("many.bpmn", content))
    assert r.status_code == 201, r.get_json()
    assert sorted(item["key"] for item in r.get_json()["items"]) == sorted(f"mini_mfr_{i}" for i in range(40))
    # 40 versions, one copy of the file: a copy per process would be 40 times the file
    assert stored_bytes_since(http, before) < 2 * len(content) + 40 * 2048
    assert http.call("GET", "/process-definitions/mini_mfr_7/versions/1/bpmn", http.headers("auditor")).data == content
    pathway = http.start("P-2001", process_key="mini_mfr_31")
    assert pathway["definition"] == {"key": "mini_mfr_31", "version": 1, "sha256": r.get_json()["items"][0]["sha256"]}
    http.intake(pathway)
    # the same set again records nothing
    after = http.position()
    assert upload(http, ("many.bpmn", content)).status_code == 200 and http.position() == after


def test_an_older_set_deployed_again_is_a_new_version_on_the_files_already_stored(http: Http):
    changed = MINI_MFR.replace(b'label="Note"', b'label="Remark"')
    assert upload(http, ("mini_mfr.bpmn", changed)).status_code == 201
    before = http.position()
    r = upload(http, ("mini_mfr.bpmn", MINI_MFR))
    assert r.status_code == 201 and r.get_json()["items"][0]["version"] == 3
    assert stored_bytes_since(http, before) < len(MINI_MFR)  # a version, not the file again
    assert http.call("GET", "/process-definitions/mini_mfr/versions/3/bpmn", http.headers("auditor")).data == MINI_MFR
    assert http.start("P-3001")["definition"]["version"] == 3
