"""The engine's commands of the ``cartpath`` CLI (the root group is ``cartpath.cli``).

Data goes to stdout as JSON; a refusal is one plain line on stderr and exit status 1.
"""
from __future__ import annotations

import json
import sys

import click

from .console import create_data_dir, iso_default, json_arg, out, refusals
from .times import parse_instant


def _app(deploy: bool = True, writes: bool = False):
    from .config import open_app
    return open_app(deploy_bundled=deploy, writes=writes)


@click.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@refusals
def lint_cmd(paths) -> None:
    """Check BPMN/DMN files against cartpath's conventions (what deploy checks)."""
    from .lint import lint_files, read_paths
    from .settings import configured_lanes
    files = read_paths(paths)
    problems = lint_files(files, configured_lanes())  # a check of files: it needs no store
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
    app = _app(deploy=False, writes=True)
    files = read_paths(paths) if paths else None
    out(app.deploy(files) if files else app.deploy_bundled())


@click.group("definitions", invoke_without_command=True)
@click.pass_context
@refusals
def definitions_cmd(ctx) -> None:
    """List deployed process definitions and their versions (`definitions diff` compares two)."""
    if ctx.invoked_subcommand is None:
        out(_app(deploy=False).definitions())


@definitions_cmd.command("diff")
@click.argument("key")
@click.argument("v")
@click.argument("w")
@click.option("--json", "as_json", is_flag=True, help="the whole diff as JSON (as the API answers it)")
@refusals
def definitions_diff_cmd(key, v, w, as_json) -> None:
    """What changed from version V to W of process KEY, one sentence per change. W may also be a folder
    (or a file) of BPMN/DMN files not deployed yet: what deploying them would change."""
    from pathlib import Path

    from .definition_diff import diff_lines, diff_versions
    from .lint import read_paths
    app = _app(deploy=False)
    old = app.model(key, _version_number("V", v))
    if not w.isdigit() and Path(w).exists():
        result = diff_versions(old, read_paths([w]), key=key)
    else:
        result = diff_versions(old, app.model(key, _version_number("W", w)))
    if as_json:
        out(result)
        return
    for line in diff_lines(result):
        click.echo(line)


