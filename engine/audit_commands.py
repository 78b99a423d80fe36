"""The ``cartpath audit`` group: the auditor's commands on the store itself.

``check`` and ``anchor`` are the hash chain's (``chain.py``, ``integrity.py``); other
layers add their own audit commands to this group (``@audit.command(...)`` in their
``commands.py``, which ``cartpath.cli`` imports), so there is one ``audit`` group.
"""
from __future__ import annotations

import sys

import click

from .console import out, refusals


@click.group("audit")
def audit() -> None:
    """Audit the store: the hash chain's check and anchors."""


@audit.command("check")
@click.option("--pathway", "pathway_id", help="Check only this pathway's chain (any aggregate id works).")
@click.option("--anchor", help="A hash printed by `cartpath audit anchor`: prove the store still extends it "
                               "(checks the whole store).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of lines.")
@refusals
def check_cmd(pathway_id: str | None, anchor: str | None, as_json: bool) -> None:
    """Walk the hash chain and name the first event altered, removed, inserted or reordered (exit 1)."""
    from .config import open_app
    from .integrity import check_integrity
    app = open_app()
    try:
        report = check_integrity(app, pathway_id=pathway_id, anchor=anchor)
    finally:
        app.close()
    if as_json:
        out(report.as_dict())
    else:
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        sys.exit(1)


@audit.command("anchor")
@refusals
def anchor_cmd() -> None:
    """Checkpoint the chain's head and print its hash: keep it outside the system (a ticket, a log, paper)."""
    from .config import open_app
    from .integrity import take_anchor
    app = open_app()
    try:
        taken = take_anchor(app)
    finally:
        app.close()
    click.echo(taken["hash"])
    click.echo(f"cartpath: checkpoint at position {taken['position']}; "
               f"check later with `cartpath audit check --anchor {taken['hash']}`", err=True)


@audit.command("key")
def key_cmd() -> None:
    """Print a new random key for encryption at rest (CARTPATH_CIPHER_KEY): keep it in a secret store."""
    from eventsourcing.cryptography import AESCipher
    click.echo(AESCipher.create_key(32))


COMMANDS = [audit]
