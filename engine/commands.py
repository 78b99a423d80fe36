"""The engine's commands of the ``cartpath`` CLI (the root group is ``cartpath.cli``).

Data goes to stdout as JSON; a refusal is one plain line on stderr and exit status 1.
"""
from __future__ import annotations

import json
import sys

import click

from .times import parse_instant
from .console import json_arg, out, refusals


def _app(deploy: bool = True):
    from .config import open_app
    return open_app(deploy_bundled=deploy)


@click.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@refusals
def lint_cmd(paths) -> None:
    """Check BPMN/DMN files against cartpath's conventions (what deploy checks)."""
    from .config import open_app
    from .lint import lint_files, read_paths
    files = read_paths(paths)
    lanes = open_app().lanes
    problems = lint_files(files, lanes)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"error: {len(problems)} problem(s) in {len(files)} file(s)", err=True)
        sys.exit(1)
    click.echo(f"ok: {len(files)} file(s) clean")


@click.command("deploy")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@refusals
def deploy_cmd(paths) -> None:
    """Deploy BPMN/DMN files (default: the bundled processes/) as a new version."""
    from .lint import read_paths
    app = _app(deploy=False)
    files = read_paths(paths) if paths else None
    out(app.deploy(files) if files else app.deploy_bundled())


@click.command("definitions")
@refusals
def definitions_cmd() -> None:
    """List deployed process definitions and their versions."""
    out(_app(deploy=False).definitions())


@click.command("start")
@click.option("--patient-ref", required=True)
@click.option("--center", required=True)
@click.option("--indication", required=True)
@click.option("--product", required=True)
@click.option("--business-key")
@click.option("--process", "process_key", default="cart_pathway", show_default=True)
@click.option("--actor", default="cli")
@refusals
def start_cmd(patient_ref, center, indication, product, business_key, process_key, actor) -> None:
    """Start a pathway for one patient (pseudonymous reference only)."""
    app = _app()
    started = app.start_pathway(patient_ref, center, indication, product, business_key=business_key,
                                process_key=process_key, actor={"sub": actor, "roles": ["cli"]})
    out({"id": str(started.pathway.id), "created": started.created, "tasks": app.ready_tasks(started.pathway.id)})


@click.command("tasks")
@click.argument("pathway_id")
@refusals
def tasks_cmd(pathway_id) -> None:
    """List the ready tasks of a pathway, with their forms."""
    out(_app().ready_tasks(pathway_id))


@click.command("complete")
@click.argument("pathway_id")
@click.argument("task")
@click.argument("data")
@click.option("--actor", default="cli")
@refusals
def complete_cmd(pathway_id, task, data, actor) -> None:
    """Complete TASK (its id, or its name if exactly one such task is ready) with DATA (JSON)."""
    app = _app()
    task_id = _resolve_task(app, pathway_id, task)
    pathway = app.complete_task(pathway_id, task_id, json_arg(data, "DATA"), actor={"sub": actor, "roles": ["cli"]})
    out({"id": str(pathway.id), "status": pathway.status, "outcome": pathway.outcome,
          "tasks": app.ready_tasks(pathway.id)})


def _resolve_task(app, pathway_id: str, task: str) -> str:
    pathway = app.get_pathway(pathway_id)
    if ":" in task:
        task = task.split(":", 1)[1]
    if task in pathway.ready:
        return task
    named = [t for t, r in pathway.ready.items() if r["name"] == task]
    if len(named) == 1:
        return named[0]
    from .errors import TaskNotReady
    raise TaskNotReady(f"no single ready task {task!r} in pathway {pathway_id}")


@click.command("cancel")
@click.argument("pathway_id")
@click.option("--reason", required=True, help="death, progression, patient_decision, physician_decision, other, ...")
@click.option("--comment")
@click.option("--actor", default="cli")
@refusals
def cancel_cmd(pathway_id, reason, comment, actor) -> None:
    """End a pathway with a reason (recorded; never a deletion)."""
    app = _app()
    pathway = app.cancel(pathway_id, reason, comment, actor={"sub": actor, "roles": ["cli"]})
    out({"id": str(pathway.id), "status": pathway.status, "outcome": pathway.outcome})


@click.command("message")
@click.argument("name")
@click.option("--message-id", required=True)
@click.option("--order-id", required=True)
@click.option("--coi")
@click.option("--payload", default="{}", help="JSON object")
@refusals
def message_cmd(name, message_id, order_id, coi, payload) -> None:
    """Deliver a manufacturer message (as the manufacturer's portal would)."""
    correlation = {"order_id": order_id} | ({"coi": coi} if coi else {})
    out(_app().deliver_message(name, message_id, correlation, json_arg(payload, "--payload"),
                                actor={"sub": "cli", "roles": ["manufacturer"]}))


@click.command("tick")
@click.option("--now", help="ISO 8601 time (default: the clock's now)")
@refusals
def tick_cmd(now) -> None:
    """Fire every timer due by NOW (on a manual clock this also moves the clock)."""
    app = _app()
    moment = parse_instant(now) if now else None
    fired = app.fire_due_timers(moment)
    out({"fired": fired, "now": app.clock.now()})


@click.command("history")
@click.argument("pathway_id")
@refusals
def history_cmd(pathway_id) -> None:
    """Every event of a pathway, oldest first."""
    out(_app(deploy=False).history(pathway_id))


@click.command("verify")
@click.argument("pathway_id", required=False)
@click.option("--all", "verify_all", is_flag=True, help="verify every pathway in the store")
@refusals
def verify_cmd(pathway_id, verify_all) -> None:
    """Re-execute recorded inputs and check they give the recorded outcomes."""
    app = _app(deploy=False)
    if verify_all == bool(pathway_id):
        raise ValueError("give a PATHWAY_ID or --all")
    if pathway_id:
        result = app.verify(pathway_id)
        out(result)
        sys.exit(0 if result["ok"] else 1)
    ok = failed = 0
    for pid in app.pathway_ids():
        result = app.verify(pid)
        if result["ok"]:
            ok += 1
        else:
            failed += 1
            click.echo(json.dumps(result, default=str), err=True)
    click.echo(f"verified {ok + failed} pathways: {ok} ok, {failed} diverged")
    sys.exit(0 if failed == 0 else 1)


@click.command("demo")
@click.option("--patients", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=1, show_default=True)
@click.option("--start", "start_at", default="2026-01-05T08:00:00+00:00", show_default=True)
@refusals
def demo_cmd(patients, seed, start_at) -> None:
    """Drive simulated patients through the bundled pathway with a simulated manufacturer."""
    import os
    from .demo import run_demo
    if (os.environ.get("CARTPATH_CLOCK") or "manual").lower() != "manual":
        raise ValueError("the demo runs on simulated time: unset CARTPATH_CLOCK or set it to manual")
    os.environ["CARTPATH_CLOCK"] = "manual"
    os.environ.setdefault("CARTPATH_CLOCK_START", start_at)
    summary = run_demo(_app(), patients=patients, seed=seed, progress=lambda msg: click.echo(msg, err=True))
    out(summary)


COMMANDS = [lint_cmd, deploy_cmd, definitions_cmd, start_cmd, tasks_cmd, complete_cmd, cancel_cmd, message_cmd,
            tick_cmd, history_cmd, verify_cmd, demo_cmd]

from .inventory_commands import COMMANDS as _INVENTORY_COMMANDS  # noqa: E402  (its own module: one concept)

COMMANDS += _INVENTORY_COMMANDS
