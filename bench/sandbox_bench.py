"""Sandbox benchmark: the worst inputs tried against the script budget, and deploy cost vs size.

    .venv/bin/python bench/sandbox_bench.py [--processes 1,10,40,100]

Prints, for each hostile script/expression (each run in a fresh child process, under the
default limits), how it ended (the refusal), the CPU ms it cost and the peak RSS growth of
that process (resource.getrusage) and peak Python allocation (tracemalloc); then the cost of
SpiffWorkflow's ``?`` substitution against cartpath's on long DMN cells; then deploys of one
file defining N processes: file size, CPU ms and bytes stored.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NESTED = "a = [0] * 10000\nb = [a] * 10000\nc = [a] * 10000\n"
CASES = {
    "deep compare b == c (10^8 items)": NESTED + "r = b == c",
    "sorted(b)": NESTED + "r = sorted(b)",
    "str(b)": NESTED + "r = str(b)",
    "[1] in b": NESTED + "r = [1] in b",
    "hash a huge tuple key": NESTED + "d = {}\nd[(b, 1)] = 1",
    "'%0*d' % (10**9, 1)": 'r = "%0*d" % (1000000000, 1)',
    "'%.1000000000f' % 1.0": 'r = "%.1000000000f" % 1.0',
    "x *= 10000 (list)": "x = [0] * 1000\nx *= 10000",
    "slice growth x[0:0] = x": "x = [0] * 9000\nx[0:0] = x",
    "big product": "a = 340282366920938463463374607431768211456\nb = a * a",
    "round(5, -10**8)": "r = round(5, -100000000)",
    "int('9' * 5000)": "r = int('9' * 5000)",
    "2**40 shared tree left in data": "a = [0] * 5000\n" + "a = [a, a]\n" * 40,
    "self-containing list": "a = [1]\na[0] = a",
    "500 lines of near-cap str()": "a = [0] * 9000\n" + "r = str(a)\n" * 500,
    "500 lines of near-cap compares": "a = [0] * 9000\n" + "r = a == a\n" * 500,
    "200 lines of 72 KB concatenations": "a = [0] * 9000\n" + "r = a + [1]\n" * 200,
}


def run_one(source: str) -> dict:
    """CPU and RSS of one run (the source parsed first, as deploy does: parses are cached), then
    the Python allocation peak of a second run under tracemalloc (which slows it down)."""
    from cartpath.engine import sandbox

    def attempt() -> str:
        try:
            sandbox.execute(source, {})
            return "ran"
        except (sandbox.ScriptFailed, sandbox.ScriptRefused) as err:
            return f"{type(err).__name__}: {err}"

    try:
        sandbox.validate_script(source)
    except sandbox.ScriptRefused as err:
        return {"outcome": f"ScriptRefused at deploy: {err}", "cpu_ms": 0.0, "peak_kib": 0.0, "rss_kib": 0}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    outcome = attempt()
    cpu_ms = (time.process_time() - started) * 1000
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    tracemalloc.start()
    attempt()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"outcome": outcome, "cpu_ms": cpu_ms, "peak_kib": peak / 1024, "rss_kib": rss_growth}


def scripts() -> None:
    print(f"{'worst input':36} {'CPU ms':>8} {'RSS +KiB':>9} {'alloc KiB':>10}  refusal")
    for name, source in CASES.items():
        out = subprocess.run([sys.executable, __file__, "--one", json.dumps(source)], capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout)
        print(f"{name:36} {r['cpu_ms']:8.1f} {r['rss_kib']:9d} {r['peak_kib']:10.0f}  {r['outcome'][:70]}")


SPIFF_QUESTION = re.compile(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)')


def dmn_cells() -> None:
    from cartpath.engine.decision_cells import cell_expression
    print("\nDMN cell '?' substitution (one cell of n characters, half of them '?'):")
    print(f"{'n':>7} {'SpiffWorkflow re.sub ms':>24} {'cartpath one pass ms':>21}")
    for n in (1_000, 4_000, 16_000):
        cell = "? + " * (n // 4)
        started = time.process_time()
        SPIFF_QUESTION.sub("dmninputexpr", cell)
        spiff = (time.process_time() - started) * 1000
        started = time.process_time()
        cell_expression(cell)
        ours = (time.process_time() - started) * 1000
        print(f"{n:7d} {spiff:24.1f} {ours:21.2f}")
    print("(cells over 4,000 characters are refused at deploy)")


def deploys(counts: list[int]) -> None:
    from cartpath.engine.application import CartPath
    from tests.e2e.test_api_bounded_models import many_processes
    print("\nDeploy of one file defining N processes (SQLite store):")
    print(f"{'N':>5} {'file KiB':>9} {'CPU ms':>9} {'ms/KiB':>7} {'stored KiB':>11}")
    for count in counts:
        content = many_processes(count)
        with tempfile.TemporaryDirectory() as tmp:
            app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{tmp}/s.sqlite3",
                                "CARTPATH_DATA_DIR": tmp})
            started = time.process_time()
            app.deploy({"many.bpmn": content})
            cpu_ms = (time.process_time() - started) * 1000
            stored = sum(len(n.state) for n in app.recorder.select_notifications(start=1, limit=100_000))
            app.close()
        kib = len(content) / 1024
        print(f"{count:5d} {kib:9.0f} {cpu_ms:9.0f} {cpu_ms / kib:7.1f} {stored / 1024:11.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one")
    parser.add_argument("--processes", default="1,10,40,100")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    from cartpath.engine import sandbox
    limits = sandbox.limits()
    print(f"limits: CPU {limits.cpu_ms} ms, memory {limits.memory_mb} MiB, result {limits.result_kb} KiB per step\n")
    scripts()
    dmn_cells()
    deploys([int(n) for n in args.processes.split(",")])


if __name__ == "__main__":
    main()
