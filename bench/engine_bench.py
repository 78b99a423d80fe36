"""Engine benchmark: in-process commands on the SQLite file store, and load cost by age.

    .venv/bin/python bench/engine_bench.py [--pathways 300] [--rounds 5] [--chain on|off|both] [--no-load]

Prints:
- commands/s: each command = load pathway, engine step, save (task completions and
  timer firings, on a looping test process), on the system clock (production) and on
  the manual clock (simulation: the clock is read from the store by every command);
- CPU ms per command over the same commands (this process's user + system time, split by
  kind, with the load average at the start): the figure to compare on a shared machine;
- with ``--chain both``: the same commands with the hash chain (``engine/chain.py``, the
  default) and without it (eventsourcing's plain recorder), to show what the chain costs;
- load cost of a pathway with ~10 events vs ~1,000 events, from a cold process
  (snapshot + engine checkpoint + replay), and the ratio (target: at most 2x).
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

from cartpath.engine.application import CartPath, materialise  # noqa: E402
from cartpath.engine.lint import read_paths  # noqa: E402

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
LOOP = ROOT / "tests" / "fixtures" / "loop_pathway.bpmn"


PLAIN_RECORDER = "eventsourcing.sqlite:SQLiteApplicationRecorder"  # no hash chain: for the comparison only


def open_store(directory: str, clock: str = "manual", chain: bool = True) -> CartPath:
    env = {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": clock, "CARTPATH_CLOCK_START": T0.isoformat(),
           "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/cartpath.sqlite3"}
    if not chain:
        env["APPLICATION_RECORDER_TOPIC"] = PLAIN_RECORDER
    return CartPath(env=env)


def bench_commands(app: CartPath, pathways: int, rounds: int) -> None:
    app.deploy(read_paths([LOOP]))
    base = app.clock.now()
    ids = [app.start_pathway(f"P-{i:05d}", "FR-01", "DLBCL", "axi-cel", process_key="loop_pathway").pathway.id
           for i in range(pathways)]
    ready = {pid: next(iter(app.get_pathway(pid).ready)) for pid in ids}
    completions = fires = 0
    t_complete = t_fire = cpu_complete = cpu_fire = 0.0
    load = open_load_average()
    for day in range(1, rounds + 1):
        start, cpu = time.perf_counter(), time.process_time()
        for pid in ids:
            app.complete_task(pid, ready[pid], {"value": day})
            completions += 1
        t_complete += time.perf_counter() - start
        cpu_complete += time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        fires += app.fire_due_timers(base + timedelta(days=day, hours=1))
        t_fire += time.perf_counter() - start
        cpu_fire += time.process_time() - cpu
        for pid in ids:
            ready[pid] = next(iter(app.get_pathway(pid).ready))
    total = completions + fires
    print(f"task completions: {completions} in {t_complete:.2f}s = {completions / t_complete:,.0f}/s")
    print(f"timer firings:    {fires} in {t_fire:.2f}s = {fires / t_fire:,.0f}/s")
    kind = "manual clock, read from the store each command" if app.clock.manual else "system clock"
    chained = "hash chain" if hasattr(app.recorder, "chain_tables") else "NO hash chain"
    print(f"commands/s (load + engine step + save, SQLite file, {kind}, {chained}): "
          f"{total / (t_complete + t_fire):,.0f}")
    # CPU time of this process over the same commands (user + system, fsync's share included): what the
    # wall figures would be on an idle machine with a free disk, and the figure other load moves least
    print(f"CPU ms per command: {(cpu_complete + cpu_fire) * 1000 / total:.3f} (task completion "
          f"{cpu_complete * 1000 / completions:.3f}, timer firing {cpu_fire * 1000 / fires:.3f}; "
          f"load average {load} at the start)")


def open_load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:  # not Linux
        return "unknown"


def age_pathway(app: CartPath, days: int):
    p = app.start_pathway(f"AGE-{days}", "FR-01", "DLBCL", "axi-cel", process_key="loop_pathway").pathway
    for day in range(1, days + 1):
        task = next(iter(app.get_pathway(p.id).ready))
        app.complete_task(p.id, task, {"value": day})
        app.fire_due_timers(app.clock.now() + timedelta(days=1))
    return app.get_pathway(p.id)


def cold_load_ms(directory: str, pathway_id, repeats: int = 15) -> float:
    """Median time to load a pathway and rebuild its engine in a process with empty caches."""
    samples = []
    for _ in range(repeats):
        app = open_store(directory)
        app.model("loop_pathway", 1)  # parsing the definition is a per-process cost, not a per-load one
        start = time.perf_counter()
        pathway = app.get_pathway(pathway_id)
        materialise(pathway, app.model("loop_pathway", 1))
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def bench_load(directory: str) -> None:
    app = open_store(directory)
    app.deploy(read_paths([LOOP]))
    # several ages, so the distance to the last snapshot is not one lucky (or unlucky) value
    young = [age_pathway(app, 1), age_pathway(app, 2)]
    old = [age_pathway(app, days) for days in range(122, 128)]
    small = statistics.mean(cold_load_ms(directory, p.id) for p in young)
    large = statistics.mean(cold_load_ms(directory, p.id) for p in old)
    print(f"load ~{statistics.mean(p.version for p in young):.0f} events: {small:.2f} ms; "
          f"load ~{statistics.mean(p.version for p in old):.0f} events: {large:.2f} ms; "
          f"ratio {large / small:.2f}x (target <= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pathways", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clocks", default="system,manual",
                        help="system: production; manual: simulation, one more store read per command")
    parser.add_argument("--chain", choices=("on", "off", "both"), default="on",
                        help="the hash chain (default on, as in production); both: on and off, alternating")
    parser.add_argument("--no-load", action="store_true", help="skip the load-cost benchmark")
    args = parser.parse_args()
    chains = {"on": [True], "off": [False], "both": [True, False, True, False]}[args.chain]
    for clock in args.clocks.split(","):
        for chain in chains:
            with tempfile.TemporaryDirectory() as directory:
                bench_commands(open_store(directory, clock, chain), args.pathways, args.rounds)
    if not args.no_load:
        with tempfile.TemporaryDirectory() as directory:
            bench_load(directory)


if __name__ == "__main__":
    main()
