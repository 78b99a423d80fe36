"""Electronic signatures and corrections over HTTP, on the bundled model (its signed tasks and
two-person checks), on the store the suite runs on (SQLite or PostgreSQL).

The pathway is brought to the step under test by the Journey DSL on the engine behind the
API (what the hospital did before); the step itself goes through the API as a client would.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from cartpath.projections.runner import Runner
from tests.scenarios.journey import Journey, iso
from tests.support.http import Http, assert_problem, make_http

CENTER = "FR-075-01"


@pytest.fixture
def http(tmp_path) -> Http:
    http = make_http(tmp_path)
    http.engine.deploy_bundled()
    return http


def staff(http: Http, lane: str, sub: str) -> dict:
    return http.headers(lane, centers=(CENTER,), sub=sub)


def sig(http: Http, sub: str, *roles: str, meaning: str = "performed", ago: int = 0) -> dict:
    return {"meaning": meaning, "token": http.signing_token(sub, *roles, centers=(CENTER,), name=f"Name of {sub}",
                                                            authenticated_ago=ago)}


def ready_task(http: Http, journey: Journey, name: str) -> dict:
    pathway = http.call("GET", f"/pathways/{journey.id}", staff(http, "coordination", "nurse-coord-1")).get_json()
    [task] = [t for t in pathway["tasks"] if t["name"] == name]
    return task


def to_infusion(http: Http) -> tuple[Journey, dict, dict]:
    """A pathway whose (signed, witnessed) infusion is ready, and that completion's data."""
    j = Journey(http.engine)
    j.to_product_on_site()
    j.to_infusion_day()
    j.pre_check()
    j.thaw()
    task = ready_task(http, j, "infusion")
    return j, task, {"coi_wristband": j.coi, "coi_bag": j.coi, "infused_at": iso(j.now())}


def history(http: Http, pathway_id) -> list[dict]:
    return http.call("GET", f"/pathways/{pathway_id}/history", http.headers("auditor", centers=())).get_json()["items"]


def verified(http: Http, pathway_id) -> dict:
    return http.call("POST", f"/pathways/{pathway_id}/verify", http.headers("auditor", centers=())).get_json()


def test_a_signed_witnessed_infusion_records_both_signatures_and_verifies(http):
    j, task, data = to_infusion(http)
    assert task["signed"] and task["signatures_required"] == ["signer", "witness"]
    nurse = staff(http, "ward", "nurse-ward-1")
    r = http.call("POST", f"/tasks/{task['id']}/complete", nurse, json={
        "data": data, "signature": sig(http, "nurse-ward-1", "ward"),
        "witness": sig(http, "nurse-ward-2", "ward", meaning="verified")})
    assert r.status_code == 200, r.get_json()
    [done] = [h for h in history(http, j.id) if h["type"] == "TaskCompleted" and h["data"]["name"] == "infusion"]
    signer, witness = done["data"]["signatures"]
    assert (signer["role"], signer["sub"], signer["name"], signer["meaning"]) == \
        ("signer", "nurse-ward-1", "Name of nurse-ward-1", "performed")
    assert (witness["role"], witness["sub"], witness["meaning"], witness["roles"]) == \
        ("witness", "nurse-ward-2", "verified", ["ward"])
    assert signer["at"] == done["at"] and len(signer["sha256"]) == 64 and signer["sha256"] != witness["sha256"]
    assert "name" not in done["actor"]  # the printed name lives in the signature only
    # earlier signed steps (by the Journey's staff) are there too; thaw had no witness
    [thaw] = [h for h in history(http, j.id) if h["type"] == "TaskCompleted" and h["data"]["name"] == "thaw_product"]
    assert [s["role"] for s in thaw["data"]["signatures"]] == ["signer"]
    assert verified(http, j.id)["ok"]


@pytest.mark.parametrize("case", ["missing", "stale", "wrong_sub", "same_person_witness", "no_witness",
                                  "bearer_not_signing", "bad_token"])
