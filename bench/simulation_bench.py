"""What-if simulation at scale: ~2,000 patients per replication x 10 replications, both cores.

    .venv/bin/python bench/simulation_bench.py [--patients 2000] [--replications 10] [--workers 2] [--weeks 104]

The bundled ``cart_pathway`` on the real engine (a private in-memory CartPath per worker,
nothing written to any store): the distinct routes the patients draw are run once on the
engine across the workers, then each replication (one per task, spread over the workers)
replays its patients' courses with sampled durations, queues admissions for ``--beds`` ward
beds (45: a large centre, ~70 patients a month) and sums occupancy, delays and staff hours.
Arrivals are Poisson at the rate that brings ``--patients`` patients over the warm-up and the
horizon.

Prints the wall time (target: <= 120 s on this 2-core machine), patients/s per core
(patients / wall seconds / workers), patients per CPU-second (parent and workers' CPU
time), the number of routes run on the engine, and the load average beside them (the
machine is shared with other work).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

from cartpath.engine.application import BUNDLED_PROCESSES
from cartpath.engine.lint import read_paths
from cartpath.engine.simulation import Lognormal, Run, Scenario, run
from cartpath.projections.simulation_inputs import (
    DEFAULT_EFFORT,
    DEFAULT_MIX,
    FAILURE_BY_INDICATION,
    REFERENCE_DURATIONS,
    REFERENCE_RATES,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--beds", type=int, default=45, help="ward beds (45 carry ~70 patients a month)")
    args = parser.parse_args()
    warmup = 120
    per_month = args.patients / ((args.weeks * 7 + warmup) * 12 / 365.25)
    scenario = Scenario(
        name="bench", center="FR-01", start=date(2027, 1, 4), horizon_weeks=args.weeks, arrivals_per_month=per_month,
        mix=DEFAULT_MIX, beds=args.beds, icu_beds=6, staff_hours={"ward": 120.0, "apheresis": 40.0},
        durations={k: Lognormal.with_median(m, s) for k, (m, s, _) in REFERENCE_DURATIONS.items()},
        rates={k: p for k, (p, _) in REFERENCE_RATES.items()}, failure_by_indication=FAILURE_BY_INDICATION,
        effort=DEFAULT_EFFORT, replications=args.replications, seed=1, warmup_days=warmup)
    files = read_paths([BUNDLED_PROCESSES])
    load = os.getloadavg()
    started = time.perf_counter()
    result = run(Run(scenario, files, workers=args.workers,
                     progress=lambda f, m: print(f"  {f:4.0%} {m}", file=sys.stderr)))
    wall = time.perf_counter() - started
    cpu_s = result["cost"]["cpu_seconds"]  # the parent's and every worker task's own CPU time
    patients = result["patients_simulated"]
    print(f"simulation: {patients} patients ({patients / args.replications:.0f} per replication x "
          f"{args.replications}), {result['routes_run_on_engine']} routes run on the engine, {args.workers} workers")
    print(f"wall {wall:.1f} s (target <= 120 s); {patients / wall / args.workers:.0f} patients/s per core; "
          f"{patients / cpu_s:.0f} patients per CPU-second ({cpu_s:.1f} CPU-s)")
    cost = result["cost"]
    print(f"CPU: routes on the engine {cost['routes_cpu_seconds']} s, replays {cost['replay_cpu_seconds']} s "
          f"({patients / max(cost['replay_cpu_seconds'], 1e-9):.0f} patients per replay CPU-second), parent the rest")
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"ward p90 peak {result['peak']['ward_p90']}, bed delay {result['bed_delay']}")


if __name__ == "__main__":
    main()
