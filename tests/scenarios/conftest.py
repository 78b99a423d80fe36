"""Fixtures of the pathway scenarios: a fresh store with the bundled CAR-T model per
scenario, and one BPMN coverage record for the whole session, written at its end."""
from __future__ import annotations

from pathlib import Path

import pytest

from cartpath.engine.application import CartPath
from tests.support.store import ROOT, store_env

from .bpmn_coverage import BpmnCoverage

PROCESSES = ROOT / "processes"
REPORT_DIR = ROOT / "coverage" / "bpmn"


def cart_app_in(directory: Path) -> CartPath:
    """A CartPath on an empty store (manual clock) with processes/ deployed."""
    app = CartPath(env=store_env(directory))
    app.deploy_bundled(PROCESSES)
    return app


@pytest.fixture
def cart_app(tmp_path) -> CartPath:
    return cart_app_in(tmp_path)


@pytest.fixture(scope="session")
def bpmn_coverage():
    coverage = BpmnCoverage(PROCESSES)
    yield coverage
    if coverage.scenarios:
        coverage.write(REPORT_DIR)


def run_and_record(name: str, fn, app: CartPath, coverage: BpmnCoverage) -> None:
    """Run one scenario, check every pathway it left verifies, then count its coverage."""
    fn(app)
    for pathway_id in app.pathway_ids():
        report = app.verify(pathway_id)
        assert report["ok"], (name, report)
    coverage.record(name, app)