def test_a_refused_signature_is_422_naming_why_and_records_nothing(http, case):
    j, task, data = to_infusion(http)
    nurse = staff(http, "ward", "nurse-ward-1")
    mine, witness = sig(http, "nurse-ward-1", "ward"), sig(http, "nurse-ward-2", "ward", meaning="verified")
    body, why = {
        "missing": ({"witness": witness}, "signature"),
        "stale": ({"signature": sig(http, "nurse-ward-1", "ward", ago=301), "witness": witness}, "stale"),
        "wrong_sub": ({"signature": sig(http, "nurse-ward-3", "ward"), "witness": witness}, "own token"),
        "same_person_witness": ({"signature": mine, "witness": sig(http, "nurse-ward-1", "ward")},
                                "another person"),
        "no_witness": ({"signature": mine}, "witness"),
        "bearer_not_signing": ({"signature": {"meaning": "performed", "token": nurse["Authorization"][7:]},
                                "witness": witness}, "auth_time"),
        "bad_token": ({"signature": {"meaning": "performed", "token": "not.a.jwt"}, "witness": witness},
                      "not valid"),
    }[case]
    before = http.position()
    r = http.call("POST", f"/tasks/{task['id']}/complete", nurse, json={"data": data, **body})
    problem = assert_problem(r, 422)
    assert why in problem["detail"], problem
    assert http.position() == before and "infusion" in j.ready()


def test_oos_acceptance_is_countersigned_by_pharmacy(http):
    j = Journey(http.engine)
    j.to_release(out_of_spec=True)
    task = ready_task(http, j, "oos_acceptance")
    assert task["signatures_required"] == ["signer", "countersign"] and task["countersign_role"] == "pharmacy"
    doctor = staff(http, "hematology", "dr-hema-1")
    data = {"accept": True, "reason": "clinical benefit", "failed_specification": "viability",
            "patient_informed": True}
    mine = sig(http, "dr-hema-1", "hematology", meaning="approved")
    r = http.call("POST", f"/tasks/{task['id']}/complete", doctor, json={
        "data": data, "signature": mine, "countersign": sig(http, "ward-nurse-9", "ward", meaning="approved")})
    assert "pharmacy" in assert_problem(r, 422)["detail"]
    r = http.call("POST", f"/tasks/{task['id']}/complete", doctor, json={"data": data, "signature": mine})
    assert "countersign" in assert_problem(r, 422)["detail"]
    r = http.call("POST", f"/tasks/{task['id']}/complete", doctor, json={
        "data": data, "signature": mine, "countersign": sig(http, "pharm-1", "pharmacy", meaning="approved")})
    assert r.status_code == 200, r.get_json()
    [done] = [h for h in history(http, j.id) if h["type"] == "TaskCompleted" and h["data"]["name"] == "oos_acceptance"]
    assert [(s["role"], s["sub"]) for s in done["data"]["signatures"]] == [("signer", "dr-hema-1"),
                                                                          ("countersign", "pharm-1")]
    assert verified(http, j.id)["ok"]


def test_an_unsigned_task_takes_no_signature(http):
    j = Journey(http.engine)
    task = ready_task(http, j, "rcp_eligibility")
    assert not task["signed"] and task["signatures_required"] == []
    r = http.call("POST", f"/tasks/{task['id']}/complete", staff(http, "hematology", "dr-hema-1"), json={
        "data": {"eligible": True, "rcp_date": j.today()}, "signature": sig(http, "dr-hema-1", "hematology")})
    assert "is not signed" in assert_problem(r, 422)["detail"]


# -- corrections ---------------------------------------------------------------------------------
def completed_id(j: Journey, name: str) -> str:
    [h] = [h for h in j.history() if h["type"] == "TaskCompleted" and h["data"]["name"] == name][-1:]
    return f"{j.id}:{h['data']['task_id']}"


