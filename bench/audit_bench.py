"""Hash chain check speed: `audit check` over a large store, in events/s.

    .venv/bin/python bench/audit_bench.py [--events 200000] [--per-pathway 100] [--state-bytes 700] [--keep DIR]

Builds a SQLite store quickly (events straight through the chained recorder, as the
application would save them, 1,000 per transaction: links and checkpoints are written
exactly as in production), then times ``check_integrity`` over the whole store and
over one pathway. On PostgreSQL: set PERSISTENCE_MODULE=eventsourcing.postgres and the
POSTGRES_* variables (a fresh POSTGRES_SCHEMA) and it builds there instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eventsourcing.persistence import StoredEvent  # noqa: E402

from cartpath.engine.application import CartPath  # noqa: E402
from cartpath.engine.integrity import check_integrity  # noqa: E402

TOPIC = "engine.pathway:Pathway.TaskCompleted"


def build(app: CartPath, events: int, per_pathway: int, state_bytes: int, batch: int = 1000) -> list[uuid.UUID]:
    """Pathways interleaved as in a busy store: each save holds a few events of many pathways."""
    pathways = max(1, events // per_pathway)
    ids = [uuid.uuid4() for _ in range(pathways)]
    filler = ("x" * state_bytes).encode()
    written, version, pending = 0, 1, []
    start = time.perf_counter()
    while written < events:
        for pid in ids:
            if written >= events:
                break
            state = b'{"at":"2026-01-05T08:00:00+00:00","data":{"v":%d},"note":"%s"}' % (version, filler)
            pending.append(StoredEvent(originator_id=pid, originator_version=version, topic=TOPIC, state=state))
            written += 1
            if len(pending) >= batch:
                app.recorder.insert_events(pending)
                pending = []
        version += 1
    if pending:
        app.recorder.insert_events(pending)
    took = time.perf_counter() - start
    print(f"built {written:,} events ({pathways:,} aggregates, ~{state_bytes} B states) in {took:.1f}s "
          f"= {written / took:,.0f} events/s through the chained recorder")
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-pathway", type=int, default=100)
    parser.add_argument("--state-bytes", type=int, default=700)
    parser.add_argument("--keep", help="build the store in this directory and leave it there")
    args = parser.parse_args()
    directory = args.keep or tempfile.mkdtemp(prefix="audit-bench-")
    env = {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "manual"}
    if (os.environ.get("PERSISTENCE_MODULE") or "") != "eventsourcing.postgres":
        env.update({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/cartpath.sqlite3"})
    app = CartPath(env=env)
    ids = build(app, args.events, args.per_pathway, args.state_bytes)
    start, cpu = time.perf_counter(), time.process_time()
    report = check_integrity(app)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.ok, report.lines()[:5]
    # CPU seconds of this process beside the wall clock: on a shared machine they move less with its load
    print(f"audit check, whole store: {report.checked:,} events, {report.checkpoints} checkpoints in {took:.1f}s "
          f"= {report.checked / took:,.0f} events/s ({report.checked / cpu:,.0f} per CPU second; load average "
          f"{os.getloadavg()[0]:.2f})")
    start = time.perf_counter()
    one = check_integrity(app, pathway_id=ids[len(ids) // 2])
    print(f"audit check --pathway: {one.checked} events in {(time.perf_counter() - start) * 1000:.0f} ms")
    if "SQLITE_DBNAME" in env:
        size = Path(env["SQLITE_DBNAME"]).stat().st_size
        print(f"store file: {size / 1e6:,.0f} MB ({size / max(1, report.checked):,.0f} B per event, links included)")
    if not args.keep:
        app.close()
        import shutil
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
