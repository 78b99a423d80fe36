"""The decision tables of processes/ against the definitions in PATHWAY.md (ASTCT 2019 for
CRS and ICANS, the EU label for infusion deferral), exhaustively over their input domains.

The tables are read the way the engine reads them (``engine.definitions.parse_model``) and
evaluated by SpiffWorkflow's DMN engine with the engine's sandboxed script engine, so a
cell the sandbox would refuse fails here too. The expected grades are computed from the
definitions independently of the tables."""
from __future__ import annotations

import copy
import itertools
from types import SimpleNamespace

import pytest
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import HitPolicy

from cartpath.engine.definitions import parse_model
from cartpath.engine.lint import read_paths
from cartpath.engine.sandbox import SCRIPT_ENGINE, SandboxScriptEngine
from tests.support.store import ROOT

HYPOTENSION = {"none": 1, "fluids": 2, "one_vasopressor": 3, "multiple_vasopressors": 4}
OXYGEN = {"none": 1, "low_flow": 2, "high_flow": 3, "positive_pressure": 4}
# both sides of 38.0, integers as a form may send them, and the extremes
TEMPERATURES = (34.0, 36, 37.5, 37.9, 37.99, 37.999, 38, 38.0, 38.001, 38.01, 38.5, 39, 40.2, 42.0)
EDEMA = {"none": 0, "focal": 3, "diffuse": 4}
CHECKS = ("active_infection", "uncontrolled_arrhythmia", "vasopressor_hypotension", "organ_dysfunction_g3",
          "clinical_worsening")
CALM = {"assessed_on": "2026-03-01", "temperature_c": 37.0, "hypotension": "none", "oxygen": "none", "ice_score": 10,
        "seizure": False, "cerebral_edema": "none"}


def crs_astct(temperature: float, hypotension: str, oxygen: str) -> int:
    """PATHWAY.md: no fever (< 38.0) -> 0; with fever, the worst of hypotension and oxygen."""
    return 0 if temperature < 38.0 else max(HYPOTENSION[hypotension], OXYGEN[oxygen])


def icans_astct(ice: int, seizure: bool, edema: str) -> int:
    """PATHWAY.md: the worst of ICE (10 -> 0, 7-9 -> 1, 3-6 -> 2, 0-2 -> 3), seizure (3), oedema."""
    by_ice = 0 if ice == 10 else 1 if ice >= 7 else 2 if ice >= 3 else 3
    return max(by_ice, 3 if seizure else 0, EDEMA[edema])


@pytest.fixture(scope="module")
def tables() -> dict[str, DMNEngine]:
    """decision id -> the DMN engine of the business rule task that calls it."""
    model = parse_model("cart_pathway", 1, read_paths([ROOT / "processes"]))
    found = {}
    for spec in (model.spec, *model.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            engine = getattr(task_spec, "dmnEngine", None)
            if engine is not None:
                found[engine.decision_table.id.removesuffix("_table")] = engine
    return found


def decide(engine: DMNEngine, data: dict) -> dict:
    task = SimpleNamespace(data=data, workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE))
    return engine.result(task)


def matching_rows(engine: DMNEngine, data: dict) -> list[str]:
    """Every row that matches (a COLLECT copy of the table): UNIQUE means exactly one."""
    table = copy.copy(engine.decision_table)
    table.hit_policy = HitPolicy.COLLECT.value
    task = SimpleNamespace(data=data, workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE))
    return [rule.id for rule in DMNEngine(table).decide(task)]


def test_the_model_calls_the_three_tables_with_the_sandboxed_engine(tables):
    assert set(tables) == {"crs_grade", "icans_grade", "infusion_deferral"}
    assert all(t.decision_table.hit_policy == HitPolicy.UNIQUE.value for t in tables.values())
    assert isinstance(SCRIPT_ENGINE, SandboxScriptEngine)