def _version_number(name: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        also = " or a folder of process files" if name == "W" else ""
        raise ValueError(f"{name} must be a version number (1, 2, ...){also}, not {text!r}")
    return int(text)


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
@click.option("--actor", default="cli", help="who completes it (a signed task: the signing token's sub)")
@click.option("--signature", help='a signed task: {"meaning": "performed|verified|approved", "token": SIGNING_TOKEN}')
@click.option("--witness", help="a two-person check (infusion, product_receipt): another person's signature, "
              "same shape")
@click.option("--countersign", help="oos_acceptance: a pharmacist's countersignature, same shape")
@refusals
def complete_cmd(pathway_id, task, data, actor, signature, witness, countersign) -> None:
    """Complete TASK (its id, or its name if exactly one such task is ready) with DATA (JSON)."""
    import time

    from . import signatures
    given = {key: json_arg(value, f"--{key}") for key, value in
             (("signature", signature), ("witness", witness), ("countersign", countersign)) if value is not None}
    signers = signatures.signers_from(given, signatures.configured_token_reader(), time.time()) if given else []
    app = _app()
    task_id = _resolve_task(app, pathway_id, task)
    pathway = app.complete_task(pathway_id, task_id, json_arg(data, "DATA"), actor={"sub": actor, "roles": ["cli"]},
                                signers=signers)
    out({"id": str(pathway.id), "status": pathway.status, "outcome": pathway.outcome,
          "tasks": app.ready_tasks(pathway.id)})


def _resolve_task(app, pathway_id: str, task: str) -> str:
    """A ready task by id (with or without the pathway's prefix) or by name; a refusal says why not
    (done already, several of that name, or unknown) and lists what is ready."""
    from .errors import TaskNotReady
    pathway = app.get_pathway(pathway_id)
    wanted = task.split(":", 1)[1] if ":" in task else task
    if wanted in pathway.ready:
        return wanted
    named = [t for t, r in pathway.ready.items() if r["name"] == wanted]
    if len(named) == 1:
        return named[0]
    ready = "; ".join(f"{r['name']} ({pathway.id}:{t})" for t, r in pathway.ready.items())
    if not ready:
        ready = "none" + (f" (the pathway has ended: {pathway.outcome})" if pathway.status != "active" else "")
    if named:
        raise TaskNotReady(f"{len(named)} tasks named {wanted!r} are ready in pathway {pathway.id}: give the id of "
                           f"one; ready: {ready}")
    done = [ev for ev in app.events.get(pathway.id) if type(ev).__name__ == "TaskCompleted"
            and wanted in (getattr(ev, "task_id", None), getattr(ev, "name", None))]
    if done:
        what = f"task {wanted!r}" + (f" ({done[-1].name})" if done[-1].name != wanted else "")
        raise TaskNotReady(f"{what} of pathway {pathway.id} is already done; ready: {ready}")
    raise TaskNotReady(f"no task {wanted!r} is ready in pathway {pathway.id}; ready: {ready}")


@click.command("correct")
@click.argument("pathway_id")
@click.argument("task_id")
@click.option("--field", required=True, help="a field of the task's form")
@click.option("--value", "value", required=True, help="the corrected value, as JSON (\"text\", 12, true, null)")
@click.option("--reason", required=True, help="why the recorded value was wrong")
@click.option("--actor", default="cli")
@refusals
def correct_cmd(pathway_id, task_id, field, value, reason, actor) -> None:
    """Correct FIELD of the completed task TASK_ID (the original is kept; the pathway is not re-routed)."""
    app = _app(deploy=False)
    task_id = task_id.split(":", 1)[1] if ":" in task_id else task_id
    pathway = app.correct_task(pathway_id, task_id, field, json_arg(value, "--value"), reason,
                               actor={"sub": actor, "roles": ["cli"]})
    out({"id": str(pathway.id), "version": pathway.version, "correction": pathway.corrections[-1]})


@click.command("cancel")
@click.argument("pathway_id")
@click.option("--reason", required=True, help="death, progression, patient_decision, physician_decision, other; "
              "after infusion: death, lost_to_follow_up, transferred")
@click.option("--comment")
@click.option("--death-date", help="with --reason death: the date of death (YYYY-MM-DD)")
@click.option("--death-cause", help="with --reason death: progression, crs, icans, infection, hlh, "
              "secondary_malignancy, other")
@click.option("--actor", default="cli")
@refusals
def cancel_cmd(pathway_id, reason, comment, death_date, death_cause, actor) -> None:
    """End a pathway with a reason (recorded; never a deletion)."""
    app = _app()
    pathway = app.cancel(pathway_id, reason, comment, actor={"sub": actor, "roles": ["cli"]},
                         death_date=death_date, death_cause=death_cause)
    out({"id": str(pathway.id), "status": pathway.status, "outcome": pathway.outcome})


@click.command("message")
@click.argument("name")
@click.option("--message-id", required=True)
@click.option("--order-id", required=True)
@click.option("--coi")
@click.option("--payload", default="{}", help="JSON object")
@click.option("--org", help="the sending manufacturer (its org id); default: the manufacturer of the order")
@refusals
def message_cmd(name, message_id, order_id, coi, payload, org) -> None:
    """Deliver a manufacturer message (as the manufacturer's portal would); message ids are the sender's own."""
    correlation = {"order_id": order_id} | ({"coi": coi} if coi else {})
    actor = {"sub": "cli", "roles": ["manufacturer"]} | ({"org": org} if org else {})
    out(_app().deliver_message(name, message_id, correlation, json_arg(payload, "--payload"),
                                actor=actor, expected_manufacturer=org))


@click.command("tick")
@click.option("--now", help="ISO 8601 time (default: the clock's now)")
@refusals
def tick_cmd(now) -> None:
    """Fire every timer due by NOW (on a manual clock this also moves the clock)."""
    from .settings import BadSetting
    moment = None
    if now:
        try:
            moment = parse_instant(now)
        except ValueError:
            raise BadSetting(f"--now {now!r} is not an ISO 8601 time with a UTC offset "
                             "(e.g. 2026-03-09T08:00:00Z)") from None
    app = _app(writes=True)
    if moment is not None and app.clock.manual and moment < app.clock.now():
        raise BadSetting(f"--now {moment.isoformat()} is earlier than the manual clock "
                         f"({app.clock.now().isoformat()}): time only moves forward")
    done = app.fire_round(moment)
    out({"fired": done.fired, "now": app.clock.now(), "incidents": done.incidents})


@click.command("history")
@click.argument("pathway_id")
@refusals
def history_cmd(pathway_id) -> None:
    """Every event of a pathway, oldest first (as GET /pathways/{id}/history answers them)."""
    from .records import history_items
    app = _app(deploy=False)
    pathway = app.get_pathway(pathway_id)
    out(history_items(app.events.get(pathway.id)))


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
            click.echo(json.dumps(result, default=iso_default), err=True)
    click.echo(f"verified {ok + failed} pathways: {ok} ok, {failed} diverged")
    sys.exit(0 if failed == 0 else 1)


@click.command("migrate")
@click.argument("key")
@click.option("--from", "from_version", required=True, type=int, help="the version the pathways run now")
@click.option("--to", "to_version", required=True, type=int, help="the version to move them to")
@click.option("--center", help="only this centre's pathways")
@click.option("--pathway", "pathways", multiple=True, help="only this pathway (repeatable; not with --center)")
@click.option("--map", "mapping", multiple=True, metavar="OLD=NEW",
              help="task_mapping: a ready task or wait on node OLD goes to node NEW (repeatable)")
@click.option("--dry-run", is_flag=True, help="plan only: movable or blocked (with the reasons), nothing recorded")
@click.option("--reason", help="why (recorded with each move)")
@click.option("--actor", default="cli")
@refusals
def migrate_cmd(key, from_version, to_version, center, pathways, mapping, dry_run, reason, actor) -> None:
    """Move running pathways of KEY from version --from to --to (plan first with --dry-run)."""
    from .errors import InvalidMigration
    task_mapping = {}
    for item in mapping:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidMigration(f"--map {item!r} is not OLD=NEW", {"task_mapping": ["OLD=NEW"]})
        task_mapping[old.strip()] = new.strip()
    app = _app(deploy=False, writes=not dry_run)
    out(app.migrate_pathways(key, from_version, to_version, pathways=list(pathways) or None, center=center,
                             task_mapping=task_mapping or None, dry_run=dry_run, reason=reason,
                             actor={"sub": actor, "roles": ["cli"]}))


@click.command("demo")
@click.option("--patients", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=1, show_default=True)
@click.option("--start", "start_at", default="2026-01-05T08:00:00+00:00", show_default=True)
@click.option("--force", is_flag=True, help="run even on a store that holds system-clock (real) pathways")
@refusals
def demo_cmd(patients, seed, start_at, force) -> None:
    """Drive simulated patients through the bundled pathway with a simulated manufacturer."""
    import os

    from .clock import check_clock_kind, store_clock_kind
    from .config import open_app
    from .demo import run_demo
    from .settings import BadSetting
    if (os.environ.get("CARTPATH_CLOCK") or "manual").lower() != "manual":
        raise BadSetting("the demo runs on simulated time: unset CARTPATH_CLOCK or set it to manual")
    os.environ["CARTPATH_CLOCK"] = "manual"
    os.environ.setdefault("CARTPATH_CLOCK_START", start_at)
    create_data_dir()
    app = open_app(check_clock=False)
    if not force:
        # simulated patients in a store of real ones would be counted in its KPIs and worklists
        kind = store_clock_kind(app)
        real = len(app.pathway_ids()) if kind in (None, "system") else 0
        if kind == "system" or real:
            raise BadSetting(f"this store runs on the system clock ({real} pathway(s) in real time): the demo writes "
                             "simulated patients; use another CARTPATH_DATA_DIR, or --force to add them anyway")
        check_clock_kind(app, record=True)
    app.deploy_bundled()
    summary = run_demo(app, patients=patients, seed=seed, progress=lambda msg: click.echo(msg, err=True))
    out(summary)


COMMANDS = [lint_cmd, deploy_cmd, definitions_cmd, start_cmd, tasks_cmd, complete_cmd, correct_cmd, cancel_cmd,
            message_cmd, tick_cmd, history_cmd, verify_cmd, migrate_cmd, demo_cmd]

from .inventory_commands import COMMANDS as _INVENTORY_COMMANDS  # noqa: E402  (its own module: one concept)

COMMANDS += _INVENTORY_COMMANDS

from .audit_commands import COMMANDS as _AUDIT_COMMANDS  # noqa: E402

COMMANDS += _AUDIT_COMMANDS
