"""How long the capacity forecast takes (GET /reports/capacity, `cartpath projections show capacity`).

    .venv/bin/python bench/capacity_bench.py [--in-flight 300] [--history 600] [--centres 1] [--weeks 8]
                                             [--repeats 5]

Writes ``--history`` finished pathways (the centre's history: every stage, stays, ICU stays,
readmissions, drop-outs) and ``--in-flight`` active pathways spread over every stage (before the
order, ordered with a slot, in manufacturing, released, shipped, on site, lymphodepletion,
inpatient, in ICU, readmitted, in follow-up) into a SQLite view table, then times, as the
median of ``--repeats``:
- ``Reports.capacity``: the SQL read of the rows and open tasks plus the forecast (what the API
  and the CLI answer, without HTTP);
- ``capacity.report`` alone on rows already in memory (the forecast's Python).
Prints the figures and the peak expected ward occupancy, so a run can be checked for sense.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.engine.settings import capacity_settings  # noqa: E402
from cartpath.projections import capacity  # noqa: E402
from cartpath.projections.reports import Reports  # noqa: E402
from cartpath.projections.store import ViewStore  # noqa: E402
from cartpath.projections.views.pathways import COLUMNS, PathwaysView  # noqa: E402
from cartpath.projections.views.worklists import WorklistsView  # noqa: E402

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
STAGES = ("started", "ordered", "manufacturing", "released", "shipped", "received", "lymphodepletion", "inpatient",
          "icu", "readmitted", "follow-up")


def row(n: int, center: str, **facts) -> dict:
    r = dict.fromkeys(COLUMNS)
    counters = ("apheresis_count", "adequate_apheresis_count", "release_count", "failure_count", "icu_stays",
                "readmissions", "icu_transfers")
    r.update({c: 0 for c in counters})
    r.update(pathway_id=f"p-{n}", center=center, product="axi-cel", indication="DLBCL", status="active",
             stage="started")
    r.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in facts.items()})
    return r


def finished(n: int, center: str, rng: random.Random) -> dict:
    start = NOW - timedelta(days=rng.uniform(120, 700))
    order = start + timedelta(days=rng.uniform(3, 10))
    if rng.random() < 0.2:  # dropped out before infusion
        return row(n, center, status="ended", stage="ended", outcome="not_infused", started_at=start, ordered_at=order)
    apheresis = order + timedelta(days=rng.uniform(7, 20))
    release = apheresis + timedelta(days=rng.uniform(17, 28))
    shipped = release + timedelta(days=rng.uniform(1, 3))
    received = shipped + timedelta(days=rng.uniform(1, 3))
    ld = received + timedelta(days=rng.uniform(2, 8))
    infused = ld + timedelta(days=5)
    discharged = infused + timedelta(days=14 + rng.expovariate(1 / 4))
    icu = rng.random() < 0.15
    readmitted = rng.random() < 0.1
    return row(n, center, status="ended", stage="ended", outcome="follow_up_handover", started_at=start,
               ordered_at=order, first_apheresis_at=apheresis, release_apheresis_at=apheresis,
               first_released_at=release, product_shipped_at=shipped, product_received_at=received,
               lymphodepletion_at=ld, infused_at=infused, first_discharged_at=discharged,
               discharged_at=discharged + timedelta(days=5) if readmitted else discharged,
               icu_stays=int(icu), icu_days=rng.uniform(1, 6) if icu else None, readmissions=int(readmitted),
               first_readmitted_at=discharged + timedelta(days=7) if readmitted else None)


def in_flight(n: int, center: str, rng: random.Random) -> dict:
    stage = STAGES[n % len(STAGES)]
    ago = rng.uniform(0, 6)
    t = NOW - timedelta(days=ago)
    facts: dict = {"started_at": t - timedelta(days=80)}
    later = ("ordered", "manufacturing", "released", "shipped", "received", "lymphodepletion", "inpatient", "icu",
             "readmitted", "follow-up")
    if stage in later:
        facts.update(ordered_at=t - timedelta(days=60), planned_apheresis_date=t - timedelta(days=50) if
                     stage != "ordered" else t + timedelta(days=10))
    if stage in later[1:]:
        facts.update(first_apheresis_at=t - timedelta(days=50), release_apheresis_at=t - timedelta(days=50))
    if stage in later[2:]:
        facts.update(first_released_at=t - timedelta(days=28))
    if stage in later[3:]:
        facts.update(product_shipped_at=t - timedelta(days=26))
    if stage in later[4:]:
        facts.update(product_received_at=t - timedelta(days=24))
    if stage in later[5:]:
        facts.update(lymphodepletion_at=t - timedelta(days=19))
    if stage in later[6:]:
        facts.update(infused_at=t - timedelta(days=rng.uniform(1, 12) if stage != "follow-up" else 20))
    if stage == "icu":
        facts.update(icu_admitted_at=t)
    if stage in ("readmitted", "follow-up"):
        facts.update(first_discharged_at=t - timedelta(days=3), discharged_at=t - timedelta(days=3))
    if stage == "readmitted":
        facts.update(discharged_at=None, first_readmitted_at=t, readmissions=1)
    return row(10_000 + n, center, stage=stage, **facts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=300)
    parser.add_argument("--history", type=int, default=600)
    parser.add_argument("--centres", type=int, default=1)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(14)
    centres = [f"FR-{i + 1:02d}" for i in range(args.centres)]
    rows = [finished(n, centres[n % len(centres)], rng) for n in range(args.history)]
    rows += [in_flight(n, centres[n % len(centres)], rng) for n in range(args.in_flight)]
    settings = capacity_settings({"CARTPATH_BEDS": "12", "CARTPATH_ICU_BEDS": "3"})
    with tempfile.TemporaryDirectory() as tmp:
        store = ViewStore("sqlite", path=Path(tmp) / "views.sqlite3")
        with store.transaction() as tx:
            for ddl in (*PathwaysView.ddl, *WorklistsView.ddl):
                tx.execute(ddl)
            tx.executemany(f"INSERT INTO view_pathways ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                           [tuple(r[c] for c in COLUMNS) for r in rows])
        reports = Reports(store, beds_env={"CARTPATH_BEDS": "12", "CARTPATH_ICU_BEDS": "3"})
        full, pure, cpu = [], [], []
        answer = {}
        for _ in range(args.repeats):
            began, began_cpu = time.perf_counter(), time.process_time()
            answer = reports.capacity(now=NOW, weeks=args.weeks)
            full.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
            model_rows = [{c: r[c] for c in capacity.CAPACITY_COLUMNS} for r in rows]
            began = time.perf_counter()
            capacity.report(model_rows, [], now=NOW, weeks=args.weeks, settings=settings)
            pure.append(time.perf_counter() - began)
        store.close()
    peak = max(answer["days"], key=lambda d: d["ward_expected"])
    print(f"capacity forecast: {args.in_flight} pathways in flight, {args.history} in the history, "
          f"{args.centres} centre(s), {args.weeks} weeks ({args.weeks * 7} days), median of {args.repeats}")
    print(f"  Reports.capacity (SQL read + forecast): {statistics.median(full) * 1000:.1f} ms wall, "
          f"{statistics.median(cpu) * 1000:.1f} ms CPU")
    print(f"  capacity.report alone (rows in memory): {statistics.median(pure) * 1000:.1f} ms")
    print(f"  peak expected ward occupancy {peak['ward_expected']} (p90 {peak['ward_p90']}) on {peak['date']}, "
          f"P(over {peak['beds']} beds) {peak['p_over_capacity']}; forecast by: "
          + ", ".join(f"{k} {v}" for k, v in sorted(answer["centers"][0]["pathways_forecast"].items())))


if __name__ == "__main__":
    main()
