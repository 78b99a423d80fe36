"""bench/floor_bench.py runs and prints its floors (figures are never asserted: only that they exist
and the work behind them was done): the libraries' part, the HTTP part on the pass's store, and a
plain refusal of nonsense options."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.support.store import ROOT

BENCH = ROOT / "bench" / "floor_bench.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_the_libraries_floor_is_printed_for_both_event_counts():
    done = run("--pathways", "3", "--loops", "2", "--saves", "20", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # the step ran: a firing that did not make the user task ready again ends the bench with an error
    assert re.search(r"SpiffWorkflow step alone: completion \d+\.\d+ ms .* timer firing \d+\.\d+ ms", out)
    for events in ("1 event", "2 events", "4.5 events"):
        assert re.search(rf"eventsourcing alone, save, {re.escape(events)}: \d+\.\d+ ms", out), out
    floors = re.findall(r"floor, SpiffWorkflow step \+ save, ([\d.]+) events: ([\d.]+) ms .* = ([\d,]+) commands/s",
                        out)
    assert [f[0] for f in floors] == ["2", "4.5"]
    assert all(float(ms) > 0 for _, ms, _ in floors)


def test_the_http_floor_serves_every_completion_on_the_pass_store():
    store = "postgres" if os.environ.get("CARTPATH_TEST_STORE") == "postgres" else "sqlite"
    done = run("--http", "--store", store, "--cases", "2", "--clients", "2")
    assert done.returncode == 0, done.stderr
    assert f"HTTP floor ({store};" in done.stdout
    assert "completions: 60 in" in done.stdout and "errors 0" in done.stdout, done.stdout
    assert re.search(r"completion p50 [\d.]+ ms, p90 [\d.]+, p99 [\d.]+", done.stdout)


def test_nonsense_options_are_refused_in_one_line():
    done = run("--rounds", "0")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "at least 1" in done.stderr
    assert done.stdout == ""
