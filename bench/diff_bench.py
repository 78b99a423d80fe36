"""Definition diff benchmark: what a diff of the bundled pathway costs.

    .venv/bin/python bench/diff_bench.py [--rounds 20]

Prints the median time of ``diff_versions`` on two parsed versions (what the API does when
both are in the model cache) and on two file sets (parse included: a cold cache, or the
CLI against files not deployed yet), for the bundled pathway against a variant with a
new CRS threshold, an added field and a longer timer.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.engine.definition_diff import diff_versions  # noqa: E402
from cartpath.engine.definitions import parse_model  # noqa: E402
from tests.support import variants as v  # noqa: E402


def median_ms(work, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    old_files = v.bundled()
    new_files = v.timer_expression(v.field_added(v.dmn_cell(old_files, "crs_grade_rule_3_in_1", ">= 38.5"),
                                                 "infusion", "infusion_site", "string", required=False),
                                   "timer_slot_5d", '"P7D"')
    old, new = parse_model("cart_pathway", 1, old_files), parse_model("cart_pathway", 2, new_files)
    result = diff_versions(old, new)
    print(f"bundled pathway: {len(old.spec.task_specs)} top-level task specs, {len(result['changes'])} changes found")
    parsed = median_ms(lambda: diff_versions(old, new), rounds)
    print(f"diff of two parsed versions: {parsed:.1f} ms (median of {rounds})")
    cold = median_ms(lambda: diff_versions(old_files, new_files), rounds)
    print(f"diff of two file sets (both parsed): {cold:.1f} ms")
    print(f"identical versions: {median_ms(lambda: diff_versions(old, old), rounds):.1f} ms")


if __name__ == "__main__":
    main()
