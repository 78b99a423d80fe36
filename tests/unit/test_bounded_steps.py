"""A model that runs away only at run time (nothing in its source shows it): the step stops with
a BudgetExceeded incident on that pathway, in bounded time and memory, and the same worker goes
on with another pathway."""
from __future__ import annotations

import pytest

from cartpath.engine import determinism
from cartpath.engine.definitions import parse_model
from cartpath.engine.lint import lint_files
from cartpath.engine.pathway import Pathway
from cartpath.engine.runtime import Runtime
from tests.support.store import FIXTURES, T0
from tests.unit.test_pathway_runtime import ACTOR, only_ready, started

MINI = (FIXTURES / "mini_pathway.bpmn").read_bytes()

# Each passes lint (sizes come from the data, or from values shared by reference) and would
# cost seconds of CPU or gigabytes if run unbounded.
RUNAWAYS = {
    "deep-compare": b'intake["ok"] == True and [[0] * 9000] * 9000 == [[0] * 9000] * 9000',
    "format-width": b'intake["ok"] == True and len("%0*d" % (len(intake["order_id"]) * 1000000000, 1)) &gt; 0',
    "repeat-from-data": b'intake["ok"] == True and len(intake["order_id"] * 1000000000) &gt; 0',
    "str-of-shared": b'intake["ok"] == True and len(str([[intake["order_id"]] * 9000] * 9000)) &gt; 0',
    "sorted-shared": b'intake["ok"] == True and len(sorted([[0] * 9000] * 9000)) &gt; 0',
    "round-digits": b'intake["ok"] == True and round(len(intake["order_id"]), -100000000) == 0',
}


def model_with(condition: bytes):
    files = {"mini_pathway.bpmn": MINI.replace(b'intake["ok"] == True', condition)}
    assert lint_files(files) == []
    return parse_model("mini_pathway", 1, files)


def complete_intake(pathway: Pathway, runtime: Runtime, order_id: str) -> None:
    with determinism.engine_run(T0, pathway.id, pathway.version + 1):
        pathway.complete_task(runtime, only_ready(pathway, "intake"), {"ok": True, "order_id": order_id}, ACTOR, T0)


@pytest.fixture(scope="module")
def good_model():
    return parse_model("mini_pathway", 1, {"mini_pathway.bpmn": MINI})


@pytest.mark.parametrize("name", sorted(RUNAWAYS))
def test_a_runaway_condition_fails_its_step_not_the_worker(name, good_model):
    other, other_runtime = started(good_model)
    pathway, runtime = started(model_with(RUNAWAYS[name]))
    complete_intake(pathway, runtime, "ORD-1")
    assert pathway.incident is not None
    assert (pathway.incident["node"], pathway.incident["error_class"]) == ("ok_gw", "BudgetExceeded")
    assert "budget" in pathway.incident["message"] or "limit" in pathway.incident["message"]
    assert not runtime.waits_for("slot_confirmed")  # the gateway did not pass
    complete_intake(other, other_runtime, "ORD-3")  # the same worker goes on with another pathway
    assert other_runtime.waits_for("slot_confirmed")


def test_a_condition_that_fits_the_budget_runs():
    model = model_with(b'intake["ok"] == True and len(str([[0] * 100] * 100)) &gt; 0')
    pathway, runtime = started(model)
    complete_intake(pathway, runtime, "ORD-2")
    assert runtime.waits_for("slot_confirmed")
