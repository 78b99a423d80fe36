"""Opening the application from the environment, the same way for CLI, server and tests."""
from __future__ import annotations

import os
from typing import Mapping

from .application import CartPath

ENV_KEYS_DOC = {
    "CARTPATH_DATA_DIR": "directory of the SQLite store (default ./var)",
    "CARTPATH_CLOCK": "'system' (default) or 'manual'",
    "CARTPATH_CLOCK_START": "ISO 8601 start of the manual clock",
    "CARTPATH_EXTRA_LANES": "comma-separated lanes a centre adds to PATHWAY.md's",
    "PERSISTENCE_MODULE": "eventsourcing store: eventsourcing.sqlite (default) or eventsourcing.postgres",
}


def open_app(overrides: Mapping[str, str] | None = None, *, deploy_bundled: bool = False) -> CartPath:
    """A CartPath on the store the environment names; optionally with the bundled processes deployed."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_", "CREATE_TABLE"))}
    env.update(overrides or {})
    app = CartPath(env=env)
    if deploy_bundled:
        app.deploy_bundled()
    return app
