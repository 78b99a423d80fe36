"""``cartpath incidents``: the pathways a failed step stopped, and ``retry`` once the cause is fixed."""
from __future__ import annotations

import click

from cartpath.engine.console import json_arg, out, refusals

from .directory import Directory, incident_item


@click.group("incidents", invoke_without_command=True)
@click.option("--center", help="only this centre's pathways")
@click.option("--key", help="only pathways of this process definition key")
@click.pass_context
@refusals
def incidents(ctx: click.Context, center: str | None, key: str | None) -> None:
    """Open incidents, oldest pathway first (as GET /api/v1/incidents answers them)."""
    if ctx.invoked_subcommand is not None:
        return
    from cartpath.engine.config import open_app
    directory = Directory(open_app(deploy_bundled=False))
    out([incident_item(e) for e in directory.pathways_after(0)
         if e.incident is not None and center in (None, e.center) and key in (None, e.definition["key"])])


@incidents.command("retry")
@click.argument("pathway_id")
@click.argument("incident_id")
@click.option("--data", help="JSON object merged into the failed step's data first (a correction)")
@click.option("--actor", default="cli")
@refusals
def retry_cmd(pathway_id: str, incident_id: str, data: str | None, actor: str) -> None:
    """Run the step INCIDENT_ID stopped PATHWAY_ID at once more (on its current definition version)."""
    from cartpath.engine.config import open_app
    from cartpath.engine.incidents import public_incident
    app = open_app(deploy_bundled=False, writes=True)
    pathway = app.retry_incident(pathway_id, incident_id, json_arg(data, "--data") if data else None,
                                 actor={"sub": actor, "roles": ["process_owner"]})
    out({"pathway_id": str(pathway.id), "version": pathway.version, "incident": public_incident(pathway.incident),
         "ready": sorted(r["name"] for r in pathway.ready.values())})


COMMANDS = [incidents]
