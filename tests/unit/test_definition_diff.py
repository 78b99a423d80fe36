"""The definition diff on variants of the bundled pathway: each kind of change a process
owner makes is found, described with its before and after, and said in one sentence;
identical versions give an empty diff. Parsed with the real parser, compared with
SpiffWorkflow's own SpecDiff (no store)."""
from __future__ import annotations

from functools import cache

import pytest

from cartpath.engine.definition_diff import diff_versions
from cartpath.engine.definitions import ProcessModel, parse_model
from cartpath.engine.form_diff import duration_words
from tests.support import variants as v


@cache
def base() -> ProcessModel:
    return parse_model("cart_pathway", 1, v.bundled())


def diff(files: dict[str, bytes]) -> dict:
    return diff_versions(base(), parse_model("cart_pathway", 2, files))


def only_changes(result: dict) -> list[str]:
    return result["changes"]


def test_identical_versions_give_an_empty_diff():
    result = diff_versions(base(), v.bundled())
    assert result["identical"] is True
    assert result["changes"] == []
    assert set(result["summary"].values()) == {0}
    assert result["nodes"] == {"added": [], "removed": [], "changed": []}
    assert result["flows"] == {"added": [], "removed": [], "changed": []}
    assert (result["forms"], result["timers"], result["decisions"]) == ([], [], [])
    assert (result["key"], result["from_version"], result["to_version"]) == ("cart_pathway", 1, None)


def test_a_dmn_threshold_changed_is_one_rule_changed():
    result = diff(v.dmn_cell(v.bundled(), "crs_grade_rule_3_in_1", ">= 38.5"))
    (decision,) = result["decisions"]
    assert (decision["decision"], decision["change"]) == ("crs_grade", "changed")
    (rule,) = decision["rules"]["changed"]
    assert rule["rule"] == "crs_grade_rule_3" and rule["row_after"] == 3
    assert rule["inputs"] == [{"column": "Temperature (°C)", "before": ">= 38.0", "after": ">= 38.5"}]
    assert rule["outputs"] == []
    assert decision["rules"]["added"] == decision["rules"]["removed"] == []
    assert only_changes(result) == ["Decision 'crs_grade': rule 3 changed: Temperature (°C) >= 38.0 -> >= 38.5"]
    # SpiffWorkflow sees the table change on both tasks that evaluate it
    changed = {n["id"]: n["changes"] for n in result["nodes"]["changed"]}
    assert changed == {"crs_grading": ["decision"], "icu_crs_grading": ["decision"]}
    assert result["summary"]["rule_changes"] == 1 and result["summary"]["decisions_changed"] == 1


def test_a_dmn_output_and_a_removed_rule():
    files = v.dmn_cell(v.bundled(), "crs_grade_rule_3_out_1", "3")
    result = diff(v.dmn_rule_removed(files, "crs_grade_rule_4"))
    (decision,) = result["decisions"]
    (removed,) = decision["rules"]["removed"]
    assert removed["rule"] == "crs_grade_rule_4" and removed["then"] == {"CRS grade": "3"}
    assert removed["when"]["Oxygen support"] == '"high_flow"'
    assert removed["when"]["Fever masked (CRS treated since)"] == "-"  # any value
    (changed,) = decision["rules"]["changed"]
    assert changed["outputs"] == [{"column": "CRS grade", "before": "2", "after": "3"}]
    assert "Decision 'crs_grade': rule 3 changed: CRS grade 2 -> 3" in result["changes"]
    assert ("Decision 'crs_grade': rule 4 removed (it said: when Temperature (°C) >= 38.0, Hypotension \"none\", "
            "Oxygen support \"high_flow\" then CRS grade 3)") in result["changes"]


def test_a_removed_task_is_removed_and_its_neighbours_rewired():
    result = diff(v.task_removed(v.bundled(), "bridging_decision"))
    (removed,) = result["nodes"]["removed"]
    assert removed == {"id": "bridging_decision", "name": "Bridging therapy decision", "type": "userTask",
                       "lane": "hematology", "process": "manufacturing_round"}
    assert result["nodes"]["added"] == []
    assert "Task 'Bridging therapy decision' (bridging_decision) removed" in result["changes"]
    assert [(f["source"], f["target"]) for f in result["flows"]["added"]] == [("split_manufacturing", "note_bridging")]
    assert {(f["source"], f["target"]) for f in result["flows"]["removed"]} == {
        ("split_manufacturing", "bridging_decision"), ("bridging_decision", "note_bridging")}
    assert result["changes"] == [
        "Task 'Bridging therapy decision' (bridging_decision) removed",
        "New path from split_manufacturing to 'Note bridging decision' (note_bridging)",
        "Path from 'Bridging therapy decision' (bridging_decision) to 'Note bridging decision' (note_bridging) removed",
        "Path from split_manufacturing to 'Bridging therapy decision' (bridging_decision) removed"]
    # the form of a removed task is not listed field by field: the task is gone
    assert result["forms"] == []


