"""Storage benchmark: bytes on disk per finished pathway, and the read speeds that pay for them.

    .venv/bin/python bench/storage_bench.py [--instances 40] [--patients 100] [--no-demo]
    CARTPATH_COMPRESSOR=off .venv/bin/python bench/storage_bench.py    # events stored as plain JSON

Prints (figures only, asserts nothing):
- bytes per finished linear 30-user-task instance (bench/linear_process.py): the store's growth
  over --instances instances run to their end, divided by their number, per table (events,
  snapshots, the hash chain, indexes); on SQLite, and on PostgreSQL too when
  CARTPATH_TEST_POSTGRES_HOST names a server (a fresh schema, dropped afterwards);
- MiB per 1,000 real cart_pathways: the bundled model run by the demo's simulation
  (engine/demo.py: patients, manufacturer and time) for --patients patients to their end,
  scaled to 1,000, per table;
- on that demo store: projections rebuild (events/s), the log's read + decode (events/s),
  loading every pathway cold (pathways/s), ``verify --all`` (pathways/s) and the hash
  chain's check (events/s).

SQLite sizes are the pages each table and index holds (SQLite's dbstat), after a WAL
checkpoint: what the file holds once written, free pages left out.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from linear_process import LINEAR_KEY, linear_bpmn  # noqa: E402

from cartpath.engine.application import CartPath  # noqa: E402
from cartpath.engine.demo import run_demo  # noqa: E402
from cartpath.engine.integrity import check_integrity  # noqa: E402
from cartpath.projections.log import EventLog  # noqa: E402
from cartpath.projections.runner import Runner  # noqa: E402
from cartpath.projections.store import ViewStore  # noqa: E402
from cartpath.projections.views import all_views  # noqa: E402

KIB, MIB = 1024, 1024 * 1024
T0 = "2026-01-05T08:00:00+00:00"


class Timer:
    """Wall and CPU seconds of a block: the machine is shared, and CPU seconds move less with its load."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rate(self, n: float, unit: str) -> str:
        return f"{n / self.wall:,.0f} {unit}/s ({n / self.cpu:,.0f} per CPU second)"


def sqlite_env(directory: str) -> dict[str, str]:
    return {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": T0,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/cartpath.sqlite3"}


def sqlite_sizes(app: CartPath) -> dict[str, int]:
    """Bytes of pages per table or index (dbstat), after moving the WAL into the file."""
    with app.recorder.datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        return {str(name): int(size) for name, size in c.fetchall()}


def postgres_sizes(app: CartPath) -> dict[str, int]:
    """Bytes per table of the store's schema, its indexes and TOAST included, after VACUUM FULL."""
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.get_connection() as conn, conn.cursor() as curs:
        # deleted rows (pruned snapshots) hold their space until vacuumed; autovacuum makes it
        # reusable in a running store: count live rows only
        conn.autocommit = True
        curs.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = %s AND c.relkind = 'r'", (datastore.schema,))
        for row in curs.fetchall():
            curs.execute(f'VACUUM FULL "{datastore.schema}"."{row["relname"]}"')
        curs.execute("SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
                     "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'", (datastore.schema,))
        return {str(row["relname"]): int(row["pg_total_relation_size"]) for row in curs.fetchall()}


def sizes(app: CartPath) -> dict[str, int]:
    return postgres_sizes(app) if "postgres" in app.env.get("PERSISTENCE_MODULE", "") else sqlite_sizes(app)


def grouped(found: dict[str, int]) -> dict[str, int]:
    """Tables and indexes under four headings (SQLite names its automatic indexes apart)."""
    out = {"events": 0, "snapshots": 0, "chain": 0, "other": 0}
    for name, size in found.items():
        if "chain" in name or "link" in name or "checkpoints" in name:  # the hash chain's side tables
            out["chain"] += size
        elif "snapshots" in name:
            out["snapshots"] += size
        elif "events" in name:
            out["events"] += size
        else:
            out["other"] += size
    return out


def describe(per: dict[str, float], unit: int, label: str) -> str:
    total = sum(per.values())
    parts = ", ".join(f"{k} {v / unit:,.1f}" for k, v in per.items() if v)
    return f"{total / unit:,.1f} {label} ({parts})"


def linear_instances(env: dict[str, str], instances: int, store: str) -> None:
    app = CartPath(env=env)
    try:
        app.deploy({"linear_pathway.bpmn": linear_bpmn(30)})
        # one instance first: the store's fixed costs (definitions, clock, first pages) stay out of the figure
        run_linear(app, "P-00000")
        before = grouped(sizes(app))
        rows0 = app.recorder.max_notification_id() or 0
        for i in range(1, instances + 1):
            run_linear(app, f"P-{i:05d}")
        after = grouped(sizes(app))
        rows = ((app.recorder.max_notification_id() or 0) - rows0) / instances
        per = {k: (after[k] - before[k]) / instances for k in after}
        print(f"{store}: finished linear 30-user-task instance: {describe(per, KIB, 'KiB')}, "
              f"{rows:.0f} events each ({instances} instances)")
    finally:
        app.close()


