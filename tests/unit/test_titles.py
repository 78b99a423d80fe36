"""Timeline titles (projections.titles): every v2 step has a human title, whatever the model names."""
from cartpath.projections import titles

V2_TASKS = ("lymphodepletion_end", "tocilizumab_reservation", "deferral_decision", "product_disposition",
            "toxicity_treatment", "icu_review", "icu_assessment", "post_discharge_visit", "registry_report")


def test_a_task_keeps_the_models_title_and_falls_back_to_the_contracts():
    assert titles.title("task", "icu_assessment", "ICU grading (nurse)", None) == "ICU grading (nurse)"
    for name in V2_TASKS:  # a node without a name has its id as title
        text = titles.title("task", name, name, None)
        assert text and "_" not in text and text == titles.TASKS[name]


def test_registry_report_names_its_timepoint():
    data = {"registry": "EBMT", "timepoint": "day100", "submitted_at": "2026-05-01T10:00:00+00:00"}
    assert titles.title("task", "registry_report", "Registry report", data) == "Registry report (day 100, EBMT)"
    assert titles.title("task", "registry_report", "Registry report", {"timepoint": "end"}) == \
        "Registry report (end of pathway)"


def test_quarantine_messages_decisions_and_waits():
    assert titles.title("message_out", "product_quarantined", None, {}) == "Product put in quarantine"
    assert titles.title("message_in", "quarantine_decision", None, {}) == "Quarantine decision"
    assert titles.title("wait", "quarantine_decision", None, {}) == "Waiting: quarantine decision"
    assert titles.title("decision", "grade_crs", None,
                        {"crs_grade": 3, "icans_grade": 1}) == "CRS grade 3, ICANS grade 1"
    assert titles.title("decision", "check_discharge", None, {"ready": False}) == "Not yet ready for discharge"
    assert titles.title("decision", "deferral", None, {"defer": True}) == "Infusion deferred"


def test_cancel_v2_reasons_and_death_details():
    assert titles.title("cancelled", "lost_to_follow_up", None, {"reason": "lost_to_follow_up"}) == \
        "Cancelled: lost to follow-up"
    assert titles.title("cancelled", "transferred", None, {}) == "Cancelled: transferred to another centre"
    death = {"reason": "death", "death_date": "2026-03-01", "death_cause": "icans"}
    assert titles.title("cancelled", "death", None, death) == "Cancelled: death (2026-03-01, icans)"
    assert titles.title("cancelled", "death", None, {"reason": "death"}) == "Cancelled: death"  # a v1 cancel
    assert titles.title("ended", "follow_up_handover", None, {}) == "Ended: handed over to long-term follow-up"


def test_a_recorded_deviation_says_which_limit_and_why():
    data = {"kind": "tocilizumab_24h_limit", "task": "toxicity_treatment", "reason": "refractory CRS"}
    assert titles.title("deviation", "tocilizumab_24h_limit", None, data) == \
        "Deviation: tocilizumab over the 24-hour limit (refractory CRS)"