def test_a_field_added_required_or_optional():
    files = v.field_added(v.bundled(), "thaw_product", "bag_intact", "bool", required=True)
    files = v.field_added(files, "infusion", "infusion_site", "string", required=False)
    result = diff(files)
    forms = {(f["task"], f["field"]): f for f in result["forms"]}
    assert forms[("thaw_product", "bag_intact")]["change"] == "field_added"
    assert forms[("thaw_product", "bag_intact")]["after"]["required"] is True
    assert forms[("infusion", "infusion_site")]["after"]["required"] is False
    assert result["changes"] == [
        "Task 'CAR-T infusion' (infusion): new optional field 'infusion_site' (string)",
        "Task 'Thaw and dispense product' (thaw_product): new required field 'bag_intact' (bool)"]
    assert {n["id"]: n["changes"] for n in result["nodes"]["changed"]} == {"infusion": ["form"],
                                                                           "thaw_product": ["form"]}
    assert result["nodes"]["changed"][1]["lane"] == "pharmacy"


def test_a_field_retyped_made_required_and_its_values_changed():
    files = v.field_changed(v.bundled(), "daily_assessment", "temperature_c", type="string")
    files = v.field_changed(files, "thaw_product", "coi_scanned", required="false")
    files = v.field_changed(files, "daily_assessment", "oxygen", values="none,low_flow,high_flow,ecmo")
    result = diff(files)
    said = [s for s in result["changes"] if "(daily_assessment)" in s or "(thaw_product)" in s]
    assert said == [  # in the form's order
        "Task 'Toxicity assessment (at least daily)' (daily_assessment): field 'temperature_c' is now string "
        "(was number)",
        "Task 'Toxicity assessment (at least daily)' (daily_assessment): field 'oxygen': values added: ecmo; "
        "values removed: positive_pressure",
        "Task 'Thaw and dispense product' (thaw_product): field 'coi_scanned' is now optional"]
    retyped = next(f for f in result["forms"] if f["change"] == "type")
    assert (retyped["before"], retyped["after"]) == ("number", "string")


def test_a_field_made_required_says_so():
    files = v.field_changed(v.bundled(), "infusion", "infusion_ended_at", required="true")
    result = diff(files)
    assert result["changes"] == ["Task 'CAR-T infusion' (infusion): field 'infusion_ended_at' is now required"]
    (change,) = result["forms"]
    assert change == {"task": "infusion", "task_name": "CAR-T infusion", "field": "infusion_ended_at",
                      "change": "required", "before": False, "after": True, "sentence": result["changes"][0]}


def test_a_timer_moved():
    result = diff(v.timer_expression(v.bundled(), "timer_slot_5d", '"P7D"'))
    (timer,) = result["timers"]
    assert (timer["node"], timer["change"]) == ("timer_slot_5d", "changed")
    assert (timer["before"]["expression"], timer["after"]["expression"]) == ('"P5D"', '"P7D"')
    assert timer["before"]["kind"] == timer["after"]["kind"] == "duration"
    assert "Timer '5 days without answer' (timer_slot_5d): duration 5 days -> 7 days" in result["changes"]
    # SpiffWorkflow folds a timer after an event-based gateway into the gateway: both are listed
    changed = {n["id"]: n["changes"] for n in result["nodes"]["changed"]}
    assert changed == {"gw_slot_wait": ["event"], "timer_slot_5d": ["timer"]}
    assert len(result["changes"]) == 1


def test_a_timer_turned_into_another_kind():
    result = diff(v.timer_kind(v.bundled(), "timer_deferral_1d", "timeDate", 'add_days(now(), 1)'))
    assert result["changes"] == ["Timer 'Wait 1 day' (timer_deferral_1d): duration 1 day -> date `add_days(now(), 1)`"]


def test_a_flow_condition_changed():
    result = diff(v.flow_condition(v.bundled(), "f_gw_escalate__merge_icu_transfer", "worst_grade >= 4"))
    (flow,) = result["flows"]["changed"]
    assert flow == {"id": "f_gw_escalate__merge_icu_transfer", "source": "gw_escalate",
                    "target": "merge_icu_transfer", "condition_before": "worst_grade >= 3",
                    "condition_after": "worst_grade >= 4", "default_before": False, "default_after": False}
    assert result["changes"] == [
        "Path from 'Grade?' (gw_escalate) to merge_icu_transfer: condition `worst_grade >= 3` -> `worst_grade >= 4`"]
    # SpiffWorkflow sees it on the gateway's conditions
    assert [(n["id"], n["changes"]) for n in result["nodes"]["changed"]] == [("gw_escalate", ["flows"])]
    assert result["summary"]["flows_changed"] == 1


