"""SpiffWorkflow's per-state-change INFO lines stay out of a process that logs at INFO (as
`cartpath scheduler` does): six a command, with task data in their extras; its warnings still show."""
from __future__ import annotations

import logging
from datetime import timedelta

from cartpath.engine.application import CartPath
from cartpath.engine.lint import read_paths
from tests.support.store import FIXTURES, T0, ready_named


def test_commands_log_no_engine_trace_at_info_but_engine_warnings_pass(caplog):
    caplog.set_level(logging.INFO)
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CARTPATH_CLOCK": "manual",
                        "CARTPATH_CLOCK_START": T0.isoformat()})
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = app.start_pathway("P-1", "FR-01", "DLBCL", "axi-cel", process_key="loop_pathway").pathway
    p = app.complete_task(p.id, ready_named(p, "assess"), {"value": 1})
    assert app.fire_due_timers(T0 + timedelta(days=1, hours=1)) == 1
    assert "assess" in {t["name"] for t in app.get_pathway(p.id).ready.values()}
    assert [r for r in caplog.records if r.name.startswith("spiff")] == []
    logging.getLogger("spiff.task").warning("a warning of the engine")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("spiff")] == ["a warning of the engine"]
