"""Reports v2 (PATHWAY.md contract v2) on hand-picked histories, through the real runner.

Five pathways written as genuine Pathway events (tests.support.sample.Story) with the
facts v2 adds: an accepted out-of-spec product, ICU assessments, an ICU stay, a
readmission, a thaw-window deviation, a quarantine with and without the manufacturer's
decision, a product returned after it, a death in hospital, and an old store's facts out
of order. Every figure below is worked out by hand in the comments."""
from __future__ import annotations

import pytest

from cartpath.projections.reports import Reports
from cartpath.projections.runner import Runner
from cartpath.projections.times import utc
from tests.integration.test_projections_reports import date, day, iso, pathway
from tests.support.sample import Story

NOW = day(200)


def at(n: float) -> str:
    """An instant as reports write it."""
    return utc(day(n))


def released(s: Story, when: float, *, out_of_spec: bool = False) -> None:
    s.receive("product_released", {"released_at": iso(when), "out_of_spec": out_of_spec, "certificate_ref": "Q"},
              day(when))
    if out_of_spec:
        s.task("oos_acceptance", {"accept": True, "reason": "clinical benefit", "failed_specification": "viability",
                                  "patient_informed": True}, day(when), day(when + 0.5))
    s.receive("product_shipped", {"shipper_id": "SH-B", "tracking": "T1", "shipped_at": iso(when + 1)}, day(when + 1))


def received(s: Story, when: float, *, temperature_ok: bool = True) -> None:
    s.task("product_receipt", {"coi_scanned": s.coi, "temperature_ok": temperature_ok, "storage_location": "LN2-A",
                               "received_at": iso(when)}, day(when), day(when))


def infuse(s: Story, when: float, **extra) -> None:
    s.task("lymphodepletion_start", {"start_date": date(int(when) - 5), "regimen": "flu/cy"}, day(when - 5),
           day(when - 5))
    s.task("thaw_product", {"coi_scanned": s.coi, "thaw_started_at": iso(when - 0.1),
                            "thaw_ended_at": iso(when - 0.05)}, day(when - 0.1), day(when - 0.05))
    s.task("infusion", {"coi_wristband": s.coi, "coi_bag": s.coi, "infused_at": iso(when), **extra}, day(when),
           day(when))
    s.task("registry_report", {"registry": "DESCAR-T", "submitted_at": iso(when), "timepoint": "day0"}, day(when),
           day(when))


def discharge(s: Story, when: float) -> None:
    s.task("discharge", {"discharged_at": iso(when), "caregiver_24h": True, "lodging_within_2h": True,
                         "driving_advice_given": True, "alert_card_given": True}, day(when), day(when))


@pytest.fixture
def v2(app):
    # P1: OOS accepted; ward grade 1, ICU grades 4/3 (icu_assessment); ICU days 39 -> 42; home day 52;
    #     readmitted at the day-21 visit, home again day 61; infused past the thaw window (deviation)
    p1 = pathway(app, 1, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),))
    released(p1, 28, out_of_spec=True)
    received(p1, 31)
    infuse(p1, 37, deviation_reason="bed not ready")
    p1.deviation("thaw_to_infusion", "infusion", "bed not ready", day(37), limit_minutes=30, actual_minutes=72)
    p1.assess(1, 0, day(38))
    p1.task("icu_review", {"reviewed_at": iso(39), "transfer_now": True}, day(39), day(39))
    p1.task("icu_transfer", {"admitted_at": iso(39), "tocilizumab_given": True, "steroids_given": True}, day(39),
            day(39))
    p1.assess(4, 3, day(40), task="icu_assessment")
    p1.task("icu_discharge", {"discharged_at": iso(42)}, day(42), day(42))
    discharge(p1, 52)
    p1.task("post_discharge_visit", {"visit_date": date(58), "readmit": True, "reason": "fever"}, day(58), day(58))
    discharge(p1, 61)
    # P2: quarantined at receipt, the manufacturer has not decided yet
    p2 = pathway(app, 2, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),))
    released(p2, 28)
    received(p2, 31, temperature_ok=False)
    p2.quarantine("temperature excursion", day(31))
    # P3: quarantined, found unusable, returned; failure_decision stop -> not infused (manufacturing_failure)
    p3 = pathway(app, 3, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),))
    released(p3, 28)
    received(p3, 31, temperature_ok=False)
    wait = p3.quarantine("temperature excursion", day(31))
    p3.receive("quarantine_decision", {"usable": False, "assessment_ref": "QA-3"}, day(33))
    p3.end_wait(wait, "done", day(33))
    p3.task("failure_decision", {"option": "stop", "reason": "no usable product"}, day(33), day(34))
    p3.task("product_disposition", {"disposition": "returned_to_manufacturer", "at": iso(35)}, day(35), day(35))
    p3.end("not_infused", day(35))
    # P4: CRS grade 2, died in hospital on day 41 (4 days after infusion)
    p4 = pathway(app, 4, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),))
    released(p4, 28)
    received(p4, 31)
    infuse(p4, 37)
    p4.assess(2, 1, day(38))
    p4.treat("tocilizumab", day(38))
    p4.task("toxicity_treatment", {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": iso(38.2),
                                   "override_reason": "given within the limit: no deviation"}, day(38.2), day(38.2))
    p4.cancel("death", day(41), death_date=date(41), death_cause="crs")
    # P5 (an old store took any dates): receipt typed as day 40, then thawed and infused on day 38,
    #     discharged on day 36
    p5 = pathway(app, 5, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),))
    released(p5, 28)
    received(p5, 40)
    infuse(p5, 38)
    discharge(p5, 36)
    for s in (p1, p2, p3, p4, p5):
        app.save(s.pathway)
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    return {"reports": Reports(runner.store), "runner": runner, **{f"p{i}": s for i, s in
                                                                  enumerate((p1, p2, p3, p4, p5), 1)}}