def run_linear(app: CartPath, patient_ref: str) -> None:
    p = app.start_pathway(patient_ref, "FR-01", "DLBCL", "axi-cel", process_key=LINEAR_KEY).pathway
    while p.status == "active":
        p = app.complete_task(p.id, next(iter(p.ready)), {"value": p.version})


def postgres_env() -> tuple[dict[str, str], str] | None:
    if not os.environ.get("CARTPATH_TEST_POSTGRES_HOST"):
        return None
    from tests.support.pg import fresh_postgres_env
    env = fresh_postgres_env()  # dropped at exit
    env.update({"CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": T0, "POSTGRES_POOL_SIZE": "2"})
    return env, env["POSTGRES_SCHEMA"]


def demo_store(directory: str, patients: int) -> None:
    app = CartPath(env=sqlite_env(directory))
    try:
        app.deploy_bundled()
        before = grouped(sqlite_sizes(app))
        with Timer() as t:
            summary = run_demo(app, patients)
        after = grouped(sqlite_sizes(app))
        per = {k: (after[k] - before[k]) * 1000 / patients for k in after}
        events = app.recorder.max_notification_id() or 0
        ended = sum(summary["outcomes"].values())
        print(f"demo: {patients} cart_pathways ({ended} ended), {events:,} events, simulated in {t.wall:.0f} s")
        print(f"per 1,000 real cart_pathways: {describe(per, MIB, 'MiB')}")
    finally:
        app.close()


def read_speeds(directory: str) -> None:
    app = CartPath(env=sqlite_env(directory))
    try:
        log = EventLog(app)
        head = log.head()
        n, after = 0, 0
        with Timer() as t:
            while after < head:
                found, after = log.read(after, 20_000, head)
                n += len(found)
        print(f"read + decode: {n:,} pathway events in {t.wall:.2f} s = {t.rate(n, 'events')}")

        store = ViewStore.for_app(app)  # projections.sqlite3 beside the store
        runner = Runner(app, store=store, views=all_views(), batch_size=20_000)
        runner.prepare()
        runner.reset([v.name for v in all_views()])
        with Timer() as t:
            runner.catch_up()
        store.settle()
        print(f"projections rebuild (every view): {runner.applied_events:,} events in {t.wall:.2f} s = "
              f"{t.rate(runner.applied_events, 'events')}")

        ids: list[uuid.UUID] = app.pathway_ids()
        cold = CartPath(env=sqlite_env(directory))  # nothing cached
        with Timer() as t:
            for pid in ids:
                cold.get_pathway(pid)
        print(f"load (cold, every pathway): {len(ids)} in {t.wall:.2f} s = {t.rate(len(ids), 'pathways')}, "
              f"{t.cpu / len(ids) * 1000:.2f} CPU ms each")
        cold.close()

        with Timer() as t:
            results = [app.verify(pid) for pid in ids]
        ok = sum(1 for r in results if r["ok"])
        print(f"verify --all: {len(ids)} pathways ({ok} ok) in {t.wall:.2f} s = {t.rate(len(ids), 'pathways')}")

        with Timer() as t:
            report = check_integrity(app)
        print(f"audit check (hash chain): {report.checked:,} events, ok={report.ok}, in {t.wall:.2f} s = "
              f"{t.rate(report.checked, 'events')}")
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=40, help="linear 30-task instances to run to the end")
    parser.add_argument("--patients", type=int, default=100, help="demo cart_pathways (scaled to 1,000)")
    parser.add_argument("--no-demo", action="store_true", help="only the linear instances")
    parser.add_argument("--dir", help="keep the stores here (default: a temporary directory, removed)")
    args = parser.parse_args()
    workdir = args.dir or tempfile.mkdtemp(prefix="storage-bench-")
    Path(workdir).mkdir(parents=True, exist_ok=True, mode=0o700)
    compressor = os.environ.get("CARTPATH_COMPRESSOR", "(default)")
    print(f"CARTPATH_COMPRESSOR={compressor}, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        linear_dir = Path(workdir) / "linear"
        linear_dir.mkdir(exist_ok=True)
        linear_instances(sqlite_env(str(linear_dir)), args.instances, "SQLite")
        pg = postgres_env()
        if pg is not None:
            linear_instances(pg[0], args.instances, f"PostgreSQL (schema {pg[1]})")
        if not args.no_demo:
            demo_dir = Path(workdir) / "demo"
            demo_dir.mkdir(exist_ok=True)
            demo_store(str(demo_dir), args.patients)
            read_speeds(str(demo_dir))
    finally:
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
