"""Deploying process definitions over HTTP: new versions, lint problems with file and line,
and hostile files refused with nothing deployed."""
from __future__ import annotations

import io

import pytest

from tests.support.http import MINI_MFR, Http, assert_problem, http  # noqa: F401


def upload(http: Http, *files: tuple[str, bytes], who=None):
    form = {"files": [(io.BytesIO(content), name) for name, content in files]}
    return http.call("POST", "/process-definitions", who or http.headers("process_owner", sub="po-1"), data=form,
                     content_type="multipart/form-data")


def definitions(http: Http) -> list[tuple[str, int]]:
    items = http.call("GET", "/process-definitions", http.headers("auditor")).get_json()["items"]
    return [(d["key"], d["version"]) for d in items]


def test_upload_deploys_a_new_version_once(http: Http):
    changed = MINI_MFR.replace(b'label="Note"', b'label="Remark"')
    r = upload(http, ("mini_mfr.bpmn", changed))
    assert r.status_code == 201
    [item] = r.get_json()["items"]
    assert (item["key"], item["version"], item["created"]) == ("mini_mfr", 2, True)
    assert int(r.headers["X-Cartpath-Position"]) == http.position()
    again = upload(http, ("mini_mfr.bpmn", changed))
    assert again.status_code == 200 and again.get_json()["items"][0]["created"] is False
    assert definitions(http) == [("mini_mfr", 1), ("mini_mfr", 2)]
    [v2] = [d for d in http.call("GET", "/process-definitions", http.headers("auditor")).get_json()["items"]
            if d["version"] == 2]
    assert v2["deployed_by"] == "po-1"
    assert http.call("GET", "/process-definitions/mini_mfr/versions/2/bpmn", http.headers("auditor")).data == changed
    started = http.start("P-5")  # new pathways take the latest version
    assert started["definition"]["version"] == 2


def test_lint_problems_name_file_and_line(http: Http):
    broken = MINI_MFR.replace(b'<bpmn:lane id="pharmacy" name="pharmacy">', b'<bpmn:lane id="pharmacy" name="kitchen">')
    r = upload(http, ("mini_mfr.bpmn", broken))
    body = assert_problem(r, 422, type_part="definition-rejected")
    [problem] = [p for p in body["problems"] if "kitchen" in p["message"]]
    check_line = broken[:broken.index(b'<bpmn:userTask id="check"')].count(b"\n") + 1
    assert problem["file"] == "mini_mfr.bpmn" and problem["line"] == check_line
    assert any(key.startswith("mini_mfr.bpmn:") for key in body["errors"])
    assert definitions(http) == [("mini_mfr", 1)]


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">&xxe;</bpmn:definitions>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">&lol4;</bpmn:definitions>"""
SCRIPT_OS = MINI_MFR.replace(b"mini_mfr", b"mini_evil").replace(
    b"count = 1", b"import os\ncount = len(os.listdir('/'))")
SCRIPT_DUNDER = MINI_MFR.replace(b"mini_mfr", b"mini_evil").replace(
    b"count = 1", b"count = ().__class__.__base__.__subclasses__()")
CONDITION_OS = MINI_MFR.replace(b"mini_mfr", b"mini_evil").replace(
    b'intake["ok"] == True', b'__import__("os").system("touch cartpath-pwned") == 0')


@pytest.mark.parametrize("name, content, says", [
    ("xxe.bpmn", XXE, "DOCTYPE"),
    ("laughs.bpmn", LAUGHS, "DOCTYPE"),
    ("evil.bpmn", SCRIPT_OS, "mport"),
    ("evil.bpmn", SCRIPT_DUNDER, "evil.bpmn"),
    ("evil.bpmn", CONDITION_OS, "evil.bpmn"),
], ids=["external-entity", "billion-laughs", "script-imports-os", "script-dunder-escape", "condition-imports-os"])
def test_hostile_files_are_refused_and_nothing_is_deployed(http: Http, name, content, says):
    before = http.position()
    r = upload(http, (name, content))
    body = assert_problem(r, 422, type_part="definition-rejected")
    assert says in body["detail"] + str(body["problems"])
    assert all(p["file"] == name for p in body["problems"])
    assert http.position() == before and definitions(http) == [("mini_mfr", 1)]


def test_one_bad_file_refuses_the_whole_set(http: Http):
    good = MINI_MFR.replace(b"mini_mfr", b"mini_good")
    before = http.position()
    r = upload(http, ("good.bpmn", good), ("xxe.bpmn", XXE))
    assert_problem(r, 422)
    assert http.position() == before and definitions(http) == [("mini_mfr", 1)]


@pytest.mark.parametrize("files, says", [
    ((("notes.txt", b"hello"),), "only .bpmn and .dmn"),
    ((("a.bpmn", MINI_MFR), ("a.bpmn", MINI_MFR)), "two files"),
    ((("../../etc/x.txt", b"x"),), "only .bpmn"),
], ids=["wrong-extension", "duplicate-name", "path-in-name"])
def test_upload_form_problems_are_422(http: Http, files, says):
    before = http.position()
    body = assert_problem(upload(http, *files), 422)
    assert says in body["detail"]
    assert http.position() == before


def test_an_empty_upload_is_422(http: Http):
    r = http.call("POST", "/process-definitions", http.headers("process_owner"), data={},
                  content_type="multipart/form-data")
    assert "files" in assert_problem(r, 422)["errors"]
