"""Moving 1,000 running pathways to a new version in one request, on a SQLite file store.

    .venv/bin/python bench/migration_bench.py [--pathways 1000] [--cold]

Sets up ``--pathways`` CAR-T pathways mid-flight on processes/cart_pathway.bpmn (a
third just referred, a third waiting for the manufacturer's slot with its 5-day timer
armed, a third at apheresis after the slot), deploys a version 2 (the crs_grade fever
threshold at 37.5 °C and the slot timer at 3 days), then times, as one call each (what
``POST /process-definitions/cart_pathway/migrations`` runs):
- the plan (``dry_run``): every pathway checked and moved on a throw-away engine;
- the move: every pathway checked again, moved, recorded (``Migrated`` + outcomes);
- a repeat of the move (idempotent: nothing moves twice).
Prints seconds (wall and this process's CPU) and pathways/s for each. ``--cold`` opens a fresh application on the
store before timing (no live engines cached: each pathway is loaded from its snapshot
and inputs), as a server that did not serve these pathways recently would.
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
KEY = "cart_pathway"


def open_store(directory: str) -> CartPath:
    env = {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "manual", "CARTPATH_CLOCK_START": T0.isoformat(),
           "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/cartpath.sqlite3"}
    return CartPath(env=env)


def ready_id(app: CartPath, pathway_id, name: str) -> str:
    return next(t for t, r in app.get_pathway(pathway_id).ready.items() if r["name"] == name)


def set_up(app: CartPath, count: int) -> None:
    app.deploy_bundled(ROOT / "processes")
    who = {"sub": "bench", "roles": ["coordination"]}
    today = T0.date().isoformat()
    for n in range(count):
        pid = app.start_pathway(f"B-{n:05d}", "FR-01", "DLBCL", "axi-cel", actor=who).pathway.id
        if n % 3 == 0:
            continue
        app.complete_task(pid, ready_id(app, pid, "rcp_eligibility"), {"eligible": True, "rcp_date": today}, who)
        app.complete_task(pid, ready_id(app, pid, "patient_consent"), {"consent_signed": True}, who)
        app.complete_task(pid, ready_id(app, pid, "place_order"),
                          {"order_id": f"ORD-{n:05d}", "manufacturer": "kite",
                           "requested_apheresis_date": (T0 + timedelta(days=14)).date().isoformat()}, who)
        if n % 3 == 2:
            app.deliver_message("slot_confirmed", f"m-{n}", {"order_id": f"ORD-{n:05d}", "coi": f"W{n:012d}"},
                                {"apheresis_date": (T0 + timedelta(days=7)).date().isoformat(),
                                 "manufacturing_slot": "S-1"}, expected_manufacturer="kite")


def deploy_v2(app: CartPath) -> int:
    files = read_paths([ROOT / "processes"])
    files["crs_grade.dmn"] = files["crs_grade.dmn"].replace(b"38.0", b"37.5")
    files["cart_pathway.bpmn"] = files["cart_pathway.bpmn"].replace(b'"P5D"', b'"P3D"')
    return app.deploy(files)[0]["version"]


def timed(label: str, count: int, call):
    started, cpu = time.perf_counter(), time.process_time()
    result = call()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    # CPU seconds too: on a shared machine the wall clock also counts other people's work
    print(f"{label:<26} {seconds:7.2f} s ({cpu:6.2f} s CPU)  {count / seconds:7.1f} pathways/s  {result['counts']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pathways", type=int, default=1000)
    parser.add_argument("--cold", action="store_true", help="time on a fresh application (no live engines)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        app = open_store(directory)
        started = time.perf_counter()
        set_up(app, args.pathways)
        print(f"set-up: {args.pathways} pathways mid-flight in {time.perf_counter() - started:.1f} s")
        version = deploy_v2(app)
        if args.cold:
            app = open_store(directory)
        timed("plan (dry run)", args.pathways,
              lambda: app.migrate_pathways(KEY, 1, version, dry_run=True))
        moved = timed("move (one request)", args.pathways,
                      lambda: app.migrate_pathways(KEY, 1, version, reason="bench"))
        assert moved["counts"] == {"migrated": args.pathways}, moved["counts"]
        timed("repeat (nothing to move)", args.pathways, lambda: app.migrate_pathways(KEY, 1, version))


if __name__ == "__main__":
    main()
