"""The decision tables of processes/ against PATHWAY.md (contract v2): ASTCT 2019 for CRS and
ICANS, the deferral rules, the product rules and discharge readiness, exhaustively over
their input domains.

The tables are parsed the way the engine parses them (cartpath's hardened XML reader, then
SpiffWorkflow's DMN parser, as ``engine.definitions.parse_model`` does) and evaluated by
the engine's DMN engine (SpiffWorkflow's, its cells read by ``engine.decision_cells``) with the
sandboxed script engine, so a cell the sandbox
would refuse fails here too. The expected answers are stated below in plain Python, grade by
grade as ASTCT 2019 and PATHWAY.md word them, independently of the tables' rows. For every
input combination the test also asks which rows match: hit policy UNIQUE means exactly one,
and every row must be the answer for some input (no dead row)."""
from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import pytest
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import HitPolicy

from cartpath.engine.decision_cells import SandboxDecisionEngine
from cartpath.engine.definitions import parse_model
from cartpath.engine.lint import lint_files, local, parse_xml, read_paths
from cartpath.engine.model_parser import ModelParser
from cartpath.engine.sandbox import SCRIPT_ENGINE, SandboxScriptEngine
from tests.support.store import ROOT

PROCESSES = ROOT / "processes"
DECISIONS = ("crs_grade", "icans_grade", "infusion_deferral", "product_rules", "discharge_readiness")

# ---------------------------------------------------------------------------------------
# The independent statement: ASTCT 2019 consensus grading and PATHWAY.md, written by hand.
# ---------------------------------------------------------------------------------------
HYPOTENSION = ("none", "fluids", "one_vasopressor", "multiple_vasopressors")
OXYGEN = ("none", "low_flow", "high_flow", "positive_pressure")
CONSCIOUSNESS = ("alert", "awakens_spontaneously", "awakens_to_voice", "awakens_to_touch", "unarousable")
EDEMA = ("none", "focal", "diffuse")
CHECKS = ("active_infection", "uncontrolled_arrhythmia", "vasopressor_hypotension", "organ_dysfunction_g3",
          "clinical_worsening", "active_gvhd", "unresolved_toxicity")


def crs_astct(temperature_c: float, hypotension: str, oxygen: str, fever_masked: bool) -> int:
    """ASTCT 2019 CRS, grade by grade. Fever is >= 38.0 °C; without fever there is no CRS
    unless fever is masked (CRS already treated, PATHWAY.md v2): then it is not required."""
    fever = temperature_c >= 38.0
    if not fever and not fever_masked:
        return 0
    if hypotension == "multiple_vasopressors" or oxygen == "positive_pressure":
        return 4
    if hypotension == "one_vasopressor" or oxygen == "high_flow":
        return 3
    if hypotension == "fluids" or oxygen == "low_flow":
        return 2
    return 1 if fever else 0  # masked fever with neither hypotension nor hypoxia: no CRS sign left


def icans_astct(ice: int, seizure: bool, edema: str, consciousness: str, seizure_prolonged: bool,
                motor_weakness: bool, raised_icp: bool) -> int:
    """ASTCT 2019 ICANS: the grade is that of the most severe domain, read from grade 4 down."""
    if (consciousness == "unarousable" or seizure_prolonged or motor_weakness or raised_icp
            or edema == "diffuse"):
        return 4
    if ice <= 2 or consciousness == "awakens_to_touch" or seizure or edema == "focal":
        return 3
    if ice <= 6 or consciousness == "awakens_to_voice":
        return 2
    if ice <= 9 or consciousness == "awakens_spontaneously":
        return 1
    return 0


def defer_infusion(checks: dict[str, bool], doses_on_site: int, min_doses: int, lymphodepletion_done: bool) -> bool:
    """PATHWAY.md: any positive check, too few tocilizumab doses, or lymphodepletion not completed."""
    return any(checks.values()) or doses_on_site < min_doses or not lymphodepletion_done


