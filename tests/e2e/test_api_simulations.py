"""What-if simulations over HTTP: 202 and progress, results, compare, charts and CSV, who may,
bad input as problems, the limit on simultaneous runs, and a store left exactly as it was."""
from __future__ import annotations

import csv
import io
import time
import xml.etree.ElementTree as ET

import pytest

from cartpath.projections.runner import Runner
from tests.support.http import Http, assert_problem, make_http

SCENARIO = {"name": "today", "center": "FR-01", "horizon_weeks": 8, "arrivals": {"per_month": 6}, "beds": 2,
            "icu_beds": 1, "staff_hours": {"ward": 10, "apheresis": 8}, "replications": 2, "seed": 3,
            "mix": [{"indication": "DLBCL", "product": "axi-cel", "share": 1}]}

BIG = SCENARIO | {"horizon_weeks": 52, "arrivals": {"per_month": 30}, "replications": 20}  # a few seconds' run


@pytest.fixture
def http(tmp_path) -> Http:
    h = make_http(tmp_path, env={"CARTPATH_SIMULATION_WORKERS": "1", "CARTPATH_SIMULATION_MAX_RUNNING": "1",
                                 "CARTPATH_SIMULATION_DIR": str(tmp_path / "simulations")})
    h.engine.deploy_bundled()
    h.to_check("P-1", "ORD-1", "COI-1")  # some history in the views
    runner = Runner(h.engine)
    runner.prepare()
    runner.catch_up()
    return h


