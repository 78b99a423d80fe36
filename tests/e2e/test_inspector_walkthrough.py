"""An inspector's walk-through over HTTP, on the store of the pass (SQLite file or PostgreSQL).

The hospital runs one patient on the bundled CAR-T model up to a late infusion (a deviation
with its reason). Then an inspector, with an auditor's token only: finds the pathway among the
audit events, reads every event with who, when and why (a signed infusion, and a correction made by
an admin after the fact, with the original value kept), sees the state at a past moment, files
the PDF report and reads it back, and runs the chain check and verify; all pass. Then someone edits the store
behind the application's back, and the checks fail loudly: the chain check, verify, the report's verdict, its
PDF, and the CLI's exit status.
"""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from cartpath.cli import main
from cartpath.engine.compression import EventCompressor
from cartpath.projections.runner import Runner
from tests.scenarios.journey import Journey, iso
from tests.support.chain import db_id, raw
from tests.support.http import Http, make_http


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def late_infusion(http: Http) -> Journey:
    """Referral to infusion on the bundled model; infused 4 hours after the thaw, with the reason."""
    http.engine.deploy_bundled()
    j = Journey(http.engine, 7)
    j.to_product_on_site()
    j.to_infusion_day()
    j.pre_check()
    j.thaw()
    j.wait(hours=4)
    j.complete("infusion", {"coi_wristband": j.coi, "coi_bag": j.coi, "infused_at": iso(j.now()),
                            "deviation_reason": "bed not ready, infusion postponed"})
    runner = Runner(http.engine)
    runner.prepare()
    runner.catch_up()
    return j


def tamper(env: dict[str, str], pathway_id, version: int, old: str, new: str) -> None:
    """Edit one stored event's JSON with raw SQL, as someone with database access (and cartpath's
    source) could: inflate the compressed state, edit it, write it back as the plain JSON that
    cartpath also reads."""
    where = "WHERE originator_id = ? AND originator_version = ?"
    [(state,)] = raw(env, f"SELECT state FROM {{events}} {where}", (db_id(pathway_id), version))
    text = EventCompressor().decompress(bytes(state))
    assert old.encode() in text
    raw(env, f"UPDATE {{events}} SET state = ? {where}", (text.replace(old.encode(), new.encode()),
                                                           db_id(pathway_id), version))