# PATHWAY.md "Decision tables", product_rules: min days, max days, thaw minutes, tocilizumab doses
PRODUCT_RULES = {
    "axi-cel": (5, 14, 180, 1),
    "brexu-cel": (5, 14, 180, 1),
    "tisa-cel": (4, 14, 30, 1),
    "liso-cel": (5, 14, 120, 1),
    "ide-cel": (5, 14, 60, 1),
    "cilta-cel": (5, 7, 150, 1),
}
ANY_OTHER_PRODUCT = (5, 14, 30, 1)
# names with no row of their own, near misses included: they must take the cautious defaults
OTHER_PRODUCTS = ("obe-cel", "AXI-CEL", "axicel", "axi-cel ", "Kymriah", "", "unknown")


def discharge_ready(days_since_infusion: int, days_grade0: int) -> bool:
    return days_since_infusion >= 14 and days_grade0 >= 2


# temperatures: 35.0-41.5 °C in 0.1 steps, integers as a form may send them, and the edge of 38.0
TEMPERATURES = sorted({round(35.0 + tenth / 10, 1) for tenth in range(66)}
                      | {36, 37, 38, 39, 40, 37.9, 37.99, 37.999, 38.001, 38.01})

# ---------------------------------------------------------------------------------------
# Reading and running the tables as the engine does
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tables() -> dict[str, DMNEngine]:
    """decision id -> a DMN engine over that file's table, parsed like a deployed definition."""
    parser = ModelParser()
    for name, content in read_paths([PROCESSES]).items():
        if name.endswith(".dmn"):
            root, problems = parse_xml(name, content)
            assert root is not None, problems
            parser.add_dmn_xml(root, filename=name)
    return {decision: parser.get_engine(decision, None) for decision in parser.dmn_parsers}


def _task(data: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(data=data, workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE))


def decide(engine: DMNEngine, data: dict[str, Any]) -> dict[str, Any]:
    return engine.result(_task(data))


def matching_rows(engine: DMNEngine, data: dict[str, Any]) -> list[str]:
    """Every row that matches (a COLLECT copy of the table): UNIQUE means exactly one."""
    table = copy.copy(engine.decision_table)
    table.hit_policy = HitPolicy.COLLECT.value
    return [rule.id for rule in SandboxDecisionEngine(table).decide(_task(data))]