def test_kpis_v2_by_hand(v2):
    k = v2["reports"].kpis(now=NOW)["kpis"]
    assert k["first_pass_success"] == {"rate": 0.8, "numerator": 4, "denominator": 5}  # P1's accepted OOS is not
    assert k["oos_rate"] == {"rate": 0.2, "numerator": 1, "denominator": 5}
    assert k["delivery_success"] == {"rate": 1.0, "numerator": 5, "denominator": 5, "excluded": 0}
    assert (k["drop_out"]["numerator"], k["drop_out"]["denominator"]) == (1, 5)  # P3; P4 died after infusion
    assert k["drop_out"]["by_category"]["manufacturing_failure"]["numerator"] == 1
    # infused: P1, P4, P5; P1's worst grades were in ICU; P5 was never assessed
    assert k["crs_max_grade"]["distribution"] == {"2": 1, "4": 1}
    assert k["icans_max_grade"]["distribution"] == {"1": 1, "3": 1}
    assert k["icu_transfer_rate"] == {"rate": 0.3333, "numerator": 1, "denominator": 3}
    assert k["icu_length_of_stay"] == {"count": 1, "median": 3.0, "p90": 3.0, "unit": "days", "excluded": 0,
                                       "excluded_reasons": {}}
    # P1 37 -> 52 (first discharge) = 15, P4 37 -> death 41 = 4; P5 discharged before infusion: excluded
    assert k["length_of_stay"] == {"count": 2, "median": 9.5, "p90": 13.9, "unit": "days", "excluded": 1,
                                   "excluded_reasons": {"discharge.discharged_at (or death) before "
                                                        "infusion.infused_at": 1}}
    # discharged: P1 (readmitted on day 21) and P5; both past day 28
    assert k["readmission_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert k["deviations"] == {"rate": 0.3333, "numerator": 1, "denominator": 3,
                               "by_kind": {"thaw_to_infusion": 1, "tocilizumab_24h_limit": 0}}
    assert all(v.get("median") is None or v["median"] >= 0 for v in k.values())


