"""Benchmark of the read side: rebuild every view from a store of a million events.

    .venv/bin/python bench/projections_bench.py                       # SQLite, 1,000,000 events
    .venv/bin/python bench/projections_bench.py --events 200000 --postgres   # POSTGRES_* from the environment
    .venv/bin/python bench/projections_bench.py --demo 40             # also: store size with the real engine

The store is filled with synthetic CAR-T histories (projections.sample: the engine's own
event types, PATHWAY.md's fields, pathways interleaved in time) because the engine itself
writes a few hundred events per second; ``--demo N`` runs ``cartpath demo`` for N patients
to report the store size per 1,000 pathways of real engine runs too. Prints figures; asserts
nothing. The store is kept in --dir and reused when it already holds enough events, so
a store made by the real engine can be measured too:

    CARTPATH_DATA_DIR=var/bigdemo .venv/bin/cartpath demo --patients 3400   # ~1.06M events, ~20 min
    .venv/bin/python bench/projections_bench.py --dir var/bigdemo
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.engine.application import CartPath  # noqa: E402
from cartpath.projections.runner import Runner, tune_gc  # noqa: E402
from cartpath.projections.store import ViewStore  # noqa: E402
from cartpath.projections.views import VIEW_NAMES, all_views  # noqa: E402
from tests.support.sample import T0, write_population  # noqa: E402


def mib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.1f} MiB"


def sqlite_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def pathway_count(app: CartPath) -> int:
    return len(app.pathway_ids())


def fill(app: CartPath, events: int, save_every: int = 400) -> None:
    head = app.recorder.max_notification_id() or 0
    chunk, first, started = 1000, pathway_count(app), time.perf_counter()
    written = 0
    while head < events:
        # each chunk: 1,000 patients arriving over a year, followed to their end
        info = write_population(app, chunk, seed=first + 7, start=T0 + timedelta(days=first // 3), first=first,
                                save_every=save_every)
        first += info["patients"]
        new_head = app.recorder.max_notification_id() or 0
        written += new_head - head
        head = new_head
        rate = written / (time.perf_counter() - started)
        print(f"  store: {head:,} events, {first:,} pathways ({rate:,.0f} events/s written)", file=sys.stderr)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rebuild(app: CartPath, store: ViewStore, names: list[str], batch: int) -> dict:
    runner = Runner(app, store=store, views=[v for v in all_views() if v.name in names], batch_size=batch)
    runner.prepare()
    runner.reset(names)
    wall, cpu0 = time.perf_counter(), cpu()
    target = runner.catch_up()
    wall, used = time.perf_counter() - wall, cpu() - cpu0
    n = runner.applied_events
    store.settle()
    return {"views": names, "events": n, "position": target, "seconds": round(wall, 2), "cpu_seconds": round(used, 2),
            "events_per_second": round(n / wall), "events_per_cpu_second": round(n / used) if used else None}


def demo_size(patients: int, workdir: Path) -> dict:
    """Events and bytes per 1,000 pathways when the real engine runs the bundled model."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CARTPATH_DATA_DIR": str(workdir), "CARTPATH_CLOCK": "manual"}
    for key in ("PERSISTENCE_MODULE", "SQLITE_DBNAME"):
        env.pop(key, None)
    out = subprocess.run([str(Path(sys.executable).parent / "cartpath"), "demo", "--patients", str(patients)],
                         env=env, capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": str(workdir / "cartpath.sqlite3")})
    events = app.recorder.max_notification_id()
    size = sqlite_size(workdir / "cartpath.sqlite3")
    runner_result = rebuild(app, ViewStore.for_app(app), list(VIEW_NAMES), 5000)
    views = sqlite_size(workdir / "projections.sqlite3")
    return {"patients": patients, "events": events, "events_per_pathway": round(events / patients, 1),
            "event_store_per_1000_pathways": mib(size * 1000 / patients),
            "views_per_1000_pathways": mib(views * 1000 / patients),
            "demo_seconds": summary.get("seconds"), "rebuild": runner_result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dir", default="var/bench-projections")
    parser.add_argument("--batch-size", type=int, default=20_000, help="as `cartpath projections rebuild`")
    parser.add_argument("--postgres", action="store_true", help="use POSTGRES_* from the environment")
    parser.add_argument("--per-view", action="store_true", help="also rebuild each view alone")
    parser.add_argument("--demo", type=int, default=0, metavar="N",
                        help="also measure a real-engine store of N patients")
    args = parser.parse_args()
    tune_gc()
    data = Path(args.dir)
    data.mkdir(parents=True, exist_ok=True)
    if args.postgres:
        env = {k: v for k, v in os.environ.items() if k.startswith("POSTGRES_")}
        env.update(PERSISTENCE_MODULE="eventsourcing.postgres", CREATE_TABLE="true", POSTGRES_ENABLE_DB_FUNCTIONS="no")
    else:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(data / "cartpath.sqlite3")}
    app = CartPath(env=env)
    print(f"filling the store to {args.events:,} events ({'postgres' if args.postgres else data})", file=sys.stderr)
    # PostgreSQL: smaller saves (one save of 400 pathways' pending events stalled psycopg's pipeline)
    fill(app, args.events, save_every=20 if args.postgres else 400)
    store = ViewStore.for_app(app)
    pathways = pathway_count(app)
    head = app.recorder.max_notification_id()
    figures: dict = {"store": store.dialect, "events": head, "pathways": pathways,
                     "events_per_pathway": round(head / pathways, 1), "batch_size": args.batch_size,
                     "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}
    if store.dialect == "sqlite":
        size = sqlite_size(data / "cartpath.sqlite3")
        figures["event_store_size"] = mib(size)
        figures["event_store_per_1000_pathways"] = mib(size * 1000 / pathways)
    print("rebuilding every view from event zero", file=sys.stderr)
    figures["rebuild_all"] = rebuild(app, store, list(VIEW_NAMES), args.batch_size)
    views = store.size_bytes()
    figures["view_store_size"] = mib(views)
    figures["view_store_per_1000_pathways"] = mib(views * 1000 / pathways if views else None)
    if args.per_view:
        figures["rebuild_each"] = [rebuild(app, store, [name], args.batch_size) for name in VIEW_NAMES]
    if args.demo:
        print(f"running the demo for {args.demo} patients (real engine)", file=sys.stderr)
        figures["demo_store"] = demo_size(args.demo, data / "demo")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
