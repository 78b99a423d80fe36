"""The cartpath command line, run as a user runs it: a real process, a real store."""
import json
import os
from pathlib import Path

import pytest

from tests.support.cli import run
from tests.support.store import FIXTURES, T0


@pytest.fixture
def cli_env(tmp_path, env):
    full = {**os.environ, **env, "CARTPATH_DATA_DIR": str(tmp_path)}
    full.pop("FLASK_APP", None)
    return full


def test_a_pathway_driven_from_the_shell_verifies(cli_env):
    run(cli_env, "deploy", str(FIXTURES / "mini_pathway.bpmn"))
    started = json.loads(run(cli_env, "start", "--patient-ref", "PSN-1", "--center", "FR-01", "--indication", "DLBCL",
                             "--product", "axi-cel", "--process", "mini_pathway").stdout)
    pid = started["id"]
    assert [t["name"] for t in started["tasks"]] == ["intake"]
    run(cli_env, "complete", pid, "intake", '{"ok": true, "order_id": "ORD-7"}')
    run(cli_env, "message", "slot_confirmed", "--message-id", "m1", "--order-id", "ORD-7", "--coi", "W1",
        "--payload", '{"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}')
    ticked = json.loads(run(cli_env, "tick", "--now", "2026-01-07T00:00:00Z").stdout)
    assert ticked["fired"] == 1
    done = json.loads(run(cli_env, "complete", pid, "check", '{"coi_scanned": "W1", "n": 3}').stdout)
    assert (done["status"], done["outcome"]) == ("ended", "follow_up_handover")
    history = json.loads(run(cli_env, "history", pid).stdout)
    assert history[0]["type"] == "Started" and history[-1]["type"] == "PathwayEnded"
    assert json.loads(run(cli_env, "verify", pid).stdout)["ok"] is True
    assert "1 ok, 0 diverged" in run(cli_env, "verify", "--all").stdout


@pytest.mark.parametrize("args, needle", [
    (["complete", "00000000-0000-0000-0000-000000000000", "intake", "{}"], "does not exist"),
    (["verify"], "give a PATHWAY_ID or --all"),
    (["tick", "--now", "yesterday"], "error:"),
    (["message", "slot_confirmed", "--message-id", "x", "--order-id", "NOPE", "--coi", "C",
      "--payload", '{"apheresis_date": "2026-02-01", "manufacturing_slot": "S"}'], "no pathway is waiting"),
    (["message", "slot_confirmed", "--message-id", "x", "--order-id", "NOPE", "--payload", "{oops"], "not valid JSON"),
])
def test_refusals_are_one_plain_line_and_exit_1(cli_env, args, needle):
    run(cli_env, "deploy", str(FIXTURES / "mini_pathway.bpmn"))
    proc = run(cli_env, *args, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_lint_names_file_and_line(cli_env, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes((FIXTURES / "mini_pathway.bpmn").read_bytes().replace(b"count = 1", b"import os"))
    proc = run(cli_env, "lint", str(bad), check=False)
    assert proc.returncode == 1
    assert any(line.startswith("bad.bpmn:") and "Import is not allowed" in line for line in proc.stderr.splitlines())
    assert "ok: 1 file(s) clean" in run(cli_env, "lint", str(FIXTURES / "mini_pathway.bpmn")).stdout


def test_cancel_v2_and_scoped_message_ids_from_the_shell(cli_env):
    """`cartpath cancel --reason death` carries --death-date and --death-cause; `cartpath message
    --org` speaks for one manufacturer, and a message id repeated with other content is one error line."""
    run(cli_env, "deploy", str(FIXTURES / "mini_pathway.bpmn"))
    pid = json.loads(run(cli_env, "start", "--patient-ref", "PSN-2", "--center", "FR-01", "--indication", "DLBCL",
                         "--product", "axi-cel", "--process", "mini_pathway").stdout)["id"]
    run(cli_env, "complete", pid, "intake", '{"ok": true, "order_id": "ORD-8"}')
    slot = ["message", "slot_confirmed", "--message-id", "m1", "--order-id", "ORD-8", "--coi", "W8"]
    first = json.loads(run(cli_env, *slot, "--payload", '{"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}')
                       .stdout)
    assert first["duplicate"] is False
    again = run(cli_env, *slot, "--payload", '{"apheresis_date": "2026-02-01", "manufacturing_slot": "S2"}',
                check=False)
    assert again.returncode == 1 and again.stderr.strip().splitlines() == [again.stderr.strip()]
    assert again.stderr.startswith("error: message_id 'm1' was already used")
    other_org = run(cli_env, *slot, "--org", "someone-else", "--payload",
                    '{"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}', check=False)
    assert other_org.returncode == 1 and "no pathway is waiting" in other_org.stderr  # its own id, not our order
    missing = run(cli_env, "cancel", pid, "--reason", "death", check=False)
    assert missing.returncode == 1 and "error: a death cancel carries death_date and death_cause" in missing.stderr
    today = T0.date().isoformat()
    done = json.loads(run(cli_env, "cancel", pid, "--reason", "death", "--death-date", today,
                          "--death-cause", "infection").stdout)
    assert (done["status"], done["outcome"]) == ("ended", "cancelled")
    history = json.loads(run(cli_env, "history", pid).stdout)
    [cancelled] = [h for h in history if h["type"] == "Cancelled"]
    assert (cancelled["data"]["death_date"], cancelled["data"]["death_cause"]) == (today, "infection")
    assert json.loads(run(cli_env, "verify", pid).stdout)["ok"] is True


def test_migrate_from_the_shell_plans_moves_and_verifies(cli_env, tmp_path):
    changed = tmp_path / "v2"
    changed.mkdir()
    for source in (Path(__file__).resolve().parents[2] / "processes").iterdir():
        if source.suffix in (".bpmn", ".dmn"):
            text = source.read_bytes()
            (changed / source.name).write_bytes(text.replace(b"38.0", b"37.5") if source.name == "crs_grade.dmn"
                                                else text)
    run(cli_env, "deploy")
    pid = json.loads(run(cli_env, "start", "--patient-ref", "PSN-1", "--center", "FR-01", "--indication", "DLBCL",
                         "--product", "axi-cel").stdout)["id"]
    [v2] = json.loads(run(cli_env, "deploy", str(changed)).stdout)
    plan = json.loads(run(cli_env, "migrate", "cart_pathway", "--from", "1", "--to", str(v2["version"]),
                          "--dry-run").stdout)
    assert [(p["pathway_id"], p["status"]) for p in plan["pathways"]] == [(pid, "movable")]
    refused = run(cli_env, "migrate", "cart_pathway", "--from", "1", "--to", "2", "--map", "nothing", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    moved = json.loads(run(cli_env, "migrate", "cart_pathway", "--from", "1", "--to", "2", "--center", "FR-01",
                           "--reason", "fever at 37.5").stdout)
    assert moved["counts"] == {"migrated": 1}
    history = json.loads(run(cli_env, "history", pid).stdout)
    [move] = [h for h in history if h["type"] == "Migrated"]
    assert move["data"]["from"]["version"] == 1 and move["data"]["reason"] == "fever at 37.5"
    assert history[-1]["definition_version"] == 2
    assert json.loads(run(cli_env, "verify", pid).stdout)["ok"] is True
