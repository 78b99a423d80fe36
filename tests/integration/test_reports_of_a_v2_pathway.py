"""Reports v2 of pathways run by the real engine on the bundled v2 model (tests/scenarios' Journey).

One patient is infused past the thaw window (a deviation), goes through CRS grade 3 -> ICU
(graded 4 there) -> back to the ward -> discharge -> readmitted at the day-21 visit -> home
again -> month-12 report; another's product is quarantined at receipt. The runner reads
their events; the timeline, custody and KPIs must say what happened, with figures worked
out from the journey's clock."""
from __future__ import annotations

from cartpath.projections.reports import Reports
from cartpath.projections.runner import Runner
from tests.scenarios.conftest import cart_app_in
from tests.scenarios.journey import Journey, iso


def test_timeline_custody_and_kpis_of_a_real_v2_pathway(tmp_path):
    app = cart_app_in(tmp_path)
    j = Journey(app)
    j.to_product_on_site()
    j.to_infusion_day()
    j.pre_check()
    j.thaw()  # 08:00, thawed by 08:20
    j.wait(hours=4)  # the bed was not ready: infused at 12:30, past axi-cel's 180 minutes
    j.complete("infusion", {"coi_wristband": j.coi, "coi_bag": j.coi, "infused_at": iso(j.now()),
                            "deviation_reason": "bed not ready"})
    j.day0 = j.now().date()
    j.wait(minutes=5)
    j.registry("day0")
    j.assess(0)
    j.assess(1, temperature_c=38.4)  # CRS 1
    j.assess(2, temperature_c=39.2, hypotension="one_vasopressor", oxygen="low_flow")  # CRS 3 at 09:00 -> ICU
    assert j.ready() == ["icu_transfer"], j.ready()
    j.complete("icu_transfer", {"admitted_at": j.now().isoformat(), "tocilizumab_given": True,
                                "steroids_given": False})
    j.assess(2, task="icu_assessment", hour=18, temperature_c=39.0, hypotension="multiple_vasopressors",
             oxygen="high_flow")  # CRS 4, only ever seen in ICU
    j.treat("tocilizumab")
    j.at_day(3)
    j.complete("icu_discharge", {"discharged_at": j.now().isoformat()})  # ICU: day 2 09:00 -> day 3 09:00
    j.monitor(3, 14)
    j.discharge()  # day 14 09:00: 13 days and 20.5 hours after infusion
    assert j.follow_up(readmit_at=0) == ["post_discharge_visit"]  # readmitted at the day-21 visit
    j.assess(21, temperature_c=38.9)
    j.assess(22)
    j.assess(23)
    j.discharge()
    j.follow_up()
    j.registry("month12")
    j.assert_ended("follow_up_handover")

    q = Journey(app, 2)
    q.to_product_shipped()
    q.receive(temperature_ok=False)
    assert q.waiting_for() == {"quarantine_decision"}

    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    reports = Reports(runner.store)
    now = app.clock.now()

    k = reports.kpis(now=now, center=j.center)["kpis"]
    assert k["crs_max_grade"]["distribution"] == {"4": 1}  # the ICU assessment's grade counts
    assert k["icu_transfer_rate"] == {"rate": 1.0, "numerator": 1, "denominator": 1}
    assert (k["icu_length_of_stay"]["count"], k["icu_length_of_stay"]["median"]) == (1, 1.0)
    assert (k["length_of_stay"]["count"], k["length_of_stay"]["median"]) == (1, 13.854)  # (13*24 + 20.5) / 24
    assert k["readmission_rate"] == {"rate": 1.0, "numerator": 1, "denominator": 1}
    assert k["first_pass_success"] == {"rate": 1.0, "numerator": 2, "denominator": 2}
    assert k["oos_rate"] == {"rate": 0.0, "numerator": 0, "denominator": 2}
    assert k["deviations"] == {"rate": 1.0, "numerator": 1, "denominator": 1,
                               "by_kind": {"thaw_to_infusion": 1, "tocilizumab_24h_limit": 0}}
    assert k["drop_out"]["numerator"] == 0

    timeline = reports.timeline(str(j.id), now=now)
    titles = [s["title"] for s in timeline["steps"]]
    assert all(titles), [s for s in timeline["steps"] if not s["title"]]
    names = {s["name"] for s in timeline["steps"] if s["kind"] == "task"}
    assert {"lymphodepletion_end", "tocilizumab_reservation", "icu_assessment", "toxicity_treatment",
            "post_discharge_visit", "registry_report"} <= names
    reports_titles = [s["title"] for s in timeline["steps"] if s["name"] == "registry_report" and s["how"]]
    assert reports_titles[0].endswith("(day 0, DESCAR-T)") and reports_titles[-1].endswith("(month 12, DESCAR-T)")
    assert any(t.startswith("CRS grade 4") for t in titles)
    assert "Deviation: infused outside the thaw window (bed not ready)" in titles

    custody = reports.custody(str(j.id))
    assert custody["chain_intact"] and custody["handoffs"][-1]["step"] == "infused"
    assert custody["quarantines"] == []
    [deviation] = custody["deviations"]
    assert (deviation["kind"], deviation["reason"], deviation["limit_minutes"], deviation["actual_minutes"]) == \
        ("thaw_to_infusion", "bed not ready", 180, 250)  # 08:20 -> 12:30

    pending = reports.custody(str(q.id))
    assert pending["chain_intact"] is False and pending["quarantines"][0]["decision"] is None
    assert pending["quarantines"][0]["reason"] == "temperature excursion"
    q.wait(days=1)
    q.tell("quarantine_decision", {"usable": True, "assessment_ref": "QA-2026-9"})
    runner.catch_up()
    decided = reports.custody(str(q.id))
    assert decided["chain_intact"] is True, decided["chain_issues"]
    assert decided["quarantines"][0]["decision"]["usable"] is True
    steps = [s["title"] for s in reports.timeline(str(q.id), now=app.clock.now())["steps"]]
    assert "Product put in quarantine" in steps and "Quarantine decision" in steps
