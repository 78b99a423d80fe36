"""Hostile-input benchmark: what refusing (or accepting) a worst-case request body costs the API.

    .venv/bin/python bench/hostile_input_bench.py [--megabytes 4]

Through the Flask app on a fresh SQLite store: a 16 MB body announced without a token (and with a
valid token, over the size limit): wall time and bytes of the body the server read. Then the JSON
shape check (api/json_body.py) on bodies at the size limit, beside plain ``json.loads`` of the same
bytes: nested 2,000,000 deep, a million integers, a million empty arrays, a flat object of long
strings full of escapes.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.api import create_app  # noqa: E402
from cartpath.api.auth import mint_token  # noqa: E402
from cartpath.api.json_body import check_json_body  # noqa: E402
from cartpath.engine.application import CartPath  # noqa: E402
from tests.support.bodies import CountingBody  # noqa: E402

SECRET = "bench-secret-" + "b" * 40


def ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=4)
    size = int(parser.parse_args().megabytes * 1024 * 1024)
    with tempfile.TemporaryDirectory() as directory:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/c.sqlite3",
               "CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "manual"}
        app = create_app({"DEPLOY_BUNDLED": False, "CARTPATH_JWT_SECRET": SECRET}, cartpath=CartPath(env=env))
        client = app.test_client()
        token = mint_token(SECRET, "HS256", sub="b", roles=["coordination"], centers=["FR-01"])
        for label, headers in (("no token", {}), ("valid token, over the limit", {"Authorization": f"Bearer {token}"})):
            body = CountingBody(16 * 1024 * 1024)
            start = time.perf_counter()
            r = client.post("/api/v1/pathways", input_stream=body, content_length=body.size,
                            content_type="application/json", headers=headers)
            print(f"16 MB body, {label}: {r.status_code} in {ms(start):.1f} ms, body bytes read: {body.read_bytes}")
    half = size // 2
    bodies = {
        f"nested {half:,} deep": b"[" * half + b"]" * half,
        "a million integers": b"[" + b",".join([b"1"] * min(1_000_000, half)) + b"]",
        "a million empty arrays": b"[" + b",".join([b"[]"] * min(1_000_000, size // 3)) + b"]",
        "flat object, escaped strings": json.dumps({f"k{i}": "x" * 30 + '"[{\\' for i in range(size // 48)}).encode(),
    }
    for label, raw in bodies.items():
        start = time.perf_counter()
        try:
            json.loads(raw)
            plain = f"{ms(start):.0f} ms"
        except RecursionError:
            plain = f"RecursionError after {ms(start):.0f} ms"
        start = time.perf_counter()
        try:
            check_json_body(raw)
            verdict = "accepted"
        except Exception as err:  # the refusal is the figure
            verdict = f"{getattr(err, 'code', '?')} {type(err).__name__}"
        print(f"{label} ({len(raw) / 1e6:.1f} MB): shape check {ms(start):.0f} ms ({verdict}); json.loads {plain}")


if __name__ == "__main__":
    main()