def test_a_correction_keeps_the_original_flags_decisions_and_feeds_the_kpis(http):
    runner = Runner(http.engine)
    runner.prepare()
    j = Journey(http.engine)
    j.to_infused()
    collected = j.pathway.data["apheresis"]["collection_date"]
    runner.catch_up()
    auditor = http.headers("auditor", centers=())
    before = http.call("GET", "/reports/kpis", auditor).get_json()["kpis"]["vein_to_vein"]["median"]

    later_day = (j.pathway.started_at + timedelta(days=1)).date().isoformat()
    apheresis_nurse = staff(http, "apheresis", "aph-tech-1")
    r = http.call("POST", f"/tasks/{completed_id(j, 'apheresis')}/corrections", apheresis_nurse,
                  json={"field": "collection_date", "value": later_day, "reason": "typed the RCP date by mistake"})
    assert r.status_code == 201, r.get_json()
    record = r.get_json()
    assert (record["task"], record["field"], record["value"], record["original"]) == \
        ("apheresis", "collection_date", later_day, collected)
    assert record["decided_on_corrected_data"] is False and record["actor"]["sub"] == "aph-tech-1"
    # the receipt's temperature drove the quarantine gateway: flagged, and the pathway is not re-routed
    pharmacist = staff(http, "pharmacy", "pharm-1")
    r = http.call("POST", f"/tasks/{completed_id(j, 'product_receipt')}/corrections", pharmacist,
                  json={"field": "temperature_ok", "value": False, "reason": "datalogger read after receipt"})
    assert r.status_code == 201 and r.get_json()["decided_on_corrected_data"] is True, r.get_json()
    assert j.ready() == ["daily_assessment"]  # still monitoring, no quarantine

    pathway = http.call("GET", f"/pathways/{j.id}", auditor).get_json()
    assert pathway["data"]["apheresis"]["collection_date"] == later_day
    assert pathway["data"]["product_receipt"]["temperature_ok"] is False
    assert [(c["field"], c["original"], c["value"], c["by"], c["decided_on_corrected_data"])
            for c in pathway["corrections"]] == [("collection_date", collected, later_day, "aph-tech-1", False),
                                                 ("temperature_ok", True, False, "pharm-1", True)]
    corrected = [h for h in history(http, j.id) if h["type"] == "TaskCorrected"]
    assert [h["data"]["reason"] for h in corrected] == ["typed the RCP date by mistake",
                                                        "datalogger read after receipt"]
    assert all(h["kind"] == "input" and h["actor"]["sub"] for h in corrected)

    runner.catch_up()
    after = http.call("GET", "/reports/kpis", auditor).get_json()["kpis"]["vein_to_vein"]["median"]
    assert after == pytest.approx(before - 1)  # collected a day later: a day shorter vein to vein
    steps = http.call("GET", f"/pathways/{j.id}/timeline", auditor).get_json()["steps"]
    fixes = [s for s in steps if s["kind"] == "correction"]
    assert [(s["name"], s["data"]["field"], s["data"]["original"]) for s in fixes] == \
        [("apheresis", "collection_date", collected), ("product_receipt", "temperature_ok", True)]
    assert verified(http, j.id)["ok"]
    j.assess(1)  # the pathway goes on after corrections
    assert verified(http, j.id)["ok"]


@pytest.mark.parametrize("case", ["no_reason", "unknown_field", "bad_type", "rule", "not_completed", "unknown_task",
                                  "other_lane", "coi"])
def test_a_refused_correction_is_a_problem_and_records_nothing(http, case):
    j = Journey(http.engine)
    j.to_product_on_site()
    receipt = completed_id(j, "product_receipt")
    pharmacist = staff(http, "pharmacy", "pharm-1")
    ready = ready_task(http, j, "lymphodepletion_start")["id"]
    task, body, who, status = {
        "no_reason": (receipt, {"field": "storage_location", "value": "LN2-9", "reason": " "}, pharmacist, 422),
        "unknown_field": (receipt, {"field": "colour", "value": "red", "reason": "x"}, pharmacist, 422),
        "bad_type": (receipt, {"field": "temperature_ok", "value": "yes", "reason": "x"}, pharmacist, 422),
        "rule": (receipt, {"field": "received_at", "value": iso(j.now() + timedelta(days=2)), "reason": "x"},
                 pharmacist, 422),
        "not_completed": (ready, {"field": "start_date", "value": j.today(), "reason": "x"},
                          staff(http, "ward", "nurse-ward-1"), 409),
        "unknown_task": (f"{j.id}:00000000-0000-4000-8000-000000000000",
                         {"field": "x", "value": 1, "reason": "x"}, pharmacist, 404),
        "other_lane": (receipt, {"field": "storage_location", "value": "LN2-9", "reason": "x"},
                       staff(http, "ward", "nurse-ward-1"), 403),
        "coi": (receipt, {"field": "coi_scanned", "value": "W0000 26 999999 F", "reason": "x"}, pharmacist, 422),
    }[case]
    before = http.position()
    r = http.call("POST", f"/tasks/{task}/corrections", who, json=body)
    assert_problem(r, status)
    assert http.position() == before


def test_an_admin_corrects_an_ended_pathway(http):
    j = Journey(http.engine)
    j.eligible(False)
    j.assert_ended("not_eligible")
    r = http.call("POST", f"/tasks/{completed_id(j, 'rcp_eligibility')}/corrections", http.headers("admin", centers=()),
                  json={"field": "comment", "value": "RCP of the 5th", "reason": "the minutes name the meeting"})
    assert r.status_code == 201 and r.get_json()["decided_on_corrected_data"] is False, r.get_json()
    j.assert_verified()