def finished(http: Http, location: str, who: dict, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = http.client.get(location, headers=who).get_json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_a_simulation_runs_in_the_background_and_records_nothing(http):
    doctor = http.headers("hematology", sub="dr-h")
    events_before = http.position()
    started = http.call("POST", "/simulations", doctor, json=SCENARIO)
    assert started.status_code == 202, started.get_json()
    location = started.headers["Location"]
    assert location == f"/api/v1/simulations/{started.get_json()['id']}"
    assert started.get_json()["status"] in ("queued", "running") and started.get_json()["results"] is None
    not_yet = http.client.get(f"{location}/series.csv", headers=doctor)
    assert not_yet.status_code in (200, 409)  # 409 while it runs (it may be quick)
    body = finished(http, location, doctor)
    assert (body["status"], body["progress"]) == ("done", 1.0), body["message"]
    [result] = body["results"]
    assert len(result["daily"]) == 56 and result["daily"][0]["beds"] == 2
    assert {"ward_p10", "ward_p50", "ward_p90", "icu_p50", "p_ward_over_capacity"} <= set(result["daily"][0])
    assert result["staff_weekly"][0]["lanes"]["ward"]["configured"] == 10
    assert result["assumptions"]["definition"]["key"] == "cart_pathway"
    assert result["assumptions"]["arrivals_per_month"] == {"value": 6.0, "source": "request"}
    assert "pathway view" in result["assumptions"]["history"]
    assert http.position() == events_before  # nothing was recorded in the store

    png = http.client.get(f"{location}/charts/occupancy.png", headers=doctor)
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(b"\x89PNG\r\n\x1a\n")
    svg = http.client.get(f"{location}/charts/staff.svg", headers=doctor)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert ET.fromstring(svg.data).tag.endswith("svg")
    series = http.client.get(f"{location}/series.csv", headers=doctor)
    rows = list(csv.DictReader(io.StringIO(series.get_data(as_text=True))))
    assert len(rows) == 56 and rows[0]["scenario"] == "today" and rows[0]["beds"] == "2"
    assert http.position() == events_before


def test_scenarios_side_by_side(http):
    nurse = http.headers("coordination")
    more = SCENARIO | {"name": "+33%", "arrivals": {"per_month": 8}}
    outpatient = SCENARIO | {"name": "outpatient 30%", "overrides": {"outpatient_share": 0.3}}
    started = http.call("POST", "/simulations/compare", nurse, json={"scenarios": [SCENARIO, more, outpatient]})
    assert started.status_code == 202, started.get_json()
    body = finished(http, started.headers["Location"], nurse)
    assert body["status"] == "done", body["message"]
    assert [r["scenario"] for r in body["results"]] == ["today", "+33%", "outpatient 30%"]
    assert body["scenarios"] == ["today", "+33%", "outpatient 30%"]
    assert body["results"][2]["assumptions"]["outpatient_share"]["value"] == 0.3
    png = http.client.get(f"{started.headers['Location']}/charts/staff.png", headers=nurse)
    assert png.data.startswith(b"\x89PNG")
    rows = list(csv.DictReader(io.StringIO(http.client.get(f"{started.headers['Location']}/series.csv",
                                                           headers=nurse).get_data(as_text=True))))
    assert {r["scenario"] for r in rows} == {"today", "+33%", "outpatient 30%"}


def test_who_may_simulate_and_read(http):
    for role in ("ward", "pharmacy", "auditor", "process_owner"):
        assert_problem(http.call("POST", "/simulations", http.headers(role), json=SCENARIO), 403)
    other_centre = http.headers("hematology", centers=("FR-02",))
    assert_problem(http.call("POST", "/simulations", other_centre, json=SCENARIO), 403)
    started = http.call("POST", "/simulations", http.headers("admin", centers=()), json=SCENARIO)
    assert started.status_code == 202
    location = started.headers["Location"].removeprefix("/api/v1")
    finished(http, started.headers["Location"], http.headers("admin", centers=()))
    assert_problem(http.call("GET", location, other_centre), 404)
    assert_problem(http.call("GET", location, http.headers("ward")), 403)
    assert http.call("GET", location, http.headers("coordination")).status_code == 200
    assert_problem(http.call("GET", "/simulations/not-a-run", http.headers("coordination")), 404)


@pytest.mark.parametrize("body, field", [
    (SCENARIO | {"horizon_weeks": 0}, "horizon_weeks"),
    (SCENARIO | {"staff_hours": {"cafeteria": 3}}, "staff_hours"),
    (SCENARIO | {"arrivals": {"per_month": 3, "growth": 0.3}}, "arrivals._schema"),
    (SCENARIO | {"mix": [{"indication": "MM", "product": "cilta-cel", "share": 0}]}, "mix.0.share"),
    (SCENARIO | {"replications": 1000}, "replications"),
    ({k: v for k, v in SCENARIO.items() if k != "center"}, "center"),
    (SCENARIO | {"overrides": {"outpatient_share": 1.5}}, "overrides.outpatient_share"),
])
def test_bad_input_is_a_problem_and_starts_nothing(http, tmp_path, body, field):
    r = http.call("POST", "/simulations", http.headers("hematology"), json=body)
    problem = assert_problem(r, 422)
    assert field in problem["errors"], problem
    assert not list((tmp_path / "simulations").glob("*.json"))


def test_too_large_and_compare_of_one_are_refused(http):
    huge = SCENARIO | {"horizon_weeks": 156, "arrivals": {"per_month": 500}, "replications": 100}
    assert "patient-replications" in assert_problem(http.call("POST", "/simulations", http.headers("hematology"),
                                                              json=huge), 422)["detail"]
    assert_problem(http.call("POST", "/simulations/compare", http.headers("hematology"),
                             json={"scenarios": [SCENARIO]}), 422)


def test_one_run_at_a_time_when_so_configured(http):
    doctor = http.headers("hematology")
    first = http.call("POST", "/simulations", doctor, json=BIG)
    assert first.status_code == 202
    second = http.call("POST", "/simulations", doctor, json=SCENARIO)
    problem = assert_problem(second, 429, type_part="too-many-simulations")
    assert "CARTPATH_SIMULATION_MAX_RUNNING" in problem["detail"] and second.headers["Retry-After"]
    assert finished(http, first.headers["Location"], doctor)["status"] == "done"
    third = http.call("POST", "/simulations", doctor, json=SCENARIO)
    assert third.status_code == 202
    finished(http, third.headers["Location"], doctor)


def test_answers_match_the_openapi_document(http):
    import schemathesis

    from tests.e2e.test_api_schemathesis import CHECKS
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", http.client.application)
    doctor = http.headers("hematology")

    def check(method: str, template: str, response, status: int) -> None:
        assert response.status_code == status, response.get_data(as_text=True)[:300]
        schema[template][method].Case().validate_response(response, checks=CHECKS)

    started = http.call("POST", "/simulations", doctor, json=BIG)  # still running at the next request
    check("POST", "/api/v1/simulations", started, 202)
    check("POST", "/api/v1/simulations", http.call("POST", "/simulations", doctor, json=SCENARIO), 429)
    check("POST", "/api/v1/simulations", http.call("POST", "/simulations", doctor, json={"center": "FR-01",
                                                                                         "seed": -1}), 422)
    location = started.headers["Location"].removeprefix("/api/v1")
    finished(http, started.headers["Location"], doctor)
    check("GET", "/api/v1/simulations/{run_id}", http.call("GET", location, doctor), 200)
    check("GET", "/api/v1/simulations/{run_id}", http.call("GET", "/simulations/nope", doctor), 404)
    for chart in ("occupancy.png", "staff.svg"):
        check("GET", "/api/v1/simulations/{run_id}/charts/{chart}.{fmt}",
              http.call("GET", f"{location}/charts/{chart}", doctor), 200)
    octets = http.call("GET", f"{location}/charts/staff.png", doctor, headers={"Accept": "application/octet-stream"})
    check("GET", "/api/v1/simulations/{run_id}/charts/{chart}.{fmt}", octets, 200)
    assert octets.mimetype == "application/octet-stream" and octets.data.startswith(b"\x89PNG")
    check("GET", "/api/v1/simulations/{run_id}/series.csv", http.call("GET", f"{location}/series.csv", doctor), 200)
    compared = http.call("POST", "/simulations/compare", doctor, json={"scenarios": [SCENARIO, SCENARIO]})
    check("POST", "/api/v1/simulations/compare", compared, 202)
    finished(http, compared.headers["Location"], doctor)
    spec = http.client.get("/api/v1/openapi.json").get_json()
    charts = [p for p in spec["paths"] if p.startswith("/api/v1/simulations/{run_id}/charts/")]
    assert charts and set(spec["paths"][charts[0]]["get"]["responses"]["200"]["content"]) == {
        "image/png", "image/svg+xml", "application/octet-stream"}


def test_beds_and_task_hours_default_to_the_centres_configuration(tmp_path):
    h = make_http(tmp_path, env={"CARTPATH_SIMULATION_WORKERS": "1", "CARTPATH_BEDS": "3,FR-01=7",
                                 "CARTPATH_ICU_BEDS": "FR-01=2", "CARTPATH_TASK_HOURS": "apheresis=6",
                                 "CARTPATH_SIMULATION_DIR": str(tmp_path / "simulations")})
    h.engine.deploy_bundled()
    doctor = h.headers("hematology")
    configured = {k: v for k, v in SCENARIO.items() if k not in ("beds", "icu_beds")}
    started = h.call("POST", "/simulations/compare", doctor,
                     json={"scenarios": [configured, configured | {"name": "no limit", "beds": None}]})
    assert started.status_code == 202, started.get_json()
    body = finished(h, started.headers["Location"], doctor)
    assert body["status"] == "done", body["message"]
    first, unlimited = body["results"]
    assert first["assumptions"]["beds"] == {"value": 7, "source": "configured (CARTPATH_BEDS)"}
    assert first["assumptions"]["icu_beds"] == {"value": 2, "source": "configured (CARTPATH_ICU_BEDS)"}
    assert first["assumptions"]["task_hours"]["value"]["apheresis"] == 6
    assert unlimited["assumptions"]["beds"]["value"] is None and unlimited["bed_delay"]["delayed"] == 0
    assert "views unavailable" in first["assumptions"]["history"]  # no runner yet: reference figures, said so