def test_crs_grade_every_temperature_hypotension_and_oxygen(tables):
    used = set()
    for temperature, hypotension, oxygen in itertools.product(TEMPERATURES, HYPOTENSION, OXYGEN):
        data = {"daily_assessment": dict(CALM, temperature_c=temperature, hypotension=hypotension, oxygen=oxygen)}
        expected = crs_astct(temperature, hypotension, oxygen)
        assert decide(tables["crs_grade"], data) == {"crs_grade": expected}, (temperature, hypotension, oxygen)
        rows = matching_rows(tables["crs_grade"], data)
        assert len(rows) == 1, (temperature, hypotension, oxygen, rows)
        used.update(rows)
    assert used == {r.id for r in tables["crs_grade"].decision_table.rules}  # no dead row


def test_icans_grade_every_ice_score_seizure_and_oedema(tables):
    used = set()
    for ice, seizure, edema in itertools.product(range(11), (False, True), EDEMA):
        data = {"daily_assessment": dict(CALM, ice_score=ice, seizure=seizure, cerebral_edema=edema)}
        assert decide(tables["icans_grade"], data) == {"icans_grade": icans_astct(ice, seizure, edema)}, \
            (ice, seizure, edema)
        rows = matching_rows(tables["icans_grade"], data)
        assert len(rows) == 1, (ice, seizure, edema, rows)
        used.update(rows)
    assert used == {r.id for r in tables["icans_grade"].decision_table.rules}


def test_infusion_deferral_every_check_combination_and_tocilizumab_count(tables):
    used = set()
    for flags, doses in itertools.product(itertools.product((False, True), repeat=len(CHECKS)), (0, 1, 2, 4, 10)):
        data = {"pre_infusion_check": dict(zip(CHECKS, flags), tocilizumab_doses_on_site=doses)}
        expected = any(flags) or doses < 1  # EU label: at least one tocilizumab dose on site
        assert decide(tables["infusion_deferral"], data) == {"defer": expected}, (flags, doses)
        rows = matching_rows(tables["infusion_deferral"], data)
        assert len(rows) == 1, (flags, doses, rows)
        used.update(rows)
    assert used == {r.id for r in tables["infusion_deferral"].decision_table.rules}


@pytest.mark.parametrize("signs, crs, icans", [
    # PATHWAY.md, one line each, read aloud
    ({"temperature_c": 37.9, "hypotension": "multiple_vasopressors", "oxygen": "positive_pressure"}, 0, 0),
    ({"temperature_c": 38.0}, 1, 0),                                             # fever alone
    ({"temperature_c": 38.5, "hypotension": "fluids"}, 2, 0),
    ({"temperature_c": 38.5, "oxygen": "low_flow"}, 2, 0),
    ({"temperature_c": 39.0, "hypotension": "one_vasopressor", "oxygen": "low_flow"}, 3, 0),  # worst wins
    ({"temperature_c": 39.0, "hypotension": "fluids", "oxygen": "high_flow"}, 3, 0),
    ({"temperature_c": 40.0, "hypotension": "multiple_vasopressors"}, 4, 0),
    ({"temperature_c": 40.0, "oxygen": "positive_pressure"}, 4, 0),
    ({"ice_score": 9}, 0, 1), ({"ice_score": 7}, 0, 1),
    ({"ice_score": 6}, 0, 2), ({"ice_score": 3}, 0, 2),
    ({"ice_score": 2}, 0, 3), ({"ice_score": 0}, 0, 3),
    ({"seizure": True}, 0, 3),                                                   # seizure with a normal ICE
    ({"cerebral_edema": "focal"}, 0, 3),
    ({"cerebral_edema": "diffuse", "ice_score": 8}, 0, 4),
])
def test_astct_definitions_line_by_line(tables, signs, crs, icans):
    data = {"daily_assessment": dict(CALM, **signs)}
    assert decide(tables["crs_grade"], data) == {"crs_grade": crs}
    assert decide(tables["icans_grade"], data) == {"icans_grade": icans}
