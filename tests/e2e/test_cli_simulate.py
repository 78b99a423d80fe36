"""``cartpath simulate`` as a user runs it: two scenarios side by side, a progress bar on stderr, a
summary table, charts and CSV in --out; a bad scenario file is one error line; the store is unchanged."""
from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET

import pytest

from cartpath.engine.application import CartPath
from tests.e2e.test_cli import run

TODAY = {"name": "today", "center": "FR-01", "horizon_weeks": 6, "arrivals": {"per_month": 5}, "beds": 2,
         "replications": 2, "mix": [{"indication": "MM", "product": "cilta-cel", "share": 1}]}


@pytest.fixture
def cli_env(tmp_path, env):
    full = {**os.environ, **env, "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_SIMULATION_WORKERS": "1"}
    full.pop("FLASK_APP", None)
    run(full, "deploy")
    return full


def test_two_scenarios_side_by_side_with_charts_and_csv(tmp_path, cli_env, env):
    (tmp_path / "a.json").write_text(json.dumps(TODAY))
    (tmp_path / "b.json").write_text(json.dumps(TODAY | {"name": "plus-33", "arrivals": {"growth": 0.33}}))
    before = CartPath(env=env).recorder.max_notification_id()
    done = run(cli_env, "simulate", "--scenario", str(tmp_path / "a.json"), "--scenario", str(tmp_path / "b.json"),
               "--out", str(tmp_path / "out"))
    assert "100% done" in done.stderr and "[#" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("scenario") and "ward p90 peak" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["today", "plus-33"]
    out = tmp_path / "out"
    assert (out / "occupancy.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert ET.parse(out / "staff.svg").getroot().tag.endswith("svg")
    rows = list(csv.DictReader((out / "series.csv").open()))
    assert len(rows) == 2 * 42 and {r["scenario"] for r in rows} == {"today", "plus-33"}
    results = json.loads((out / "results.json").read_text())
    # no history in a fresh store: growth applies to the default rate, and says so
    assert "x(1 + 0.33)" in results[1]["assumptions"]["arrivals_per_month"]["source"]
    assert CartPath(env=env).recorder.max_notification_id() == before


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not JSON"),
    (json.dumps(TODAY | {"horizon_weeks": 0}), "horizon_weeks"),
    (json.dumps({"horizon_weeks": 4}), "center"),
])
def test_a_bad_scenario_is_one_error_line(tmp_path, cli_env, content, needle):
    (tmp_path / "bad.json").write_text(content)
    refused = run(cli_env, "simulate", "--scenario", str(tmp_path / "bad.json"), check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and needle in line and "bad.json" in line
