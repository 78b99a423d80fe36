"""The chain check as auditors use it: over HTTP (auditor, admin) and from the shell
(`cartpath audit check`, `audit anchor`), on the store the suite runs on."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.chain import db_id, raw
from tests.support.http import Http, assert_problem, http  # noqa: F401 (fixture)
from tests.support.store import FIXTURES

CLI = [str(Path(sys.executable).parent / "cartpath")]


def _walk_to_check(http: Http, n: int = 2) -> list[dict]:
    return [http.to_check(f"P-{i:04d}", f"ORD-{i}", f"COI-{i}") for i in range(n)]


def test_auditors_see_an_untouched_store_pass_then_the_edited_event_named(http: Http, tmp_path):
    pathways = _walk_to_check(http)
    auditor = http.headers("auditor", centers=())
    body = http.call("GET", "/audit/integrity", auditor).get_json()
    assert body["ok"] is True and body["first_failure"] is None and body["checked"] == http.position()
    one = http.call("GET", f"/audit/integrity?pathway={pathways[1]['id']}", http.headers("admin", centers=()))
    assert one.status_code == 200 and one.get_json()["ok"] is True and one.get_json()["pathway_id"] == pathways[1]["id"]

    env = dict(http.engine.env)
    position = raw(env, "SELECT {pos} FROM {events} WHERE originator_id = ? AND originator_version = 2",
                   (db_id(http.engine.get_pathway(pathways[1]["id"]).id),))[0][0]
    raw(env, "UPDATE {events} SET state = state || ? WHERE {pos} = ?", (b" ", position))
    body = http.call("GET", "/audit/integrity", auditor).get_json()
    assert body["ok"] is False
    assert body["first_failure"] == {"position": position, "originator_id": pathways[1]["id"], "version": 2,
                                     "kind": "altered", "detail": body["first_failure"]["detail"]}
    assert http.call("GET", f"/audit/integrity?pathway={pathways[0]['id']}", auditor).get_json()["ok"] is True


def test_only_auditors_and_admins_check_and_bad_input_is_a_problem(http: Http):
    _walk_to_check(http, 1)
    assert_problem(http.call("GET", "/audit/integrity", http.headers("pharmacy")), 403)
    assert_problem(http.call("GET", "/audit/integrity?pathway=nope", http.headers("auditor", centers=())), 422)
    assert_problem(http.call("GET", "/audit/integrity?anchor=xyz", http.headers("auditor", centers=())), 422)
    missing = "/audit/integrity?pathway=00000000-0000-0000-0000-000000000001"
    assert_problem(http.call("GET", missing, http.headers("auditor", centers=())), 404)


def test_an_anchor_over_http_and_from_the_shell(tmp_path, env):
    cli_env = {**os.environ, **env, "CARTPATH_DATA_DIR": str(tmp_path)}
    cli_env.pop("FLASK_APP", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], env=cli_env, capture_output=True, text=True, timeout=120)

    assert run("deploy", str(FIXTURES / "mini_pathway.bpmn")).returncode == 0
    assert run("start", "--patient-ref", "PSN-1", "--center", "FR-01", "--indication", "DLBCL",
               "--product", "axi-cel", "--process", "mini_pathway").returncode == 0
    anchor = run("audit", "anchor")
    assert anchor.returncode == 0 and len(anchor.stdout.strip()) == 64
    hash_ = anchor.stdout.strip()
    checked = run("audit", "check", "--anchor", hash_)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().splitlines()[-2:][0].endswith("the store extends it")
    assert checked.stdout.strip().splitlines()[-1].startswith("ok: store:")

    raw(env, "DELETE FROM {events} WHERE {pos} = (SELECT MAX({pos}) FROM {events})")
    failed = run("audit", "check", "--anchor", hash_)
    assert failed.returncode == 1
    first = failed.stdout.splitlines()[0]
    assert first.startswith("removed at position ")
    assert failed.stdout.strip().splitlines()[-1].startswith("FAILED: store:")
    refused = run("audit", "check", "--pathway", "not-a-pathway")
    assert refused.returncode == 1 and refused.stderr.strip().startswith("error: ")
