"""The capacity forecast over HTTP and from the shell, on the store of the pass: the per-day ward and
ICU figures, staff hours per lane and week, the configured beds, and bad configuration refused."""
from __future__ import annotations

import json
import os

import pytest

from cartpath.engine.settings import BadSetting
from cartpath.projections.runner import Runner
from tests.support.cli import run
from tests.support.http import make_http
from tests.support.store import FIXTURES

DAY_KEYS = {"date", "ward_expected", "ward_p90", "icu_expected", "icu_p90", "beds", "icu_beds", "p_over_capacity",
            "p_icu_over_capacity"}


def test_capacity_over_http_has_days_staff_hours_and_the_configured_beds(tmp_path):
    http = make_http(tmp_path, {"CARTPATH_BEDS": "FR-01=0", "CARTPATH_ICU_BEDS": "3",
                                "CARTPATH_TASK_HOURS": "apheresis=6"})
    http.to_check("P-1", "ORD-1", "COI-1")
    runner = Runner(http.engine)
    runner.prepare()
    runner.catch_up()
    r = http.call("GET", "/reports/capacity?weeks=2", http.headers("coordination", centers=("FR-01",)))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    body = r.get_json()
    [centre] = body["centers"]
    assert len(body["days"]) == 14 and set(body["days"][0]) == DAY_KEYS
    assert body["days"] == centre["days"] and centre["beds"] == 0 and centre["icu_beds"] == 3
    assert all(d["beds"] == 0 and d["icu_beds"] == 3 for d in body["days"])
    assert sum(centre["pathways_forecast"].values()) == 1
    assert {(h["week"], h["lane"]) for h in body["staff_hours"]} >= {(body["days"][0]["date"], "apheresis"),
                                                                      (body["days"][7]["date"], "ward")}
    figures = {(f["center"], f["name"]): f for f in body["assumptions"]["figures"]}
    assert figures[("FR-01", "beds")]["source"] == "configured (CARTPATH_BEDS)"
    assert figures[(None, "hours_apheresis")]["value"] == 6.0
    assert figures[("FR-01", "p_infusion_from_ordered")]["source"] == "reference"


def test_bad_capacity_configuration_stops_the_app_naming_the_variable(tmp_path):
    with pytest.raises(BadSetting, match="CARTPATH_ICU_BEDS"):
        make_http(tmp_path, {"CARTPATH_ICU_BEDS": "FR-01=lots"})


@pytest.fixture
def cli_env(tmp_path, env):
    full = {**os.environ, **env, "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_BEDS": "2,FR-02=9"}
    full.pop("FLASK_APP", None)
    return full


def test_capacity_from_the_shell(cli_env):
    run(cli_env, "deploy", str(FIXTURES / "mini_pathway.bpmn"))
    started = json.loads(run(cli_env, "start", "--patient-ref", "PSN-1", "--center", "FR-01", "--indication", "DLBCL",
                             "--product", "axi-cel", "--process", "mini_pathway").stdout)
    run(cli_env, "complete", started["id"], "intake", '{"ok": true, "order_id": "ORD-7"}')
    run(cli_env, "projections", "run", "--once")
    out = json.loads(run(cli_env, "projections", "show", "capacity", "--weeks", "1").stdout)
    assert len(out["days"]) == 7 and set(out["days"][0]) == DAY_KEYS and out["days"][0]["beds"] == 2
    assert out["centers"][0]["beds_source"] == "default"
    bad = run(cli_env | {"CARTPATH_TASK_HOURS": "thaw=1"}, "projections", "show", "capacity", check=False)
    assert bad.returncode == 1
    [line] = bad.stderr.strip().splitlines()
    assert line.startswith("error: CARTPATH_TASK_HOURS: 'thaw' is not a task"), line
