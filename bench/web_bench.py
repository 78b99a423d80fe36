"""The web app's worklist with many open tasks: time to first paint in a real headless Chromium.

    .venv/bin/python bench/web_bench.py [--tasks 1000] [--rounds 5]

Starts `cartpath serve` (tests/support/server.py: one worker, the projection runner) on a fresh
SQLite store with ``--tasks`` pathways of the bundled cart_pathway, each with its rcp_eligibility
ready (hematology, FR-01), and opens the web app in Debian's chromium through chromedriver
(tests/support/browser.py). Prints, as medians over ``--rounds`` page loads:

- first contentful paint of the page (navigation start -> the sign-in page's first paint, from the
  browser's paint timing);
- the worklist: the sign-in click's route change -> the first frame painted with every row (the
  page's own `view:worklist` measure: GET /reports/worklists with all tasks, the table built, two
  animation frames), the part of it spent waiting for the API's answer, and the same on a refresh;
- the size of the worklist answer.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.engine.application import BUNDLED_PROCESSES  # noqa: E402
from cartpath.engine.lint import read_paths  # noqa: E402
from tests.support.browser import chromium, write_dev_users  # noqa: E402
from tests.support.server import Server, call, token, wait_for_views  # noqa: E402

MEASURE = "return performance.getEntriesByName(arguments[0]).map((e) => e.duration)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = Server(tmp, workers=1, env={"CARTPATH_DEV_USERS": str(write_dev_users(tmp / "users.json")),
                                             "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                             "SQLITE_DBNAME": str(tmp / "cartpath.sqlite3")})
        server.engine.deploy(read_paths([BUNDLED_PROCESSES]))
        began = time.perf_counter()
        for i in range(args.tasks):
            server.engine.start_pathway(f"PSN-{i:05d}", "FR-01", "DLBCL", "axi-cel")
        print(f"{args.tasks} pathways started in {time.perf_counter() - began:.1f} s", flush=True)
        server.start()
        driver = None
        try:
            wait_for_views(server.engine, timeout=600)
            answer = call(server.port, "GET", "/reports/worklists?limit=10000&lane=hematology",
                          token("hematology"))
            assert answer.status == 200 and len(answer.body["tasks"]) == args.tasks, answer
            size = len(str(answer.body).encode())
            driver = chromium(tmp / "profile")
            driver.set_window_size(1366, 768)
            base = f"http://127.0.0.1:{server.port}/"
            fcp, first, refresh, fetched = [], [], [], []
            for _ in range(args.rounds):
                driver.get("about:blank")
                driver.get(base)
                wait(driver, "return !!document.querySelector('button[data-sub=\"dr-h\"]')")
                fcp.append(driver.execute_script(
                    "return performance.getEntriesByName('first-contentful-paint')[0].startTime"))
                driver.execute_script("document.querySelector('button[data-sub=\"dr-h\"]').click()")
                wait(driver, f"return document.querySelectorAll('#worklist tbody tr').length === {args.tasks} "
                             "&& performance.getEntriesByName('view:worklist').length === 1")
                first.append(driver.execute_script(MEASURE, "view:worklist")[0])
                fetched.append(driver.execute_script(
                    "return performance.getEntriesByType('resource').filter((e) => e.name.includes("
                    "'/reports/worklists')).pop().duration"))
                driver.execute_script("document.getElementById('refresh').click()")
                wait(driver, "return performance.getEntriesByName('view:worklist').length === 2")
                refresh.append(driver.execute_script(MEASURE, "view:worklist")[1])
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, errors
        finally:
            if driver is not None:
                driver.quit()
            server.stop()
            server.kill()
    print(f"worklist with {args.tasks} open tasks ({size / 1024:.0f} KB of JSON), 1366x768, headless chromium, "
          f"median of {args.rounds}:")
    print(f"  first contentful paint of the page:           {statistics.median(fcp):7.0f} ms")
    print(f"  sign-in -> worklist painted with every row:   {statistics.median(first):7.0f} ms "
          f"(min {min(first):.0f}, max {max(first):.0f})")
    print(f"  of which GET /reports/worklists (the answer):  {statistics.median(fetched):7.0f} ms")
    print(f"  refresh -> worklist painted again:            {statistics.median(refresh):7.0f} ms")


def wait(driver, script: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {script}")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
