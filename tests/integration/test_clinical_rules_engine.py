"""The clinical rules through the engine's application service, on a small model whose tasks
carry PATHWAY.md v2's names and fields (tests/fixtures/rules_pathway.bpmn): a refusal records
nothing, a deviation is recorded with its completion, and every pathway still verifies."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cartpath.engine import errors
from cartpath.engine.application import CartPath
from cartpath.engine.lint import read_paths
from tests.support.store import FIXTURES, T0, ready_named


@pytest.fixture
def rules_app(app: CartPath) -> CartPath:
    app.deploy(read_paths([FIXTURES / "rules_pathway.bpmn"]))
    return app


def iso(**delta) -> str:
    return (T0 + timedelta(**delta)).isoformat()


def complete(app: CartPath, pathway_id, name: str, data: dict):
    return app.complete_task(pathway_id, ready_named(app.get_pathway(pathway_id), name), data)


def events(app: CartPath, pathway_id) -> list:
    return list(app.events.get(pathway_id))


def to_thawed(app: CartPath, product: str = "tisa-cel", thaw_ended: str | None = None):
    """Eligible, collected, received and thawed, on the manual clock moved a day per step."""
    p = app.start_pathway("P-R1", "FR-01", "DLBCL", product, process_key="rules_pathway").pathway
    complete(app, p.id, "rcp_eligibility", {"eligible": True, "rcp_date": T0.date().isoformat()})
    app.fire_due_timers(T0 + timedelta(days=1))
    complete(app, p.id, "apheresis", {"collection_date": (T0 + timedelta(days=1)).date().isoformat(), "adequate": True})
    app.fire_due_timers(T0 + timedelta(days=20))
    complete(app, p.id, "product_receipt", {"received_at": iso(days=20), "temperature_ok": True})
    app.fire_due_timers(T0 + timedelta(days=26))
    complete(app, p.id, "thaw_product", {"thaw_started_at": iso(days=26, minutes=-70),
                                         "thaw_ended_at": thaw_ended or iso(days=26, minutes=-50)})
    return p.id


def test_an_infusion_before_the_product_was_received_is_refused_and_nothing_recorded(rules_app):
    pid = to_thawed(rules_app)
    count = len(events(rules_app, pid))
    with pytest.raises(errors.ClinicalRuleViolation) as refused:
        complete(rules_app, pid, "infusion", {"infused_at": iso(days=19)})
    assert refused.value.errors["infused_at"][0].startswith(f"before product_receipt.received_at {iso(days=20)}")
    assert "infused_at" in refused.value.detail and "product_receipt.received_at" in refused.value.detail
    with pytest.raises(errors.ClinicalRuleViolation, match="in the future"):
        complete(rules_app, pid, "infusion", {"infused_at": iso(days=26, minutes=6)})
    assert len(events(rules_app, pid)) == count
    assert rules_app.verify(pid)["ok"]


def test_thaw_window_refused_then_recorded_as_a_deviation_with_its_reason(rules_app):
    pid = to_thawed(rules_app)  # tisa-cel: 30 minutes; thawed 50 minutes ago
    count = len(events(rules_app, pid))
    with pytest.raises(errors.ClinicalRuleViolation, match="50 minutes after thaw_product.thaw_ended_at"):
        complete(rules_app, pid, "infusion", {"infused_at": iso(days=26)})
    assert len(events(rules_app, pid)) == count
    complete(rules_app, pid, "infusion", {"infused_at": iso(days=26), "deviation_reason": "CT scan ran late"})
    recorded = [e for e in events(rules_app, pid)[count:]]
    assert [type(e).__name__ for e in recorded[:2]] == ["TaskCompleted", "DeviationRecorded"]
    deviation = recorded[1]
    assert (deviation.kind, deviation.task, deviation.reason, deviation.limit_minutes, deviation.actual_minutes) == (
        "thaw_to_infusion", "infusion", "CT scan ran late", 30, 50)
    assert [h["type"] for h in rules_app.history(pid)].count("DeviationRecorded") == 1
    assert rules_app.verify(pid)["ok"]


def test_verify_finds_a_deviation_that_was_not_recorded(rules_app):
    from cartpath.engine.verification import verify_pathway
    pid = to_thawed(rules_app)
    complete(rules_app, pid, "infusion", {"infused_at": iso(days=26), "deviation_reason": "CT scan ran late"})
    recorded = events(rules_app, pid)
    model = rules_app.model("rules_pathway", 1)
    forged = [e for e in recorded if type(e).__name__ != "DeviationRecorded"]
    result = verify_pathway(pid, forged, model)
    assert result["ok"] is False and result["re_executed"]["type"] == "DeviationRecorded"


def test_a_fourth_tocilizumab_dose_within_24_hours_is_refused_then_overridden(rules_app):
    pid = to_thawed(rules_app, product="axi-cel")
    complete(rules_app, pid, "infusion", {"infused_at": iso(days=26)})
    for hours in (2, 8, 14):
        rules_app.fire_due_timers(T0 + timedelta(days=26, hours=hours))
        complete(rules_app, pid, "toxicity_treatment", {"drug": "tocilizumab", "dose": "8 mg/kg",
                                                        "given_at": iso(days=26, hours=hours), "more": True})
    rules_app.fire_due_timers(T0 + timedelta(days=26, hours=20))
    fourth = {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": iso(days=26, hours=20), "more": False}
    count = len(events(rules_app, pid))
    with pytest.raises(errors.ClinicalRuleViolation, match="dose 4 of tocilizumab within 24 hours"):
        complete(rules_app, pid, "toxicity_treatment", fourth)
    assert len(events(rules_app, pid)) == count
    complete(rules_app, pid, "toxicity_treatment", dict(fourth, override_reason="refractory grade 3 CRS, ICU agreed"))
    [deviation] = [e for e in events(rules_app, pid) if type(e).__name__ == "DeviationRecorded"]
    assert (deviation.kind, deviation.limit_doses, deviation.actual_doses) == ("tocilizumab_24h_limit", 3, 4)
    assert rules_app.verify(pid)["ok"]


def test_discharge_needs_the_whole_checklist(rules_app):
    pid = to_thawed(rules_app, product="axi-cel")
    complete(rules_app, pid, "infusion", {"infused_at": iso(days=26)})
    complete(rules_app, pid, "toxicity_treatment", {"drug": "antipyretic", "dose": "1 g", "given_at": iso(days=26),
                                                    "more": False})
    rules_app.fire_due_timers(T0 + timedelta(days=40))
    checklist = {"discharged_at": iso(days=40), "caregiver_24h": True, "lodging_within_2h": True,
                 "driving_advice_given": False, "alert_card_given": True}
    with pytest.raises(errors.ClinicalRuleViolation) as refused:
        complete(rules_app, pid, "discharge", checklist)
    assert refused.value.errors == {"driving_advice_given": ["must be true to discharge"]}
    p = complete(rules_app, pid, "discharge", dict(checklist, driving_advice_given=True))
    assert p.outcome == "follow_up_handover"
    assert rules_app.verify(pid)["ok"]
