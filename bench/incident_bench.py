"""Incident benchmark: the cost of a timer round with failing pathways among N, on the SQLite file store.

    .venv/bin/python bench/incident_bench.py [--pathways 200] [--failing 0,1,20]

For each count of failing pathways: N pathways of tests/fixtures/incident_pathway.bpmn
wait one hour, then run a script (divisor 0 fails); one round fires them all. Prints
the round's wall time, ms per pathway, timers fired, incidents raised and events
written; then the cost of a later round (the stopped pathways are skipped, nothing is
written) and of one retry that succeeds.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.engine.application import CartPath  # noqa: E402
from cartpath.engine.lint import read_paths  # noqa: E402

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
MODEL = ROOT / "tests" / "fixtures" / "incident_pathway.bpmn"


def open_store(directory: str) -> CartPath:
    env = {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": T0.isoformat(),
           "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/cartpath.sqlite3"}
    return CartPath(env=env)


def one(pathways: int, failing: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        app = open_store(directory)
        app.deploy(read_paths([MODEL]))
        ids = []
        for i in range(pathways):
            p = app.start_pathway(f"PSN-{i:05d}", "FR-01", "DLBCL", "axi-cel", process_key="incident_pathway").pathway
            task = next(iter(p.ready))
            app.complete_task(p.id, task, {"divisor": 0 if i < failing else 1 + i % 7})
            ids.append(p.id)
        start_position = app.recorder.max_notification_id()
        began = time.perf_counter()
        done = app.fire_round(T0 + timedelta(hours=2))
        spent = time.perf_counter() - began
        written = app.recorder.max_notification_id() - start_position
        print(f"N={pathways:5d} failing={failing:4d}: round {spent * 1000:8.1f} ms "
              f"({spent * 1000 / pathways:.2f} ms/pathway), fired {done.fired}, incidents {len(done.incidents)}, "
              f"events written {written}")
        position = app.recorder.max_notification_id()
        began = time.perf_counter()
        later = app.fire_round(T0 + timedelta(hours=3))
        spent = time.perf_counter() - began
        print(f"          next round: {spent * 1000:8.1f} ms, fired {later.fired}, "
              f"pathway events written {app.recorder.max_notification_id() - position - 1} (1 = the clock)")
        if failing:
            incident = app.get_pathway(ids[0]).incident
            began = time.perf_counter()
            app.retry_incident(ids[0], incident["incident_id"], {"dose": {"divisor": 3}})
            print(f"          one successful retry: {(time.perf_counter() - began) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pathways", type=int, default=200)
    parser.add_argument("--failing", default="0,1,20")
    args = parser.parse_args()
    for failing in (int(x) for x in args.failing.split(",")):
        one(args.pathways, failing)


if __name__ == "__main__":
    main()
