"""The whole CAR-T pathway of PATHWAY.md over HTTP, on the bundled model (processes/), with the
manufacturer's side of the handshake played through POST /messages and GET /outbox.

The hospital side works like a worklist client: it reads the pathway, completes the oldest ready
task with the token of that task's lane, and when nothing is ready it either lets the
manufacturer answer what the pathway waits for, or (simulated time) fires the next timer.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest

from cartpath.engine.application import BUNDLED_PROCESSES
from tests.support.http import Http, make_http

ORDER, COI, ORG = "ORD-FULL-1", "W123426000042", "ACME"
LANES = ("coordination", "hematology", "apheresis", "pharmacy", "cell_therapy_unit", "ward", "icu")


REGISTRY_TIMEPOINTS = ("day0", "day100", "month6", "month12")


def task_data(name: str, now: datetime, done: list[str]) -> dict[str, Any]:
    today, iso = now.date().isoformat(), now.isoformat()
    return {
        "rcp_eligibility": {"eligible": True, "rcp_date": today, "comment": "RCP 12/01: CAR-T third line"},
        "patient_consent": {"consent_signed": True},
        "place_order": {"order_id": ORDER, "manufacturer": ORG,
                        "requested_apheresis_date": (now.date() + timedelta(days=10)).isoformat()},
        "apheresis": {"collection_date": today, "coi_scanned": COI, "cd3_cells_e9": 3.2, "adequate": True},
        "ship_apheresis": {"courier": "cryo-courier", "shipper_id": "SHP-1", "pickup_at": iso},
        "bridging_decision": {"bridging": True, "regimen": "R-GemOx"},
        "product_receipt": {"coi_scanned": COI, "temperature_ok": True, "storage_location": "LN2-1-7",
                            "received_at": iso},
        "tocilizumab_reservation": {"doses": 2},
        "lymphodepletion_start": {"start_date": today},
        "lymphodepletion_end": {"end_date": today, "completed": True},
        "pre_infusion_check": {"active_infection": False, "uncontrolled_arrhythmia": False,
                               "vasopressor_hypotension": False, "organ_dysfunction_g3": False,
                               "clinical_worsening": False},
        "thaw_product": {"coi_scanned": COI, "thaw_started_at": (now - timedelta(minutes=30)).isoformat(),
                         "thaw_ended_at": (now - timedelta(minutes=18)).isoformat()},
        "infusion": {"coi_wristband": COI, "coi_bag": COI, "infused_at": iso},
        "daily_assessment": {"temperature_c": 36.8, "hypotension": "none", "oxygen": "none",
                             "ice_score": 10, "seizure": False, "cerebral_edema": "none"},
        "discharge": {"discharged_at": iso, "caregiver_24h": True, "lodging_within_2h": True,
                      "driving_advice_given": True, "alert_card_given": True},
        "post_discharge_visit": {"visit_date": today, "readmit": False},
        "follow_up_visit": {"response": "CR", "alive": True},
        "registry_report": {"registry": "DESCAR-T", "submitted_at": iso,
                            "timepoint": REGISTRY_TIMEPOINTS[done.count("registry_report")]},
    }[name]


def manufacturer_answer(waits_for: set[str], now: datetime) -> tuple[str, dict] | None:
    """What the company sends when the pathway waits for it (a released, in-spec product)."""
    if "slot_confirmed" in waits_for:
        return "slot_confirmed", {"apheresis_date": (now.date() + timedelta(days=9)).isoformat(),
                                  "manufacturing_slot": "SLOT-7"}
    if "product_released" in waits_for:
        return "product_released", {"released_at": now.isoformat(), "out_of_spec": False,
                                    "certificate_ref": "CoA-12345"}
    if "product_shipped" in waits_for:
        return "product_shipped", {"shipper_id": "SHP-2", "tracking": "TRK-99", "shipped_at": now.isoformat()}
    return None


@pytest.fixture
def bundled(tmp_path) -> Http:
    if not (BUNDLED_PROCESSES / "cart_pathway.bpmn").exists():
        pytest.fail("processes/cart_pathway.bpmn is missing")
    http = make_http(tmp_path)
    files = [(io.BytesIO(p.read_bytes()), p.name) for p in sorted(BUNDLED_PROCESSES.iterdir())
             if p.suffix in (".bpmn", ".dmn")]
    r = http.call("POST", "/process-definitions", http.headers("process_owner"), data={"files": files},
                  content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    assert [i["key"] for i in r.get_json()["items"]] == ["cart_pathway"]
    return http


@pytest.mark.slow
def test_the_cart_pathway_from_eligibility_to_registry_over_http(bundled: Http):
    http = bundled
    staff = {lane: http.headers(lane, sub=f"{lane}-1") for lane in LANES}
    acme = http.headers("manufacturer", centers=(), org=ORG, sub="acme-portal")
    admin = http.headers("admin", centers=())
    r = http.call("POST", "/pathways", staff["hematology"], json={
        "patient_ref": "PSN-7F3A", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
        "business_key": "FR-01-2026-0042"})
    assert r.status_code == 201 and r.get_json()["definition"]["key"] == "cart_pathway"
    pathway_id = r.get_json()["id"]
    r = http.call("POST", "/inventory/tocilizumab/receipts", staff["pharmacy"],
                  json={"center": "FR-01", "doses": 4, "lot": "TCZ-2026-1", "expires_on": "2030-01-01"})
    assert r.status_code in (200, 201), r.get_json()  # the doses tocilizumab_reservation will reserve
    completed, sent, fired, informed = [], [], 0, False
    assessed_at: datetime | None = None

    for _ in range(400):
        pathway = http.call("GET", f"/pathways/{pathway_id}", staff["coordination"]).get_json()
        if pathway["status"] == "ended":
            break
        now = datetime.fromisoformat(http.client.get("/api/v1/health").get_json()["now"])
        # the ward records a treatment only when one is given, and assesses once a day here
        tasks = [t for t in pathway["tasks"] if t["name"] != "toxicity_treatment"
                 and not (t["name"] == "daily_assessment" and assessed_at and now - assessed_at < timedelta(hours=20))]
        if tasks:
            task = min(tasks, key=lambda t: (t["ready_since"], t["name"]))
            r = http.call("POST", f"/tasks/{task['id']}/complete", staff[task["lane"]],
                          headers={"If-Match": f'"{pathway["version"]}"'},
                          json={"data": task_data(task["name"], now, completed),
                                **http.sign(task, sub=f"{task['lane']}-1")})
            assert r.status_code == 200, (task["name"], r.get_json())
            completed.append(task["name"])
            if task["name"] == "daily_assessment":
                assessed_at = now
            continue
        if not informed and "ship_apheresis" in completed:
            for name, payload in (("apheresis_received", {"received_at": now.isoformat(), "condition_ok": True}),
                                  ("manufacturing_status", {"stage": "expansion", "at": now.isoformat()})):
                r = http.call("POST", "/messages", acme, json={"name": name, "message_id": f"acme-{name}",
                                                               "correlation": {"order_id": ORDER, "coi": COI},
                                                               "payload": payload})
                assert r.status_code == 200 and r.get_json()["accepted"], r.get_json()
            informed = True
        answer = manufacturer_answer({w["name"] for w in pathway["waiting"] if w["kind"] == "message"}, now)
        if answer is not None:
            name, payload = answer
            r = http.call("POST", "/messages", acme, json={"name": name, "message_id": f"acme-{len(sent)}",
                                                           "correlation": {"order_id": ORDER, "coi": COI},
                                                           "payload": payload})
            assert r.status_code == 200, (name, r.get_json())
            sent.append(name)
            continue
        dues = sorted(w["due_at"] for w in pathway["waiting"] if w["kind"] == "timer" and w.get("due_at"))
        tomorrow = assessed_at + timedelta(days=1) if any(t["name"] == "daily_assessment" for t in pathway["tasks"]) \
            else None
        assert dues or tomorrow, f"stuck: nothing ready, nothing to answer, no timer: {pathway['waiting']}"
        due = max(min([datetime.fromisoformat(d) for d in dues] + ([tomorrow] if tomorrow else [])), now)
        due += timedelta(minutes=1)
        fired += http.call("POST", "/timers/fire", admin, json={"now": due.isoformat()}).get_json()["fired"]
    else:
        raise AssertionError("the pathway did not end")

    assert (pathway["outcome"], pathway["status"]) == ("follow_up_handover", "ended")
    firsts = list(dict.fromkeys(completed))
    assert firsts == ["rcp_eligibility", "patient_consent", "place_order", "apheresis", "ship_apheresis",
                      "bridging_decision", "product_receipt", "tocilizumab_reservation", "lymphodepletion_start",
                      "lymphodepletion_end", "pre_infusion_check", "thaw_product", "infusion", "daily_assessment",
                      "registry_report", "discharge", "post_discharge_visit", "follow_up_visit"]
    assert completed.count("follow_up_visit") == 4 and completed.count("daily_assessment") >= 14
    assert completed.count("registry_report") == 4
    assert sent == ["slot_confirmed", "product_released", "product_shipped"]
    outbox = http.call("GET", "/outbox?limit=100", acme).get_json()["items"]
    assert [m["name"] for m in outbox] == ["order_placed", "apheresis_shipped", "product_received", "infusion_done"]
    assert all(m["payload"]["order_id"] == ORDER for m in outbox)
    assert outbox[0]["payload"]["manufacturer"] == ORG and outbox[-1]["payload"]["coi"] == COI
    assert http.call("GET", "/outbox", http.headers("manufacturer", org="OTHER")).get_json()["items"] == []
    history = http.call("GET", f"/pathways/{pathway_id}/history", http.headers("auditor")).get_json()["items"]
    received = [h["data"]["name"] for h in history if h["type"] == "MessageReceived"]
    assert received == ["slot_confirmed", "apheresis_received", "manufacturing_status", "product_released",
                        "product_shipped"]
    lanes_by_task = {h["data"]["name"]: h["actor"]["sub"] for h in history if h["type"] == "TaskCompleted"}
    assert lanes_by_task["infusion"] == "ward-1" and lanes_by_task["thaw_product"] == "pharmacy-1"
    assert fired >= 6  # infusion day, the daily monitoring, the four follow-up visits
    verdict = http.call("POST", f"/pathways/{pathway_id}/verify", http.headers("auditor")).get_json()
    assert verdict["ok"] is True and verdict["events"] == len(history)