def check_all(engine: DMNEngine, cases: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Each (task data, expected outputs): the table answers exactly that, with the output's
    type (3 is not 3.0, True is not 1), from exactly one row; and every row answers some case."""
    used: set[str] = set()
    count = 0
    for data, expected in cases:
        got = decide(engine, data)
        assert got == expected and [type(v) for v in got.values()] == [type(v) for v in expected.values()], \
            (data, got, expected)
        rows = matching_rows(engine, data)
        assert len(rows) == 1, (data, rows)
        used.update(rows)
        count += 1
    assert used == {rule.id for rule in engine.decision_table.rules}, "rows no input reaches"
    return count


def assessment(**signs: Any) -> dict[str, Any]:
    """An assessment as the model hands it to the tables: optional fields at their defaults."""
    calm = {"temperature_c": 37.0, "hypotension": "none", "oxygen": "none", "ice_score": 10, "seizure": False,
            "cerebral_edema": "none", "consciousness": "alert", "seizure_prolonged": False,
            "motor_weakness": False, "raised_icp": False}
    return dict(calm, **signs)


# ---------------------------------------------------------------------------------------
# The files and the interface the model is written against
# ---------------------------------------------------------------------------------------


def test_one_decision_per_file_named_after_it_with_hit_policy_unique(tables):
    # SpiffWorkflow keeps only the first decision of a file and drops the rest silently
    for name, content in read_paths([PROCESSES]).items():
        if name.endswith(".dmn"):
            root, _ = parse_xml(name, content)
            decisions = [el.get("id") for el in root if local(el.tag) == "decision"]
            assert decisions == [name.removesuffix(".dmn")], name
    assert set(tables) == set(DECISIONS)
    assert all(t.decision_table.hit_policy == HitPolicy.UNIQUE.value for t in tables.values())
    assert isinstance(SCRIPT_ENGINE, SandboxScriptEngine)


@pytest.mark.parametrize("decision, inputs, outputs", [
    ("crs_grade", ['assessment["temperature_c"]', 'assessment["hypotension"]', 'assessment["oxygen"]',
                   "fever_masked"], ["crs_grade"]),
    ("icans_grade", ['assessment["ice_score"]', 'assessment["seizure"]', 'assessment["cerebral_edema"]',
                     'assessment["consciousness"]', 'assessment["seizure_prolonged"]',
                     'assessment["motor_weakness"]', 'assessment["raised_icp"]'], ["icans_grade"]),
    ("infusion_deferral", [f'pre_infusion_check["{c}"]' for c in CHECKS]
     + ["tocilizumab_doses_on_site", "tocilizumab_min_doses", "lymphodepletion_completed"], ["defer"]),
    ("product_rules", ["product"], ["infusion_window_min_days", "infusion_window_max_days",
                                    "thaw_to_infusion_max_minutes", "tocilizumab_min_doses"]),
    ("discharge_readiness", ["days_since_infusion", "days_grade0"], ["ready"]),
])
def test_inputs_and_outputs_are_the_names_the_model_provides_and_reads(tables, decision, inputs, outputs):
    table = tables[decision].decision_table
    assert [i.expression for i in table.inputs] == inputs
    assert [o.name for o in table.outputs] == outputs


def test_the_tables_pass_lint_and_the_model_calls_every_one_of_them(tables):
    files = read_paths([PROCESSES])
    assert lint_files(files) == []
    model = parse_model("cart_pathway", 1, files)  # SpiffWorkflow resolves every calledDecisionId
    called = {t.dmnEngine.decision_table.id.removesuffix("_table")
              for spec in (model.spec, *model.subprocess_specs.values())
              for t in spec.task_specs.values() if getattr(t, "dmnEngine", None) is not None}
    assert called == set(tables)  # no table the model forgets, none it calls that is missing


# ---------------------------------------------------------------------------------------
# Exhaustive checks
# ---------------------------------------------------------------------------------------


def test_crs_grade_every_temperature_hypotension_oxygen_and_masked_fever(tables):
    cases = (
        ({"assessment": assessment(temperature_c=t, hypotension=h, oxygen=o), "fever_masked": masked},
         {"crs_grade": crs_astct(t, h, o, masked)})
        for t, h, o, masked in itertools.product(TEMPERATURES, HYPOTENSION, OXYGEN, (False, True)))
    assert check_all(tables["crs_grade"], cases) == len(TEMPERATURES) * 4 * 4 * 2


def test_icans_grade_every_ice_score_and_sign(tables):
    domains = (range(11), (False, True), EDEMA, CONSCIOUSNESS, (False, True), (False, True), (False, True))
    cases = (
        ({"assessment": assessment(ice_score=ice, seizure=sz, cerebral_edema=ed, consciousness=lc,
                                   seizure_prolonged=sp, motor_weakness=mw, raised_icp=icp)},
         {"icans_grade": icans_astct(ice, sz, ed, lc, sp, mw, icp)})
        for ice, sz, ed, lc, sp, mw, icp in itertools.product(*domains))
    assert check_all(tables["icans_grade"], cases) == 11 * 2 * 3 * 5 * 2 * 2 * 2


def test_infusion_deferral_every_check_tocilizumab_count_and_lymphodepletion(tables):
    def cases():
        for flags in itertools.product((False, True), repeat=len(CHECKS)):
            checks = dict(zip(CHECKS, flags))
            for doses, min_doses, done in itertools.product(range(5), (1, 2, 3), (False, True)):
                data = {"pre_infusion_check": dict(checks, tocilizumab_doses_on_site=doses),
                        "tocilizumab_doses_on_site": doses, "tocilizumab_min_doses": min_doses,
                        "lymphodepletion_completed": done}
                yield data, {"defer": defer_infusion(checks, doses, min_doses, done)}
    assert check_all(tables["infusion_deferral"], cases()) == 2 ** 7 * 5 * 3 * 2


def test_infusion_deferral_decides_on_the_engines_dose_count_never_the_typed_one(tables):
    # PATHWAY.md v2: a tocilizumab_doses_on_site sent in the form is kept as reported, never decides
    clear = dict.fromkeys(CHECKS, False)
    typed_many = {"pre_infusion_check": dict(clear, tocilizumab_doses_on_site=4), "tocilizumab_doses_on_site": 0,
                  "tocilizumab_min_doses": 1, "lymphodepletion_completed": True}
    assert decide(tables["infusion_deferral"], typed_many) == {"defer": True}
    typed_none = dict(typed_many, pre_infusion_check=dict(clear, tocilizumab_doses_on_site=0),
                      tocilizumab_doses_on_site=1)
    assert decide(tables["infusion_deferral"], typed_none) == {"defer": False}


def test_product_rules_every_listed_product_and_any_other(tables):
    names = ("infusion_window_min_days", "infusion_window_max_days", "thaw_to_infusion_max_minutes",
             "tocilizumab_min_doses")
    cases = [({"product": p}, dict(zip(names, PRODUCT_RULES.get(p, ANY_OTHER_PRODUCT))))
             for p in (*PRODUCT_RULES, *OTHER_PRODUCTS)]
    assert check_all(tables["product_rules"], cases) == len(PRODUCT_RULES) + len(OTHER_PRODUCTS)


def test_discharge_readiness_every_day_and_grade0_streak(tables):
    cases = (({"days_since_infusion": d, "days_grade0": g}, {"ready": discharge_ready(d, g)})
             for d, g in itertools.product(range(41), range(41)))
    assert check_all(tables["discharge_readiness"], cases) == 41 * 41


# ---------------------------------------------------------------------------------------
# The clinical cases, one line each, as a haematologist would read them aloud
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("signs, masked, crs, icans", [
    ({"temperature_c": 37.9, "hypotension": "multiple_vasopressors", "oxygen": "positive_pressure"}, False, 0, 0),
    # the dangerous case: tocilizumab took the fever away, the patient is on several pressors
    ({"temperature_c": 36.8, "hypotension": "multiple_vasopressors"}, True, 4, 0),
    ({"temperature_c": 37.2, "oxygen": "high_flow"}, True, 3, 0),
    ({"temperature_c": 37.2, "hypotension": "fluids"}, True, 2, 0),
    ({"temperature_c": 37.2}, True, 0, 0),                                        # treated and no sign left
    ({"temperature_c": 38.4}, True, 1, 0),                                        # fever back: grade 1 again
    ({"temperature_c": 38.0}, False, 1, 0),                                       # fever alone
    ({"temperature_c": 38.5, "hypotension": "fluids"}, False, 2, 0),
    ({"temperature_c": 38.5, "oxygen": "low_flow"}, False, 2, 0),
    ({"temperature_c": 39.0, "hypotension": "one_vasopressor", "oxygen": "low_flow"}, False, 3, 0),  # worst wins
    ({"temperature_c": 39.0, "hypotension": "fluids", "oxygen": "high_flow"}, False, 3, 0),
    ({"temperature_c": 40.0, "hypotension": "multiple_vasopressors"}, False, 4, 0),
    ({"temperature_c": 40.0, "oxygen": "positive_pressure"}, False, 4, 0),
    ({"ice_score": 9}, False, 0, 1), ({"ice_score": 7}, False, 0, 1),
    ({"ice_score": 6}, False, 0, 2), ({"ice_score": 3}, False, 0, 2),
    ({"ice_score": 2}, False, 0, 3), ({"ice_score": 0}, False, 0, 3),
    ({"seizure": True}, False, 0, 3),                                             # seizure with a normal ICE
    ({"cerebral_edema": "focal"}, False, 0, 3),
    ({"cerebral_edema": "diffuse", "ice_score": 8}, False, 0, 4),
    ({"consciousness": "awakens_spontaneously"}, False, 0, 1),
    ({"consciousness": "awakens_to_voice", "ice_score": 8}, False, 0, 2),
    ({"consciousness": "awakens_to_touch", "ice_score": 7}, False, 0, 3),
    ({"consciousness": "unarousable", "ice_score": 0}, False, 0, 4),              # the issue: 4, not 3
    ({"seizure": True, "seizure_prolonged": True}, False, 0, 4),
    ({"motor_weakness": True}, False, 0, 4),
    ({"raised_icp": True, "ice_score": 10}, False, 0, 4),
])
def test_astct_definitions_line_by_line(tables, signs, masked, crs, icans):
    data = {"assessment": assessment(**signs), "fever_masked": masked}
    assert decide(tables["crs_grade"], data) == {"crs_grade": crs}
    assert decide(tables["icans_grade"], data) == {"icans_grade": icans}
