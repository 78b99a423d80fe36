"""Contract v2's clinical rules on the bundled model: facts in an impossible order are refused
(nothing recorded), the thaw-to-infusion limit and the tocilizumab 24-hour limit hold unless a
reason is given, and then the deviation is recorded and verifies."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cartpath.engine.errors import ClinicalRuleViolation

from . import scenario
from .journey import Journey, iso


def _refused(j: Journey, name: str, data: dict) -> ClinicalRuleViolation:
    before = j.count_events()
    with pytest.raises(ClinicalRuleViolation) as refused:
        j.complete(name, data)
    assert j.count_events() == before  # a refusal records nothing
    return refused.value


@scenario()
def facts_out_of_order_are_refused(app):
    j = Journey(app)
    j.to_product_on_site()
    received_at = j.pathway.data["product_receipt"]["received_at"]
    j.to_infusion_day()
    j.pre_check()
    now = j.now()
    # a thaw that started before the product was received: both fields are named
    err = _refused(j, "thaw_product", {"coi_scanned": j.coi, "thaw_started_at": iso(now - timedelta(days=30)),
                                       "thaw_ended_at": iso(now - timedelta(days=30) + timedelta(minutes=20))})
    assert "thaw_started_at" in err.errors and "received_at" in " ".join(err.errors["thaw_started_at"]), err.errors
    assert received_at  # what it was checked against
    # a thaw that ends in the future, and one that ends before it starts
    err = _refused(j, "thaw_product", {"coi_scanned": j.coi, "thaw_started_at": iso(now),
                                       "thaw_ended_at": iso(now + timedelta(hours=2))})
    assert "thaw_ended_at" in err.errors, err.errors
    j.wait(hours=1)
    err = _refused(j, "thaw_product", {"coi_scanned": j.coi, "thaw_started_at": iso(now + timedelta(minutes=30)),
                                       "thaw_ended_at": iso(now + timedelta(minutes=10))})
    assert "thaw_ended_at" in err.errors and "thaw_started_at" in " ".join(err.errors["thaw_ended_at"]), err.errors
    j.thaw()
    thawed = j.pathway.data["thaw_product"]["thaw_ended_at"]
    # an infusion typed before the thaw ended
    err = _refused(j, "infusion", {"coi_wristband": j.coi, "coi_bag": j.coi,
                                   "infused_at": iso(now - timedelta(hours=3))})
    assert "infused_at" in err.errors and "thaw_ended_at" in " ".join(err.errors["infused_at"]), (err.errors, thawed)
    j.infuse()
    # an assessment dated before the infusion
    j.wait(hours=6)
    err = _refused(j, "daily_assessment", {"temperature_c": 37.0, "hypotension": "none", "oxygen": "none",
                                           "ice_score": 10, "seizure": False, "cerebral_edema": "none",
                                           "assessed_at": iso(now - timedelta(days=1))})
    assert "assessed_at" in err.errors, err.errors
    j.assert_verified()


@scenario()
def thaw_window_and_tocilizumab_limit_deviations(app):
    j = Journey(app)  # axi-cel: 180 minutes from thaw to infusion
    j.to_product_on_site()
    j.to_infusion_day()
    j.pre_check()
    j.thaw()
    j.wait(hours=4)
    late = {"coi_wristband": j.coi, "coi_bag": j.coi, "infused_at": iso(j.now())}
    err = _refused(j, "infusion", late)
    assert "infused_at" in err.errors and "deviation_reason" in err.detail + " ".join(err.errors["infused_at"])
    j.complete("infusion", dict(late, deviation_reason="ward emergency delayed the infusion"))
    [deviation] = [h for h in j.history() if h["type"] == "DeviationRecorded"]
    assert deviation["data"]["kind"] == "thaw_to_infusion" and deviation["data"]["limit_minutes"] == 180
    # three tocilizumab doses within 24 hours are allowed; a fourth needs a reason
    for _ in range(3):
        j.wait(hours=2)
        j.treat()
    j.wait(hours=2)
    err = _refused(j, "toxicity_treatment", {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": iso(j.now())})
    assert "override_reason" in err.detail + " ".join(" ".join(v) for v in err.errors.values()), err.errors
    j.treat(override_reason="refractory CRS, haematologist on call agreed")
    kinds = [h["data"]["kind"] for h in j.history() if h["type"] == "DeviationRecorded"]
    assert kinds == ["thaw_to_infusion", "tocilizumab_24h_limit"], kinds
    j.assert_verified()
