"""``cartpath incidents`` and ``cartpath incidents retry`` from the shell, and ``tick``'s report."""
from __future__ import annotations

import json

from tests.e2e.test_cli import cli_env, run  # noqa: F401  (the fixture, too)
from tests.support.store import FIXTURES


def test_incidents_listed_and_retried_from_the_shell(cli_env):  # noqa: F811
    run(cli_env, "deploy", str(FIXTURES / "incident_pathway.bpmn"))
    started = json.loads(run(cli_env, "start", "--patient-ref", "PSN-41", "--center", "FR-01", "--indication",
                             "DLBCL", "--product", "axi-cel", "--process", "incident_pathway").stdout)
    pid = started["id"]
    run(cli_env, "complete", pid, "dose", '{"divisor": 0}')
    ticked = json.loads(run(cli_env, "tick", "--now", "2026-01-05T10:00:00Z").stdout)
    assert ticked["fired"] == 1 and [i["pathway_id"] for i in ticked["incidents"]] == [pid]
    listed = json.loads(run(cli_env, "incidents").stdout)
    assert [i["pathway_id"] for i in listed] == [pid] and listed[0]["node"] == "compute"
    assert json.loads(run(cli_env, "incidents", "--center", "FR-02").stdout) == []
    incident_id = listed[0]["incident_id"]
    refused = run(cli_env, "incidents", "retry", pid, "not-an-incident", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    retried = json.loads(run(cli_env, "incidents", "retry", pid, incident_id, "--data",
                             '{"dose": {"divisor": 5}}').stdout)
    assert retried["incident"] is None and retried["ready"] == ["review"]
    assert json.loads(run(cli_env, "incidents").stdout) == []
    assert json.loads(run(cli_env, "verify", pid).stdout)["ok"] is True
    late = run(cli_env, "tick", "--now", "2201-01-01T00:00:00Z", check=False)
    assert late.returncode == 1 and "between 1970-01-01 and 2200-01-01" in late.stderr
