"""What the tocilizumab stock costs a command, on a SQLite file store (one process, manual clock).

    .venv/bin/python bench/inventory_bench.py [--patients 300] [--repeats 3]

Drives ``--patients`` pathways of tests/fixtures/tocilizumab_pathway.bpmn, all at one
centre: reservation (2 doses), one tocilizumab treatment, discharge (release). Every one
of those commands loads the centre's stock and saves it with the pathway, so the stock
gains ~3 events per patient: this shows whether that grows the cost of a command.

Prints, as medians over ``--repeats`` fresh stores:
- the median time of each command kind (first 50 patients vs last 50: the stock is then
  ~3 x patients events long; snapshots every 50 stock versions keep the load short);
- for comparison, the same completion on a task that does not touch the stock
  (a dexamethasone treatment);
- the time to load the stock (GET /inventory) at the end.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.engine import inventory  # noqa: E402
from cartpath.engine.application import CartPath  # noqa: E402

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
KINDS = ("reserve", "use", "other_drug", "release")


def ready(pathway, name: str) -> str:
    return next(t for t, r in pathway.ready.items() if r["name"] == name)


def run(patients: int) -> tuple[dict[str, tuple[float, float]], float]:
    with tempfile.TemporaryDirectory() as tmp:
        app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{tmp}/bench.sqlite3",
                            "CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": T0.isoformat()})
        app.deploy({"t.bpmn": (ROOT / "tests" / "fixtures" / "tocilizumab_pathway.bpmn").read_bytes()})
        inventory.receive(app, "FR-01", 10_000, "L1", "2030-01-01")
        given = (T0 + timedelta(hours=1)).isoformat()
        times: dict[str, list[float]] = {k: [] for k in KINDS}
        for n in range(patients):
            p = app.start_pathway(f"P-{n}", "FR-01", "DLBCL", "axi-cel", process_key="tocilizumab_pathway").pathway
            steps = [("reserve", "tocilizumab_reservation", {"doses": 2}),
                     ("use", "toxicity_treatment", {"drug": "tocilizumab", "dose": "8 mg/kg", "given_at": given,
                                                    "more": True}),
                     ("other_drug", "toxicity_treatment", {"drug": "dexamethasone", "dose": "10 mg",
                                                           "given_at": given}),
                     ("release", "discharge", {"discharged_at": given})]
            for kind, task, data in steps:
                began = time.perf_counter()
                p = app.complete_task(p.id, ready(p, task), data)
                times[kind].append(time.perf_counter() - began)
        began = time.perf_counter()
        view = inventory.show(app, "FR-01")
        load = time.perf_counter() - began
        assert view["reserved"] == 0 and view["on_hand"] == 10_000 - patients
        window = min(50, patients)
        return ({k: (statistics.median(v[:window]), statistics.median(v[-window:])) for k, v in times.items()}, load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [run(args.patients) for _ in range(args.repeats)]
    print(f"{args.patients} patients at one centre, stock ~{3 * args.patients + 2} events; "
          f"medians of {args.repeats} runs")
    print(f"{'command':<12} {'first 50 (ms)':>14} {'last 50 (ms)':>13} {'last/first':>11}")
    for kind in KINDS:
        first = statistics.median(r[0][kind][0] for r in runs) * 1000
        last = statistics.median(r[0][kind][1] for r in runs) * 1000
        print(f"{kind:<12} {first:>14.2f} {last:>13.2f} {last / first:>10.2f}x")
    print(f"stock load at the end (GET /inventory's work): {statistics.median(r[1] for r in runs) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
