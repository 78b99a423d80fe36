"""Shared fixtures. Stores are real (SQLite files in a temporary directory, or the
PostgreSQL server named by CARTPATH_TEST_POSTGRES_* when the suite runs on it)."""
from __future__ import annotations

import os

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.lint import read_paths
from tests.support.store import FIXTURES, ROOT, T0, ready_named, run_mini_to_slot, start_mini, store_env  # noqa: F401

# Modules that only make sense on PostgreSQL (a database restart): the PostgreSQL pass of
# `make test` collects them, the SQLite pass leaves them out (and its Makefile target says so).
POSTGRES_ONLY = ["e2e/test_pg_restart.py"]
collect_ignore = [] if os.environ.get("CARTPATH_TEST_STORE") == "postgres" else POSTGRES_ONLY


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return store_env(tmp_path)


@pytest.fixture
def app(env) -> CartPath:
    """A CartPath on a fresh store, manual clock, with the small test process deployed."""
    cp = CartPath(env=env)
    cp.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
    return cp


