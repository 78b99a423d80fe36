"""The ``cartpath`` command line's root: a plain click group at the outermost layer.

Each layer owns its commands (``engine.commands``, ``projections.commands``,
``api.commands``); this module only gathers them, so no layer imports the CLI back.
"""
from __future__ import annotations

import click

from cartpath.api.commands import COMMANDS as API_COMMANDS
from cartpath.engine import signatures
from cartpath.engine.commands import COMMANDS as ENGINE_COMMANDS
from cartpath.engine.console import create_data_dir, out, refusals
from cartpath.projections.commands import COMMANDS as PROJECTION_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """cartpath: event-sourced BPMN backend for CAR-T cell therapy pathways."""


@click.group("db")
def db_group() -> None:
    """The store's tables (PostgreSQL or SQLite, as the environment says)."""


@db_group.command("init")
@refusals
def db_init_cmd() -> None:
    """Create every table (a deploy step; start workers afterwards with CREATE_TABLE=false)."""
    from cartpath.projections.tables import create_tables
    create_data_dir()
    out(create_tables())


@db_group.command("compact")
@refusals
def db_compact_cmd() -> None:
    """Drop the snapshots of ended pathways (a store written before they stopped being kept), and move
    a hash chain written before the links table to it."""
    from cartpath.engine.config import open_app
    from cartpath.engine.db import compact_store
    app = open_app()
    try:
        out(compact_store(app))
    finally:
        app.close()


def _signing_token_reader():
    """The API's token verifier, for signatures given on the command line (engine/signatures.py)."""
    import os

    from cartpath.api.auth import TokenVerifier, auth_settings
    return TokenVerifier(auth_settings(os.environ)).signing_claims


signatures.token_reader_factory = _signing_token_reader

for command in (*ENGINE_COMMANDS, *PROJECTION_COMMANDS, *API_COMMANDS, db_group):
    main.add_command(command)