def test_custody_v2_quarantine_disposition_deviation_and_order(v2):
    reports = v2["reports"]
    c1 = reports.custody(str(v2["p1"].id))
    assert c1["chain_intact"] and c1["chain_issues"] == [] and c1["quarantines"] == []
    assert [(d["kind"], d["task"], d["reason"]) for d in c1["deviations"]] == \
        [("thaw_to_infusion", "infusion", "bed not ready")]
    assert (c1["deviations"][0]["limit_minutes"], c1["deviations"][0]["actual_minutes"]) == (30, 72)
    assert c1["handoffs"][-1]["step"] == "infused"  # the deviation is not a hand-off
    # P4's override_reason within the limit is kept in its data but the engine recorded no deviation
    assert reports.custody(str(v2["p4"].id))["deviations"] == []
    c2 = reports.custody(str(v2["p2"].id))
    assert c2["chain_intact"] is False and c2["quarantines"][0]["decision"] is None
    assert c2["chain_issues"] == [f"quarantined at {at(31)} without a quarantine_decision"]
    assert c2["quarantines"][0]["reason"] == "temperature excursion"
    c3 = reports.custody(str(v2["p3"].id))
    assert c3["chain_intact"] is True
    assert c3["quarantines"][0]["decision"] == {"at": at(33), "usable": False, "assessment_ref": "QA-3"}
    assert c3["disposition"]["disposition"] == "returned_to_manufacturer" and c3["disposition"]["at"] == at(35)
    assert [h["step"] for h in c3["handoffs"]][-3:] == ["quarantined", "quarantine_decision",
                                                        "returned_to_manufacturer"]
    assert c3["handoffs"][-1]["place"] == "kite"
    c5 = reports.custody(str(v2["p5"].id))
    by = {h["step"]: h for h in c5["handoffs"]}
    assert by["received_by_pharmacy"]["order_check"] == "in_order"
    assert by["thawed"]["order_check"] == by["infused"]["order_check"] == "out_of_order"
    assert c5["chain_intact"] is False
    assert c5["chain_issues"] == [f"thawed at {at(37.95)} is before received_by_pharmacy at {at(40)}",
                                  f"infused at {at(38)} is before received_by_pharmacy at {at(40)}"]


def test_timeline_v2_titles(v2):
    reports = v2["reports"]
    t1 = {(s["kind"], s["name"]): s for s in reports.timeline(str(v2["p1"].id), now=NOW)["steps"]}
    assert t1[("task", "registry_report")]["title"] == "Registry Report (day 0, DESCAR-T)"
    assert t1[("task", "icu_assessment")]["data"]["temperature_c"] == 38.5
    titles = [s["title"] for s in reports.timeline(str(v2["p1"].id), now=NOW)["steps"] if s["kind"] == "decision"]
    assert "CRS grade 4" in titles and "ICANS grade 3" in titles
    [deviation] = [s for s in reports.timeline(str(v2["p1"].id), now=NOW)["steps"] if s["kind"] == "deviation"]
    assert deviation["title"] == "Deviation: infused outside the thaw window (bed not ready)"
    t2 = reports.timeline(str(v2["p2"].id), now=NOW)["steps"]
    assert [s["title"] for s in t2 if s["name"] == "product_quarantined"] == ["Product put in quarantine"]
    assert [s["title"] for s in t2 if s["kind"] == "wait" and s["open"]] == ["Waiting: quarantine decision"]
    t4 = reports.timeline(str(v2["p4"].id), now=NOW)
    [cancel] = [s for s in t4["steps"] if s["kind"] == "cancelled"]
    assert cancel["title"].startswith("Cancelled: death")
    assert t4["outcome"] == "deceased" and t4["steps"][-1]["title"] == "Ended: deceased"


def test_v2_views_incremental_equal_rebuild(v2):
    runner = v2["runner"]
    before = {v.name: v.dump(runner.store) for v in runner.views}
    runner.reset([v.name for v in runner.views])
    runner.catch_up()
    assert {v.name: v.dump(runner.store) for v in runner.views} == before


def test_reports_v2_on_a_store_written_by_the_first_main(tmp_path):
    """Version-1 pathways (fixtures/stores, contract v1 model) read by the v2 views: nothing negative,
    every infused pathway counted or excluded with a reason, custody and titles for each."""
    import shutil

    from cartpath.engine.application import CartPath
    from tests.integration.test_old_stores import STORE
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(STORE, copy)
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
                        "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"})
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    reports = Reports(runner.store)
    k = reports.kpis(now=app.clock.now())["kpis"]
    assert k["vein_to_vein"]["count"] + k["vein_to_vein"]["excluded"] == 6  # six infused, as the store's outcomes
    for name, figure in k.items():
        if "median" in figure:
            assert figure["median"] is None or figure["median"] >= 0, name
            assert figure["p90"] is None or figure["p90"] >= 0, name
        if "rate" in figure:
            assert figure["rate"] is None or 0 <= figure["rate"] <= 1, name
    assert k["oos_rate"]["denominator"] >= 6 and k["drop_out"]["denominator"] >= 1
    for pid in app.pathway_ids():
        custody = reports.custody(str(pid))
        assert custody["quarantines"] == [] and custody["disposition"] is None
        steps = reports.timeline(str(pid), now=app.clock.now())["steps"]
        assert all(s["title"] for s in steps), [s for s in steps if not s["title"]]
