"""Reports on CAR-T histories with hand-picked dates, so every figure can be checked by hand.

The histories are written as genuine Pathway events (projections.sample.Story), without
the engine: the full CAR-T model is not needed to test what the read side computes."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from cartpath.projections.reports import Reports
from cartpath.projections.runner import Runner
from tests.support.sample import Story

D0 = datetime(2026, 1, 5, tzinfo=UTC)
NOW = D0 + timedelta(days=200)  # when the KPI reports are made: every pathway ordered 90+ days before


def day(n: float) -> datetime:
    return D0 + timedelta(days=n)


def iso(n: float) -> str:
    return day(n).isoformat()


def date(n: int) -> str:
    return day(n).date().isoformat()


def pathway(app, n: int, center: str, product: str, *, started: float, order: float | None = None,
            manufacturer: str = "kite", apheresis: tuple = (), failures: tuple = (), released: float | None = None,
            receipt: float | None = None, ld: int | None = None, infused: float | None = None, grades: tuple = (),
            icu: bool = False, discharged: float | None = None, bridging: bool | None = None,
            cancel: tuple | None = None, end: tuple | None = None, coi_bag: str | None = None) -> Story:
    """One pathway up to where its arguments stop; ``apheresis`` is ((day, adequate), ...)."""
    s = Story(random.Random(n), f"PSN-{n}", center, product, "DLBCL", day(started))
    if order is not None:
        s.ready("place_order", day(started))
        s.order(f"ORD-{n}", manufacturer, day(order))
        s.confirm_slot(f"COI-{n}", day(order + 5), day(order + 1))
    for when, adequate in apheresis:
        s.task("apheresis", {"collection_date": date(when), "coi_scanned": s.coi, "cd3_cells_e9": 4.2,
                             "adequate": adequate}, day(when), day(when))
    if apheresis:
        last = apheresis[-1][0]
        s.task("ship_apheresis", {"courier": "cryo", "shipper_id": f"SH-{n}", "pickup_at": iso(last + 0.5)},
               day(last), day(last + 0.5))
        s.receive("apheresis_received", {"received_at": iso(last + 2), "condition_ok": True}, day(last + 2),
                  delivered=False)
    if bridging is not None:
        s.task("bridging_decision", {"bridging": bridging}, day(started + 1), day(started + 1))
    for when in failures:
        s.receive("manufacturing_failed", {"reason": "insufficient expansion"}, day(when))
    if released is not None:
        s.receive("product_released", {"released_at": iso(released), "out_of_spec": False, "certificate_ref": "Q1"},
                  day(released))
        s.receive("product_shipped", {"shipper_id": "SH-B", "tracking": "T1", "shipped_at": iso(released + 1)},
                  day(released + 1))
    if receipt is not None:
        s.task("product_receipt", {"coi_scanned": s.coi, "temperature_ok": True, "storage_location": "LN2-A",
                                   "received_at": iso(receipt)}, day(receipt), day(receipt))
    if ld is not None:
        s.task("lymphodepletion_start", {"start_date": date(ld), "regimen": "flu/cy"}, day(ld), day(ld))
    if infused is not None:
        s.task("thaw_product", {"coi_scanned": s.coi, "thaw_started_at": iso(infused - 0.1),
                                "thaw_ended_at": iso(infused - 0.05)}, day(infused - 0.1), day(infused - 0.05))
        s.task("infusion", {"coi_wristband": s.coi, "coi_bag": coi_bag or s.coi, "infused_at": iso(infused)},
               day(infused), day(infused))
    for i, (crs, icans) in enumerate(grades):
        s.decide("crs_grade", {"crs_grade": crs}, day((infused or 0) + i + 1))
        s.decide("icans_grade", {"icans_grade": icans}, day((infused or 0) + i + 1))
    if icu:
        s.task("icu_transfer", {"admitted_at": iso((infused or 0) + 2), "tocilizumab_given": True,
                                "steroids_given": False}, day((infused or 0) + 2), day((infused or 0) + 2))
    if discharged is not None:
        s.task("discharge", {"discharged_at": iso(discharged)}, day(discharged), day(discharged))
    if cancel is not None:
        s.cancel(cancel[0], day(cancel[1]))
    if end is not None:
        s.end(end[0], day(end[1]))
    app.save(s.pathway)
    return s


@pytest.fixture
def cohort(app):
    a = pathway(app, 1, "FR-01", "axi-cel", started=0, order=2, apheresis=((10, True),), released=30, receipt=33,
                ld=35, infused=40.5, grades=((1, 0), (2, 0)), discharged=55.5, bridging=True)
    b = pathway(app, 2, "FR-01", "axi-cel", started=1, order=3, apheresis=((11, False), (12, True)), failures=(30,),
                released=45, receipt=47, ld=48, infused=53, grades=((3, 2),), icu=True, discharged=73,
                bridging=False)
    c = pathway(app, 3, "FR-02", "tisa-cel", started=2, order=1, manufacturer="novartis", apheresis=((9, True),),
                cancel=("death", 20))
    d = pathway(app, 4, "FR-02", "tisa-cel", started=3, end=("not_eligible", 3))
    e = pathway(app, 5, "FR-01", "axi-cel", started=4, order=5)
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    return {"reports": Reports(runner.store), "a": a, "b": b, "c": c, "d": d, "e": e}


def test_every_kpi_of_pathway_md_by_hand(cohort):
    report = cohort["reports"].kpis(now=NOW)
    k = report["kpis"]
    assert report["pathways"] == 5
    # 30.5 and 41.0 days: the distribution counts one in week [28, 35) and one in [35, 42), every week before as 0
    assert k["vein_to_vein"] == {"count": 2, "median": 35.75, "p90": 39.95, "unit": "days",
                                 "excluded": 0, "excluded_reasons": {},
                                 "histogram": [{"from": w * 7, "to": w * 7 + 7, "count": int(w >= 4)}
                                               for w in range(6)]}
    assert k["order_to_infusion"] == {"count": 2, "median": 44.25, "p90": 48.85, "unit": "days",
                                      "excluded": 0, "excluded_reasons": {}}
    assert k["manufacturing_turnaround"] == {"count": 2, "median": 26.5, "p90": 31.7, "unit": "days",
                                             "excluded": 0, "excluded_reasons": {}}
    assert k["first_pass_success"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert k["oos_rate"] == {"rate": 0.0, "numerator": 0, "denominator": 2}
    # c died before any release: not a delivery failure
    assert k["delivery_success"] == {"rate": 1.0, "numerator": 2, "denominator": 2, "excluded": 0}
    # a, b, e ordered 90+ days before NOW, c ended: 4 judged, c dropped out (death)
    assert k["drop_out"]["rate"] == 0.25 and (k["drop_out"]["numerator"], k["drop_out"]["denominator"]) == (1, 4)
    assert k["drop_out"]["by_category"]["death"] == {"rate": 0.25, "numerator": 1, "denominator": 4}
    assert sum(c["numerator"] for c in k["drop_out"]["by_category"].values()) == 1
    assert k["bridging_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert k["crs_max_grade"]["distribution"] == {"2": 1, "3": 1}
    assert k["icans_max_grade"] == {"count": 2, "distribution": {"0": 1, "2": 1}, "share": {"0": 0.5, "2": 0.5}}
    assert k["icu_transfer_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert k["length_of_stay"] == {"count": 2, "median": 17.5, "p90": 19.5, "unit": "days", "excluded": 0,
                                   "excluded_reasons": {}}
    assert k["icu_length_of_stay"]["count"] == 0  # b is still in ICU (no icu_discharge)
    assert k["readmission_rate"] == {"rate": 0.0, "numerator": 0, "denominator": 2}
    assert k["deviations"] == {"rate": 0.0, "numerator": 0, "denominator": 2,
                               "by_kind": {"thaw_to_infusion": 0, "tocilizumab_24h_limit": 0}}
    assert set(report["definitions"]) == set(k)


def test_kpis_per_centre_product_and_period(cohort):
    reports = cohort["reports"]
    groups = {(g["center"], g["product"]): g for g in reports.kpis(now=NOW)["by_center_product"]}
    assert set(groups) == {("FR-01", "axi-cel"), ("FR-02", "tisa-cel")}
    assert groups[("FR-02", "tisa-cel")]["kpis"]["drop_out"]["by_category"]["death"] == \
        {"rate": 1.0, "numerator": 1, "denominator": 1}
    fr2 = reports.kpis(now=NOW, center="FR-02")
    assert fr2["pathways"] == 2 and fr2["kpis"]["vein_to_vein"]["count"] == 0
    assert reports.kpis(now=NOW, product="axi-cel")["kpis"]["vein_to_vein"]["count"] == 2
    period = reports.kpis(now=NOW, start=iso(1), end=iso(3))  # started on day 1 (b) and day 2 (c)
    assert period["pathways"] == 2 and period["cohort"] == "pathways started in [from, to)"
    assert period["kpis"]["vein_to_vein"] == {"count": 1, "median": 41.0, "p90": 41.0, "unit": "days",
                                              "excluded": 0, "excluded_reasons": {},
                                              "histogram": [*({"from": w * 7, "to": w * 7 + 7, "count": 0}
                                                              for w in range(5)), {"from": 35, "to": 42, "count": 1}]}
    assert reports.kpis(now=NOW, centers={"FR-02"})["pathways"] == 2  # a user's centres restrict like a filter
    assert reports.kpis(now=NOW, centers=set())["pathways"] == 0


def test_custody_lists_every_hand_off_with_its_coi_check(cohort):
    a = cohort["a"]
    custody = cohort["reports"].custody(str(a.id))
    steps = [h["step"] for h in custody["handoffs"]]
    assert steps == ["collected", "shipped", "received_by_manufacturer", "released", "shipped_back",
                     "received_by_pharmacy", "stored", "thawed", "infused"]
    by = {h["step"]: h for h in custody["handoffs"]}
    assert by["collected"]["at"] == day(10).isoformat(timespec="microseconds")
    assert by["collected"]["place"] == "FR-01/apheresis" and by["collected"]["actor"] == "apheresis-fr-01"
    assert by["stored"]["place"] == "FR-01/pharmacy:LN2-A"
    assert by["received_by_manufacturer"]["place"] == "kite"
    assert by["received_by_manufacturer"]["actor"] == "kite-portal@kite"
    assert by["infused"]["coi_check"] == {"result": "match", "expected": "COI-1", "scanned": ["COI-1", "COI-1"]}
    assert by["shipped"]["coi_check"]["result"] == "not_scanned"
    assert (custody["coi"], custody["order_id"], custody["manufacturer"], custody["chain_intact"]) == \
        ("COI-1", "ORD-1", "kite", True)


def test_custody_reports_a_broken_chain_of_identity(app):
    s = pathway(app, 9, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),), released=25, receipt=27,
                ld=28, infused=33, coi_bag="COI-OTHER")
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    custody = Reports(runner.store).custody(str(s.id))
    infused = custody["handoffs"][-1]
    assert infused["coi_check"]["result"] == "mismatch" and "COI-OTHER" in infused["coi_check"]["scanned"]
    assert custody["chain_intact"] is False


def test_manufacturer_report(cohort):
    report = {m["manufacturer"]: m for m in cohort["reports"].manufacturers()["manufacturers"]}
    kite, novartis = report["kite"], report["novartis"]
    assert (kite["orders"], kite["slots_confirmed"], kite["releases"], kite["failures"]) == (3, 3, 2, 1)
    assert kite["failure_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert kite["turnaround"]["median"] == 26.5 and kite["order_to_slot"]["median"] == 1.0
    assert (novartis["orders"], novartis["releases"], novartis["in_manufacturing"]) == (1, 0, 0)
    assert cohort["reports"].manufacturers(centers={"FR-02"})["manufacturers"][0]["manufacturer"] == "novartis"


def test_timeline_and_custody_hide_other_centres(cohort):
    from cartpath.engine.errors import UnknownPathway
    reports = cohort["reports"]
    with pytest.raises(UnknownPathway):
        reports.custody(str(cohort["a"].id), centers={"FR-02"})
    with pytest.raises(UnknownPathway):
        reports.timeline(str(cohort["a"].id), now=D0, centers={"FR-02"})
    assert reports.timeline(str(cohort["c"].id), now=D0, centers={"FR-02"})["outcome"] == "cancelled"


def test_capacity_today_and_forecast_against_beds(app):
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    start = (now - D0).days - 60
    # FR-01: X is in (lymphodepletion 02-21, infused 02-26 12:00); Y's product arrived 02-28 12:00
    pathway(app, 20, "FR-01", "axi-cel", started=start, order=start + 1, apheresis=((start + 8, True),),
            released=start + 30, receipt=start + 33, ld=47, infused=52.5)
    pathway(app, 21, "FR-01", "axi-cel", started=start, order=start + 1, apheresis=((start + 8, True),),
            released=start + 30, receipt=54.5)
    pathway(app, 22, "FR-01", "axi-cel", started=start)  # not ordered 60 days on: ordered today at the earliest
    # FR-02: five finished stays of 10 days give the centre its own figures
    for n in range(5):
        pathway(app, 30 + n, "FR-02", "tisa-cel", started=0, order=1, apheresis=((8, True),), released=28,
                receipt=30, ld=31, infused=36, discharged=46, end=("follow_up_handover", 80))
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    reports = Reports(runner.store, beds_env={"CARTPATH_BEDS": "FR-01=1", "CARTPATH_BEDS_DEFAULT": "3",
                                              "CARTPATH_ICU_BEDS": "", "CARTPATH_LD_INPATIENT_DAYS": "",
                                              "CARTPATH_TASK_HOURS": ""})
    report = reports.capacity(now=now, weeks=5)
    centres = {c["center"]: c for c in report["centers"]}
    fr1 = centres["FR-01"]
    assert fr1["inpatients_today"] == 1 and fr1["beds"] == 1 and fr1["beds_source"] == "CARTPATH_BEDS"
    # X is in up to day 10 (PATHWAY.md's stay: at least 14 days); Y, on site, is infused 5 + 5 days after
    # receipt (03-10 12:00), admitted 5 days before, and reaches infusion with p = 0.95 (assumed)
    ward = [d["ward_expected"] for d in fr1["days"]]
    assert len(ward) == 35 and ward[:4] == [1.0] * 4 and ward[4:11] == [1.95] * 7
    assert [d["p_over_capacity"] for d in fr1["days"][3:5]] == [0.0, 0.95]
    assert fr1["days"][4]["ward_p90"] == 2 and fr1["days"][4]["icu_expected"] == 0
    assert fr1["forecast"][4] == {"date": "2026-03-05", "expected_inpatients": 1.95, "beds": 1, "over_capacity": True}
    assert fr1["pathways_forecast"] == {"inpatient": 1, "product on site": 1, "before the order": 1}
    assert fr1["pathways_not_forecast"] == 0
    figures = {(f["center"], f["name"]): f for f in report["assumptions"]["figures"]}
    assert figures[("FR-01", "length_of_stay_mean")]["value"] == 18.0
    assert figures[("FR-01", "length_of_stay_mean")]["source"] == "reference"
    assert figures[("FR-02", "length_of_stay_mean")]["value"] == 10.0
    assert figures[("FR-02", "length_of_stay_mean")]["source"] == "history"
    assert figures[("FR-02", "p_infusion_from_ordered")]["value"] == 1.0
    assert figures[("FR-02", "beds")]["source"] == "configured (CARTPATH_BEDS_DEFAULT)"
    assert report["assumptions"]["durations"]["FR-02"]["length_of_stay"]["days"] == 10.0
    assert centres["FR-02"]["beds"] == 3 and centres["FR-02"]["inpatients_today"] == 0
    assert report["days"][4]["beds"] == 4 and report["days"][4]["ward_expected"] == 1.95
    lanes = {(h["week"], h["lane"]): h["hours"] for h in fr1["staff_hours"]}
    assert lanes[("2026-03-08", "pharmacy")] == round(0.95 * 1.0, 2)  # Y's thaw on 03-10
    only = reports.capacity(now=now, weeks=1, center="FR-02")
    assert [c["center"] for c in only["centers"]] == ["FR-02"] and len(only["centers"][0]["forecast"]) == 7


def test_capacity_counts_open_tasks_per_lane(app):
    s = Story(random.Random(1), "PSN-1", "FR-01", "axi-cel", "DLBCL", D0)
    s.ready("rcp_eligibility", D0)
    s.ready("place_order", D0)
    app.save(s.pathway)
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    report = Reports(runner.store).capacity(now=D0 + timedelta(days=1), weeks=1)
    assert report["open_tasks"] == [{"center": "FR-01", "lane": "hematology", "open": 1, "overdue": 0},
                                    {"center": "FR-01", "lane": "pharmacy", "open": 1, "overdue": 0}]


def test_a_refused_out_of_spec_release_is_not_a_first_pass_success(app):
    s = pathway(app, 40, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),), manufacturer="kite")
    s.receive("product_released", {"released_at": iso(28), "out_of_spec": True, "certificate_ref": "Q"}, day(28))
    s.task("oos_acceptance", {"accept": False, "reason": "viability"}, day(28), day(29))
    s.receive("product_released", {"released_at": iso(50), "out_of_spec": False, "certificate_ref": "Q2"}, day(50))
    app.save(s.pathway)
    pathway(app, 41, "FR-01", "axi-cel", started=0, order=1, apheresis=((8, True),), released=30, manufacturer="kite")
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    reports = Reports(runner.store)
    assert reports.kpis(now=NOW)["kpis"]["first_pass_success"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert reports.kpis(now=NOW)["kpis"]["manufacturing_turnaround"]["median"] == 21.0  # first releases: 20 and 22 days
    [kite] = reports.manufacturers()["manufacturers"]
    assert (kite["out_of_spec"], kite["out_of_spec_refused"], kite["failures"]) == (1, 1, 0)
    assert kite["failure_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
