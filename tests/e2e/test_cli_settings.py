"""The newcomer's rough edges on the command line, run as a user runs it (the real `cartpath`
script, real stores): settings refused with one line naming the variable or option, the data
directory and the store's clock kind, and what `complete`, `history` and `projections status` say."""
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.store import FIXTURES

CLI = [str(Path(sys.executable).parent / "cartpath")]
STORE_VARS = ("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_", "CREATE_TABLE")
START = ["start", "--patient-ref", "PSN-1", "--center", "FR-01", "--indication", "DLBCL", "--product", "axi-cel"]


def run(env, *args, check=True, cli=CLI):
    proc = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"cartpath {' '.join(args)} failed: {proc.stderr}")
    return proc


def refused(proc, *needles):
    """One plain `error:` line naming what is wrong, exit status 1, no traceback."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def sqlite_env(tmp_path):
    """SQLite in CARTPATH_DATA_DIR, as a newcomer has it (whatever store this test pass uses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STORE_VARS) and k != "FLASK_APP"}
    return env | {"CARTPATH_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def manual(sqlite_env):
    (Path(sqlite_env["CARTPATH_DATA_DIR"])).mkdir()
    return sqlite_env | {"CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": "2026-03-02T08:00:00Z"}


@pytest.mark.parametrize("args", [["tasks", "00000000-0000-0000-0000-000000000000"], START, ["definitions"],
                                  ["projections", "status"], ["token", "--sub", "n", "--role", "auditor"],
                                  ["tick"]])
def test_a_data_dir_that_does_not_exist_is_refused(sqlite_env, args):
    missing = sqlite_env["CARTPATH_DATA_DIR"]
    refused(run(sqlite_env, *args, check=False), "CARTPATH_DATA_DIR", missing)
    assert not Path(missing).exists()


@pytest.mark.parametrize("args", [["db", "init"], ["demo", "--patients", "1"], ["serve", "--port", "1"]])
def test_serve_db_init_and_demo_create_the_data_dir_and_say_so(sqlite_env, args):
    env = sqlite_env | ({"CARTPATH_CLOCK": "bogus"} if args[0] == "serve" else {})  # serve: stop before serving
    proc = run(env, *args, check=args[0] != "serve")
    assert Path(env["CARTPATH_DATA_DIR"]).is_dir()
    assert f"created CARTPATH_DATA_DIR {env['CARTPATH_DATA_DIR']!r}" in proc.stderr
    if args[0] == "serve":
        assert proc.stderr.strip().splitlines()[-1].startswith("error: CARTPATH_CLOCK='bogus'")


def test_a_store_keeps_its_clock_kind(manual):
    pid = json.loads(run(manual, *START).stdout)["id"]
    system = {k: v for k, v in manual.items() if k != "CARTPATH_CLOCK"}
    line = refused(run(system, *START, check=False), "manual clock", "CARTPATH_CLOCK=system")
    assert "CARTPATH_CLOCK=manual" in line
    refused(run(system, "tasks", pid, check=False), "CARTPATH_CLOCK")
    assert len(json.loads(run(manual, "tasks", pid).stdout)) == 1  # the right kind still works


def test_a_system_store_refuses_the_manual_clock(sqlite_env):
    Path(sqlite_env["CARTPATH_DATA_DIR"]).mkdir()
    run(sqlite_env, *START)
    refused(run(sqlite_env | {"CARTPATH_CLOCK": "manual"}, "tick", check=False), "system clock", "CARTPATH_CLOCK")


def test_demo_refuses_a_store_with_real_pathways_unless_forced(sqlite_env):
    Path(sqlite_env["CARTPATH_DATA_DIR"]).mkdir()
    run(sqlite_env, *START)
    refused(run(sqlite_env, "demo", "--patients", "1", check=False), "system clock", "--force")
    summary = json.loads(run(sqlite_env, "demo", "--patients", "1", "--force").stdout)
    assert summary["patients"] == 1


def test_demo_runs_on_a_store_of_simulated_pathways(manual):
    run(manual, *START)  # a pathway on the manual clock: simulated, not a real patient's
    assert json.loads(run(manual, "demo", "--patients", "1").stdout)["patients"] == 1


@pytest.mark.parametrize("extra, args, needles", [
    ({}, ["token", "--sub", "n", "--role", "nurse", "--center", "FR-01"],
     ["--role 'nurse'", "coordination", "pharmacy", "process_owner", "auditor", "admin", "manufacturer"]),
    ({}, ["token", "--sub", "n", "--role", "pharmacy"], ["--role pharmacy", "--center"]),
    ({"CARTPATH_CLOCK": "bogus"}, ["definitions"], ["CARTPATH_CLOCK='bogus'", "system, manual"]),
    ({"CARTPATH_CLOCK_START": "monday"}, ["definitions"], ["CARTPATH_CLOCK_START='monday'"]),
    ({}, ["tick", "--now", "2026-03-09"], ["--now '2026-03-09'", "ISO 8601"]),
    ({}, ["tick", "--now", "next week"], ["--now 'next week'"]),
    ({}, ["tick", "--now", "2026-03-01T08:00:00Z"],
     ["--now 2026-03-01T08:00:00+00:00", "earlier than the manual clock"]),
    ({"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "1",
      "POSTGRES_DBNAME": "cartpath", "POSTGRES_USER": "cartpath"}, ["definitions"],
     ["PERSISTENCE_MODULE=eventsourcing.postgres", "127.0.0.1:1", "cannot be reached"]),
    ({"CARTPATH_PATIENT_REF_PATTERN": "P-[0-9"}, ["definitions"],
     ["CARTPATH_PATIENT_REF_PATTERN", "not a regular expression"]),
    ({}, ["start", "--patient-ref", "Jean Dupont", *START[3:]], ["patient_ref", "pseudonymous", "never a name"]),
])
def test_bad_settings_are_refused_naming_them(manual, extra, args, needles):
    refused(run(manual | extra, *args, check=False), *needles)


def test_lint_refuses_a_file_that_is_not_a_process(sqlite_env, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a process")
    refused(run(sqlite_env, "lint", str(notes), check=False), "notes.txt", ".bpmn", ".dmn")


def test_postgres_without_its_driver_names_the_extra(manual):
    """As on a machine where the `postgres` extra was not installed: psycopg cannot be imported."""
    cli = [sys.executable, "-c", "import sys; sys.modules['psycopg'] = None; from cartpath.cli import main; main()"]
    proc = run(manual | {"PERSISTENCE_MODULE": "eventsourcing.postgres"}, "definitions", check=False, cli=cli)
    refused(proc, "PERSISTENCE_MODULE=eventsourcing.postgres", "pip install 'cartpath[postgres]'")


def _mini(env):
    run(env, "deploy", str(FIXTURES / "mini_pathway.bpmn"))
    return json.loads(run(env, *START[:-2], "--product", "axi-cel", "--process", "mini_pathway").stdout)


def test_complete_of_an_unknown_or_finished_task_says_which_and_lists_the_ready(manual):
    started = _mini(manual)
    pid, [intake] = started["id"], started["tasks"]
    line = refused(run(manual, "complete", pid, "no_such_task", "{}", check=False), "no task 'no_such_task'")
    assert f"ready: intake ({intake['id']})" in line
    run(manual, "complete", pid, "intake", '{"ok": true, "order_id": "ORD-7"}')
    line = refused(run(manual, "complete", pid, "intake", "{}", check=False), "'intake'", "already done")
    assert line.endswith("ready: none")
    refused(run(manual, "complete", pid, intake["id"], "{}", check=False), intake["task_id"],
            "(intake)", "already done")


def test_cli_output_uses_the_apis_formats(manual):
    pid = _mini(manual)["id"]
    history = json.loads(run(manual, "history", pid).stdout)
    assert [h["position"] for h in history] == list(range(1, len(history) + 1))
    assert {"position", "type", "kind", "at", "recorded_at", "actor", "data"} <= set(history[0])
    assert "at" not in history[0]["data"] and "actor" not in history[0]["data"]
    for item in history:
        assert "T" in item["recorded_at"] and datetime.fromisoformat(item["recorded_at"]).tzinfo is not None
    run(manual, "projections", "run", "--once")
    views = json.loads(run(manual, "projections", "status").stdout)["views"]
    for view in views:
        assert datetime.fromisoformat(view["updated_at"]).tzinfo is not None, view