def test_a_renamed_task_keeps_its_id():
    result = diff(v.task_renamed(v.bundled(), "thaw_product", "Thaw product"))
    (node,) = result["nodes"]["changed"]
    assert node["changes"] == ["name"] and node["before"] == {"name": "Thaw and dispense product"}
    assert result["changes"] == ["Task 'Thaw and dispense product' (thaw_product) renamed to 'Thaw product'"]


def test_files_and_models_are_both_accepted():
    files = v.dmn_cell(v.bundled(), "crs_grade_rule_3_in_1", ">= 38.5")
    from_files = diff_versions(v.bundled(), {n: c.decode() for n, c in files.items()})
    assert from_files["changes"] == diff(files)["changes"]
    assert from_files["key"] == "cart_pathway" and from_files["from_version"] is None


@pytest.mark.parametrize(("text", "words"), [("P5D", "5 days"), ("PT12H", "12 hours"), ("P1DT2H", "1 day 2 hours"),
                                             ("R3/P1D", "every 1 day, 3 times"), ("soon", None), ("P", None)])
def test_durations_in_words(text, words):
    assert duration_words(text) == words


def test_an_added_task_is_new_with_its_lane():
    result = diff_versions(parse_model("cart_pathway", 1, v.task_removed(v.bundled(), "bridging_decision")), base())
    (added,) = result["nodes"]["added"]
    assert (added["id"], added["lane"], added["process"]) == ("bridging_decision", "hematology", "manufacturing_round")
    assert "New Task 'Bridging therapy decision' (bridging_decision) in lane 'hematology'" in result["changes"]


def test_a_task_whose_id_changed_is_aligned_by_its_place_in_the_flow():
    """SpiffWorkflow aligns a node whose id changed by its neighbours: the diff names the new id
    (what a migration can take as its task mapping) instead of one task removed and one added."""
    files = v.bundled()
    files = {**files, v.BPMN: files[v.BPMN].replace(b'"bridging_decision"', b'"bridging_choice"')
             .replace(b">bridging_decision<", b">bridging_choice<")}
    result = diff(files)
    assert result["nodes"]["removed"] == result["nodes"]["added"] == []
    (node,) = [n for n in result["nodes"]["changed"] if n["id"] == "bridging_decision"]
    assert node["new_id"] == "bridging_choice"
    assert "Task 'Bridging therapy decision' (bridging_decision) is now bridging_choice" in result["changes"]
    assert not any(f["task"] == "bridging_decision" for f in result["forms"])  # the same form, compared across ids
    assert result["flows"] == {"added": [], "removed": [], "changed": []}  # its paths are the same paths


def test_a_task_moved_to_another_lane():
    files = v.bundled()
    moved = files[v.BPMN].replace(b"<bpmn:flowNodeRef>thaw_product</bpmn:flowNodeRef>", b"", 1)
    moved = moved.replace(b"<bpmn:flowNodeRef>infusion</bpmn:flowNodeRef>",
                          b"<bpmn:flowNodeRef>infusion</bpmn:flowNodeRef><bpmn:flowNodeRef>thaw_product</bpmn:flowNodeRef>",
                          1)
    result = diff({**files, v.BPMN: moved})
    (node,) = result["nodes"]["changed"]
    assert (node["id"], node["changes"], node["before"], node["after"]) == (
        "thaw_product", ["lane"], {"lane": "pharmacy"}, {"lane": "ward"})
    assert result["changes"] == ["Task 'Thaw and dispense product' (thaw_product) moved from lane 'pharmacy' to "
                                 "lane 'ward'"]


def test_a_french_label_changed_is_named_in_the_diff():
    files = v.field_changed(v.bundled(), "tocilizumab_reservation", "doses", **{"label-fr": "Doses réservées"})
    result = diff(files)
    (change,) = result["forms"]
    assert (change["task"], change["field"], change["change"]) == ("tocilizumab_reservation", "doses", "label_fr")
    assert (change["before"], change["after"]) == ("Doses réservées pour ce patient", "Doses réservées")
    assert result["changes"] == ["Task 'Reserve tocilizumab' (tocilizumab_reservation): field 'doses': French "
                                 "label 'Doses réservées pour ce patient' -> 'Doses réservées'"]
