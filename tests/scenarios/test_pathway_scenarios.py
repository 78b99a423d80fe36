"""Every scenario of the CAR-T pathway, one test each (see tests/scenarios/__init__.py),
then the BPMN coverage they reach together."""
from __future__ import annotations

import pytest

from . import all_scenarios
from .conftest import REPORT_DIR, cart_app_in, run_and_record

SCENARIOS = all_scenarios()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name, cart_app, bpmn_coverage):
    run_and_record(name, SCENARIOS[name], cart_app, bpmn_coverage)


def test_scenarios_cover_every_flow_node_and_sequence_flow(bpmn_coverage, tmp_path_factory):
    """Scenarios that did not run in this session (this test run alone, with -k, or in
    another order) run here first, each on its own store: the verdict never depends on
    test order or selection. A scenario that fails fails this test too."""
    for name, fn in SCENARIOS.items():
        if name not in bpmn_coverage.scenarios:
            run_and_record(name, fn, cart_app_in(tmp_path_factory.mktemp("scenario")), bpmn_coverage)
    _, as_text = bpmn_coverage.write(REPORT_DIR)
    summary = bpmn_coverage.summary()
    assert bpmn_coverage.unknown() == [], "recorded ids the model does not have"
    assert len(bpmn_coverage.nodes) == len(bpmn_coverage.model.kinds)  # the whole model, subprocesses included
    assert summary["flow_nodes"]["uncovered"] == [], f"see {as_text}"
    assert summary["sequence_flows"]["uncovered"] == [], f"see {as_text}"
    assert summary["flow_nodes"]["percent"] == summary["sequence_flows"]["percent"] == 100.0


def test_coverage_names_what_a_scenario_set_leaves_out(tmp_path):
    """The coverage gate is not vacuous: one short scenario leaves most of the model uncovered."""
    from .bpmn_coverage import BpmnCoverage
    from .conftest import PROCESSES
    coverage = BpmnCoverage(PROCESSES)
    run_and_record("not_eligible", SCENARIOS["not_eligible"], cart_app_in(tmp_path), coverage)
    summary = coverage.summary()
    assert coverage.node_hits["end_not_eligible"] == 1 and coverage.flow_hits["f_gw_eligible__end_not_eligible"] == 1
    assert "patient_consent" in summary["flow_nodes"]["uncovered"]
    assert "f_gw_eligible__patient_consent" in summary["sequence_flows"]["uncovered"]
    assert {"daily_assessment", "join_manufacturing"} <= set(summary["flow_nodes"]["uncovered"])  # inside subprocesses
    # start, init_pathway, rcp_eligibility, gw_eligible, end_not_eligible
    assert summary["flow_nodes"]["covered"] == 5 and summary["flow_nodes"]["percent"] < 10
    written = coverage.write(tmp_path / "report")
    assert "!!" in written[1].read_text() and '"covered": false' in written[0].read_text()
