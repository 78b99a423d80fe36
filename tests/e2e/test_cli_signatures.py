"""Signed completions and corrections from the shell: `cartpath token --sign`, `complete --signature
--witness`, `correct`; refusals as one plain line and exit 1, recording nothing."""
import json

from tests.e2e.test_cli import cli_env, run  # noqa: F401  (cli_env is a fixture)
from tests.support.store import FIXTURES

# The mini process with its pharmacy `check` signed and witnessed (a two-person check).
MINI_SIGNED = ((FIXTURES / "mini_pathway.bpmn").read_text().replace("mini_pathway", "mini_signed")
               .replace('<cartpath:coiCheck field="coi_scanned"/>',
                        '<cartpath:signed witness="true"/><cartpath:coiCheck field="coi_scanned"/>'))


def signing(cli_env, sub: str, name: str) -> str:  # noqa: F811
    token = run(cli_env, "token", "--sign", "--sub", sub, "--role", "pharmacy", "--center", "FR-01",
                "--name", name).stdout.strip()
    return json.dumps({"meaning": "performed" if sub == "pharm-1" else "verified", "token": token})


def test_a_signed_check_and_a_correction_from_the_shell(cli_env, tmp_path):  # noqa: F811
    model = tmp_path / "mini_signed.bpmn"
    model.write_text(MINI_SIGNED)
    run(cli_env, "deploy", str(model))
    pid = json.loads(run(cli_env, "start", "--patient-ref", "PSN-1", "--center", "FR-01", "--indication", "DLBCL",
                         "--product", "axi-cel", "--process", "mini_signed").stdout)["id"]
    run(cli_env, "complete", pid, "intake", '{"ok": true, "order_id": "ORD-7"}')
    run(cli_env, "message", "slot_confirmed", "--message-id", "m1", "--order-id", "ORD-7", "--coi", "W1",
        "--payload", '{"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}')
    run(cli_env, "tick", "--now", "2026-01-07T00:00:00Z")
    events = len(json.loads(run(cli_env, "history", pid).stdout))
    data = '{"coi_scanned": "W1", "n": 3}'
    mine, witness = signing(cli_env, "pharm-1", "Hugo Durand"), signing(cli_env, "pharm-2", "Léa Moreau")
    for args, needle in ((["--actor", "pharm-1", "--signature", mine], "witness"),
                         (["--actor", "pharm-9", "--signature", mine, "--witness", witness], "own token"),
                         (["--actor", "pharm-1", "--signature", mine, "--witness", mine], "another person"),
                         (["--actor", "pharm-1", "--signature", '{"meaning": "performed", "token": "x"}'],
                          "not valid")):
        refused = run(cli_env, "complete", pid, "check", data, *args, check=False)
        assert refused.returncode == 1 and needle in refused.stderr, refused.stderr
        assert refused.stderr.startswith("error: ") and len(refused.stderr.strip().splitlines()) == 1
    assert len(json.loads(run(cli_env, "history", pid).stdout)) == events  # nothing recorded
    done = json.loads(run(cli_env, "complete", pid, "check", data, "--actor", "pharm-1", "--signature", mine,
                          "--witness", witness).stdout)
    assert done["status"] == "ended"
    history = json.loads(run(cli_env, "history", pid).stdout)
    [check] = [h for h in history if h["type"] == "TaskCompleted" and h["data"]["name"] == "check"]
    assert [(s["role"], s["sub"], s["name"]) for s in check["data"]["signatures"]] == \
        [("signer", "pharm-1", "Hugo Durand"), ("witness", "pharm-2", "Léa Moreau")]
    refused = run(cli_env, "correct", pid, check["data"]["task_id"], "--field", "n", "--value", "11", "--reason", "x",
                  check=False)
    assert refused.returncode == 1 and "at most 10" in refused.stderr
    fixed = json.loads(run(cli_env, "correct", pid, check["data"]["task_id"], "--field", "n", "--value", "4",
                           "--reason", "miscounted").stdout)["correction"]
    assert (fixed["original"], fixed["value"], fixed["decided_on_corrected_data"]) == (3, 4, False)
    assert json.loads(run(cli_env, "verify", pid).stdout)["ok"] is True
