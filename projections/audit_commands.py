"""``cartpath audit report``: a pathway's audit report from the shell, as PDF or JSON.

Added to the engine's ``audit`` group (the one ``cartpath audit`` of the CLI).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from cartpath.engine.audit_commands import audit
from cartpath.engine.console import out, refusals


@audit.command("report")
@click.argument("pathway_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="write the report as PDF to this file (without it: JSON on stdout)")
@click.option("--by", "printed_by", default="cli", show_default=True, help="who prints it (the footer says)")
@refusals
def report_cmd(pathway_id: str, output: Path | None, printed_by: str) -> None:
    """A pathway's audit report: every event with who, when, why; signatures, corrections, deviations,
    incidents; and the integrity checks run now. Exit status 1 when a check fails (the report is still written)."""
    from cartpath.engine.config import open_app

    from .audit_report import build, default_checks
    app = open_app()
    try:
        report = build(app, pathway_id, printed_by=printed_by, checks=default_checks())
    finally:
        app.close()
    if output is None:
        out(report)
    else:
        from .audit_pdf import render
        output.write_bytes(render(report))
        click.echo(f"cartpath: wrote the audit report of pathway {report['pathway_id']} to {output} "
                   f"({len(report['events'])} events)", err=True)
    failed = [name for name, result in report["integrity"].items() if result.get("ok") is not True]
    if failed:
        click.echo(f"error: pathway {report['pathway_id']} fails its integrity checks ({', '.join(failed)}): "
                   "see the report", err=True)
        sys.exit(1)
