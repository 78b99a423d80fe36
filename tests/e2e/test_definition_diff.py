"""The diff of two deployed versions, over HTTP and from the shell: the bundled pathway, then a
version with a new CRS threshold, a new optional form field and a longer slot timer."""
from __future__ import annotations

import io
import json

import pytest

from cartpath.engine.definition_diff import diff_versions
from tests.e2e.test_cli import cli_env, run  # noqa: F401  (the CLI test's fixture and runner)
from tests.support import variants as v
from tests.support.http import Http, assert_problem, http  # noqa: F401

THRESHOLD = "Decision 'crs_grade': rule 3 changed: Temperature (°C) >= 38.0 -> >= 38.5"
FIELD = "Task 'CAR-T infusion' (infusion): new optional field 'infusion_site' (string)"
TIMER = "Timer '5 days without answer' (timer_slot_5d): duration 5 days -> 7 days"


def second_version() -> dict[str, bytes]:
    files = v.dmn_cell(v.bundled(), "crs_grade_rule_3_in_1", ">= 38.5")
    files = v.field_added(files, "infusion", "infusion_site", "string", required=False)
    return v.timer_expression(files, "timer_slot_5d", '"P7D"')


def deploy_two(http: Http) -> None:
    http.engine.deploy(v.bundled())
    form = {"files": [(io.BytesIO(content), name) for name, content in sorted(second_version().items())]}
    r = http.call("POST", "/process-definitions", http.headers("process_owner"), data=form,
                  content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    assert [(i["key"], i["version"]) for i in r.get_json()["items"]] == [("cart_pathway", 2)]


def test_the_diff_of_two_deployed_versions_over_http(http: Http):
    deploy_two(http)
    r = http.call("GET", "/process-definitions/cart_pathway/versions/1/diff?against=2", http.headers("auditor"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["key"], body["from_version"], body["to_version"], body["identical"]) == ("cart_pathway", 1, 2, False)
    assert body["changes"] == [FIELD, TIMER, THRESHOLD]
    assert body["summary"]["rule_changes"] == 1 and body["summary"]["form_changes"] == 1
    assert [t["node"] for t in body["timers"]] == ["timer_slot_5d"]
    assert {n["id"] for n in body["nodes"]["changed"]} >= {"infusion", "timer_slot_5d", "crs_grading"}
    # the engine's function gives the same answer as the endpoint
    engine = http.engine
    direct = diff_versions(engine.model("cart_pathway", 1), engine.model("cart_pathway", 2))
    assert body == json.loads(json.dumps(direct))
    back = http.call("GET", "/process-definitions/cart_pathway/versions/2/diff?against=1", http.headers("auditor"))
    assert back.get_json()["changes"] == [FIELD.replace("new optional field 'infusion_site' (string)",
                                                        "field 'infusion_site' removed"),
                                          TIMER.replace("5 days -> 7 days", "7 days -> 5 days"),
                                          THRESHOLD.replace(">= 38.0 -> >= 38.5", ">= 38.5 -> >= 38.0")]
    same = http.call("GET", "/process-definitions/cart_pathway/versions/2/diff?against=2", http.headers("ward"))
    assert same.status_code == 200
    assert same.get_json()["changes"] == [] and same.get_json()["identical"] is True


@pytest.mark.parametrize("path, status, needle", [
    ("/process-definitions/nope/versions/1/diff?against=1", 404, "nope"),
    ("/process-definitions/cart_pathway/versions/9/diff?against=1", 404, "no version 9"),
    ("/process-definitions/cart_pathway/versions/1/diff?against=9", 422, "no version 9"),
    ("/process-definitions/cart_pathway/versions/1/diff", 422, "against"),
    ("/process-definitions/cart_pathway/versions/1/diff?against=two", 422, "against"),
    ("/process-definitions/cart_pathway/versions/1/diff?against=0", 422, "against"),
])
def test_unknown_versions_and_bad_against_are_problems(http: Http, path, status, needle):
    deploy_two(http)
    body = assert_problem(http.call("GET", path, http.headers("auditor")), status)
    assert needle in body["detail"]


def test_the_diff_needs_a_caller(http: Http):
    deploy_two(http)
    assert_problem(http.call("GET", "/process-definitions/cart_pathway/versions/1/diff?against=2"), 401)


def test_the_diff_from_the_shell(cli_env, tmp_path):  # noqa: F811
    first, second = tmp_path / "v1", tmp_path / "v2"
    for folder, files in ((first, v.bundled()), (second, second_version())):
        folder.mkdir()
        for name, content in files.items():
            (folder / name).write_bytes(content)
        run(cli_env, "deploy", *sorted(str(p) for p in folder.iterdir()))
    lines = run(cli_env, "definitions", "diff", "cart_pathway", "1", "2").stdout.splitlines()
    assert lines == ["cart_pathway version 1 -> version 2: 3 change(s) (5 node(s) changed, 1 form change(s), "
                     "1 timer change(s), 1 decision(s) changed, 1 rule change(s))",
                     f"  - {FIELD}", f"  - {TIMER}", f"  - {THRESHOLD}"]
    as_json = json.loads(run(cli_env, "definitions", "diff", "cart_pathway", "1", "2", "--json").stdout)
    assert as_json["changes"] == [FIELD, TIMER, THRESHOLD] and as_json["to_version"] == 2
    assert run(cli_env, "definitions", "diff", "cart_pathway", "2", "2").stdout.splitlines() == [
        "cart_pathway version 2 -> version 2: the same files"]
    undeployed = run(cli_env, "definitions", "diff", "cart_pathway", "2", str(first)).stdout.splitlines()
    assert undeployed[0].startswith("cart_pathway version 2 -> the files: 3 change(s)")
    assert undeployed[1] == "  - " + FIELD.replace("new optional field 'infusion_site' (string)",
                                                   "field 'infusion_site' removed")
    listed = json.loads(run(cli_env, "definitions").stdout)  # the plain listing still answers
    assert [(d["key"], d["version"]) for d in listed] == [("cart_pathway", 1), ("cart_pathway", 2)]
    for args, needle in ((["nope", "1", "2"], "no process definition 'nope'"),
                         (["cart_pathway", "1", "7"], "has no version 7"),
                         (["cart_pathway", "one", "2"], "V must be a version number")):
        proc = run(cli_env, "definitions", "diff", *args, check=False)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("error: ")
        assert needle in proc.stderr