@pytest.mark.slow
def test_an_inspector_walks_through_a_pathway_then_catches_a_tampered_store(tmp_path):
    http = make_http(tmp_path, CARTPATH_REPORT_WAIT_SECONDS=0.5)
    j = late_infusion(http)
    inspector = http.headers("auditor", centers=(), sub="inspector-ansm")
    pid = str(j.id)
    # a value corrected after the fact: never rewritten, the original kept beside the new one
    [rcp] = [h for h in j.history() if h["type"] == "TaskCompleted" and h["data"]["name"] == "rcp_eligibility"]
    admin = http.headers("admin", centers=())
    corrected = http.call("POST", f"/tasks/{pid}:{rcp['data']['task_id']}/corrections", admin,
                          json={"field": "comment", "value": "RCP of the 5th",
                                "reason": "the minutes name the meeting"})
    assert corrected.status_code == 201, corrected.get_json()
    original = corrected.get_json()["original"]
    Runner(http.engine).catch_up()

    # 1. the pathway, found among the centre's events
    started = http.call("GET", f"/audit/events?type=Started&center={j.center}", inspector).get_json()["items"]
    assert [(e["pathway_id"], e["patient_ref"]) for e in started] == [(pid, j.patient_ref)]

    # 2. every event with who, when and why
    history = http.call("GET", f"/pathways/{pid}/history", inspector).get_json()["items"]
    inputs = [h for h in history if h["kind"] == "input" and h["type"] != "TimersFired"]  # timers: the clock's
    assert inputs and all(h["at"] and h["actor"]["sub"] and h["actor"]["roles"] for h in inputs)
    events = http.call("GET", "/audit/events?limit=1000&cursor=0", inspector).get_json()["items"]
    mine = [e for e in events if e["pathway_id"] == pid]
    assert [e["version"] for e in mine] == [h["position"] for h in history]
    [infused] = [e for e in mine if e["summary"].startswith("completed infusion ")]
    assert (infused["actor"]["sub"], infused["why"]) == ("nurse-ward-1", "bed not ready, infusion postponed")
    [deviation] = [e for e in mine if e["type"] == "DeviationRecorded"]
    assert deviation["why"] == "bed not ready, infusion postponed" and "thaw_to_infusion" in deviation["summary"]
    by_nurse = http.call("GET", "/audit/events?actor=nurse-ward-1&type=TaskCompleted", inspector).get_json()["items"]
    assert infused in by_nurse and all(e["actor"]["sub"] == "nurse-ward-1" for e in by_nurse)

    [correction] = [e for e in mine if e["type"] == "TaskCorrected"]
    assert (correction["actor"]["sub"], correction["why"]) == ("admin", "the minutes name the meeting")
    assert correction["version"] == history[-1]["position"]

    # 3. the state at a past moment: just after the thaw, before the infusion
    thawed = next(h for h in history if h["type"] == "TaskCompleted" and h["data"]["name"] == "thaw_product")
    moment = (j.now() - timedelta(hours=2)).isoformat()
    then = http.call("GET", f"/pathways/{pid}", inspector, query_string={"as_of": moment}).get_json()
    assert "infusion" in [t["name"] for t in then["tasks"]] and "infusion" not in then["data"]
    assert then["as_of"]["version"] > thawed["position"] and then["data"]["thaw_product"]
    custody = http.call("GET", f"/pathways/{pid}/custody", inspector, query_string={"as_of": moment}).get_json()
    assert [h["step"] for h in custody["handoffs"]][-1] == "thawed" and custody["deviations"] == []
    now = http.call("GET", f"/pathways/{pid}/custody", inspector).get_json()
    assert [h["step"] for h in now["handoffs"]][-1] == "infused" and len(now["deviations"]) == 1

    # 4. the report, filed as PDF and read back; the chain check and verify pass
    assert http.call("POST", f"/pathways/{pid}/verify", inspector).get_json()["ok"] is True
    chain = http.call("GET", "/audit/integrity", inspector, query_string={"pathway": pid}).get_json()
    assert chain["ok"] is True and chain["checked"] == len(history)
    pdf = http.call("GET", f"/pathways/{pid}/audit", inspector, headers={"Accept": "application/pdf"})
    text = pdf_text(pdf.data)
    for expected in (j.patient_ref, j.center, "cart_pathway version", "chain: PASSED", "verify: PASSED",
                     "inspector-ansm",
                     "nurse-ward-1", "thaw_to_infusion", "bed not ready, infusion postponed", "TaskCompleted"):
        assert expected in text, expected
    assert "FAILED" not in text
    report = http.call("GET", f"/pathways/{pid}/audit", inspector).get_json()
    signed = [(s["task"], s["role"], s["meaning"]) for s in report["signatures"]]
    assert ("infusion", "signer", "performed") in signed and ("infusion", "witness", "verified") in signed
    assert all(s["name"] and s["sha256"] and s["at"] for s in report["signatures"])
    assert report["signatures"][0]["name"] in text and f"Electronic signatures ({len(signed)})" in text
    [fixed] = report["corrections"]
    assert (fixed["task"], fixed["field"], fixed["original"], fixed["value"], fixed["reason"]) == \
        ("rcp_eligibility", "comment", original, "RCP of the 5th", "the minutes name the meeting")
    assert "Corrections (1)" in text and "RCP of the 5th" in text and "the minutes name the meeting" in text

    # 5. a row edited behind the application's back: the recorded deviation's reason
    tamper(http.engine.env, j.id, deviation["version"], "bed not ready, infusion postponed", "patient agreed")
    verdict = http.call("POST", f"/pathways/{pid}/verify", inspector).get_json()
    assert verdict["ok"] is False and verdict["first_divergent_event"]["version"] == deviation["version"]
    chain = http.call("GET", "/audit/integrity", inspector, query_string={"pathway": pid}).get_json()
    assert chain["ok"] is False and chain["first_failure"]["kind"] == "altered"
    assert chain["first_failure"]["version"] == deviation["version"]
    report = http.call("GET", f"/pathways/{pid}/audit", inspector).get_json()
    assert report["integrity_ok"] is False
    assert report["integrity"]["verify"]["ok"] is False and report["integrity"]["chain"]["ok"] is False
    text = pdf_text(http.call("GET", f"/pathways/{pid}/audit", inspector, headers={"Accept": "application/pdf"}).data)
    assert "chain: FAILED" in text and "altered" in text
    assert "verify: FAILED" in text and "outcome differs from re-execution" in text
    out = tmp_path / "audit.pdf"
    env = {k: v for k, v in http.engine.env.items() if v is not None}
    result = CliRunner().invoke(main, ["audit", "report", pid, "-o", str(out)], env=env)
    assert result.exit_code == 1 and "fails its integrity checks (chain, verify)" in result.output
    assert "chain: FAILED" in pdf_text(out.read_bytes())
    checked = CliRunner().invoke(main, ["audit", "check", "--pathway", pid], env=env)
    assert checked.exit_code == 1 and "altered" in checked.output
