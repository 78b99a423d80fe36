"""The ``cartpath`` command line (Flask's click group, so ``routes`` and ``shell`` come too).

Data goes to stdout as JSON; a refusal is one plain line on stderr and exit status 1.
"""
from __future__ import annotations

import json
import sys
from functools import wraps
from typing import Any

import click
from flask.cli import FlaskGroup

from .clock import parse_instant
from .errors import CartpathError, DefinitionRejected


def _create_app():
    from api import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def main() -> None:
    """cartpath: event-sourced BPMN backend for CAR-T cell therapy pathways."""


def _app(deploy: bool = True):
    from .config import open_app
    return open_app(deploy_bundled=deploy)


def _out(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str, sort_keys=False))


def refusals(func):
    """Map domain refusals to one plain line and exit status 1."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DefinitionRejected as err:
            for problem in err.problems:
                click.echo(f"{problem['file']}:{problem.get('line') or '?'}: {problem['message']}", err=True)
            click.echo(f"error: {err.detail}", err=True)
            sys.exit(1)
        except CartpathError as err:
            click.echo(f"error: {err.detail}", err=True)
            sys.exit(1)
        except (ValueError, OSError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
    return wrapper


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} is not valid JSON: {err.msg} at column {err.colno}") from None


@main.command("lint", with_appcontext=False)
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


@main.command("deploy", with_appcontext=False)
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@refusals
def deploy_cmd(paths) -> None:
    """Deploy BPMN/DMN files (default: the bundled processes/) as a new version."""
    from .lint import read_paths
    app = _app(deploy=False)
    files = read_paths(paths) if paths else None
    _out(app.deploy(files) if files else app.deploy_bundled())


@main.command("definitions", with_appcontext=False)
@refusals
def definitions_cmd() -> None:
    """List deployed process definitions and their versions."""
    _out(_app(deploy=False).definitions())


@main.command("start", with_appcontext=False)
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
    _out({"id": str(started.pathway.id), "created": started.created, "tasks": app.ready_tasks(started.pathway.id)})


@main.command("tasks", with_appcontext=False)
@click.argument("pathway_id")
@refusals
def tasks_cmd(pathway_id) -> None:
    """List the ready tasks of a pathway, with their forms."""
    _out(_app().ready_tasks(pathway_id))


@main.command("complete", with_appcontext=False)
@click.argument("pathway_id")
@click.argument("task")
@click.argument("data")
@click.option("--actor", default="cli")
@refusals
def complete_cmd(pathway_id, task, data, actor) -> None:
    """Complete TASK (its id, or its name if exactly one such task is ready) with DATA (JSON)."""
    app = _app()
    task_id = _resolve_task(app, pathway_id, task)
    pathway = app.complete_task(pathway_id, task_id, _json_arg(data, "DATA"), actor={"sub": actor, "roles": ["cli"]})
    _out({"id": str(pathway.id), "status": pathway.status, "outcome": pathway.outcome,
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


@main.command("message", with_appcontext=False)
@click.argument("name")
@click.option("--message-id", required=True)
@click.option("--order-id", required=True)
@click.option("--coi")
@click.option("--payload", default="{}", help="JSON object")
@refusals
def message_cmd(name, message_id, order_id, coi, payload) -> None:
    """Deliver a manufacturer message (as the manufacturer's portal would)."""
    correlation = {"order_id": order_id} | ({"coi": coi} if coi else {})
    _out(_app().deliver_message(name, message_id, correlation, _json_arg(payload, "--payload"),
                                actor={"sub": "cli", "roles": ["manufacturer"]}))


@main.command("tick", with_appcontext=False)
@click.option("--now", help="ISO 8601 time (default: the clock's now)")
@refusals
def tick_cmd(now) -> None:
    """Fire every timer due by NOW (on a manual clock this also moves the clock)."""
    app = _app()
    moment = parse_instant(now) if now else None
    fired = app.fire_due_timers(moment)
    _out({"fired": fired, "now": app.clock.now()})


@main.command("history", with_appcontext=False)
@click.argument("pathway_id")
@refusals
def history_cmd(pathway_id) -> None:
    """Every event of a pathway, oldest first."""
    _out(_app(deploy=False).history(pathway_id))


@main.command("verify", with_appcontext=False)
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
        _out(result)
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


@main.command("demo", with_appcontext=False)
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
    _out(summary)


# Subsystems register their own commands on `main` (serve/token, projections, db).
from api import commands as _api_commands  # noqa: E402,F401
from projections import commands as _projection_commands  # noqa: E402,F401
from . import db as _db_commands  # noqa: E402,F401
