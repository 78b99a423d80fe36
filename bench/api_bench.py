"""HTTP benchmark: task completions through gunicorn on a SQLite file store or PostgreSQL.

    .venv/bin/python bench/api_bench.py [--pathways 300] [--clients 16] [--workers 2]
    .venv/bin/python bench/api_bench.py --store sqlite,postgres --workers 2,4   # side by side

PostgreSQL: the server named by POSTGRES_HOST/PORT/USER/PASSWORD/DBNAME, or else by
CARTPATH_TEST_POSTGRES_* (`eval "$(bash .ci/run --server-only)"`); each run gets a fresh
schema (dropped afterwards), its tables made once before gunicorn starts (CREATE_TABLE=false).

Starts gunicorn (``--workers`` sync workers on 127.0.0.1) serving ``api.wsgi`` on a fresh
store with the bundled processes, pre-creates pathways over HTTP, then times only task
completions: ``--clients`` threads, each working through its own pathways with
http.client, completing the ready task named in the previous answer (rcp_eligibility,
patient_consent, place_order on cart_pathway). Prints throughput and p50/p90/p99 latency.
Target on 2 cores: >= 300 completions/s, p99 <= 50 ms.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cartpath.api.auth import mint_token  # noqa: E402

SECRET = "bench-secret-" + "b" * 40
DATA = {
    "rcp_eligibility": {"eligible": True, "rcp_date": "2026-01-12"},
    "patient_consent": {"consent_signed": True},
    "place_order": {"order_id": None, "manufacturer": "ACME", "requested_apheresis_date": "2026-01-22"},
}
LANE_OF = {"rcp_eligibility": "hematology", "patient_consent": "coordination", "place_order": "pharmacy"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                self.conn.request(method, f"/api/v1{path}", body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, json.loads(payload)
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def wait_up(port: int, server: subprocess.Popen) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not come up")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (Linux /proc), to tell cost from queueing on a busy machine."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def workers_of(master: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run_parallel(clients: int, work) -> list:
    results: list = [None] * clients
    errors: list = []

    def runner(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as err:  # reported after the join
            errors.append(err)
    threads = [threading.Thread(target=runner, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def postgres_settings() -> dict[str, str]:
    names = ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")
    if os.environ.get("POSTGRES_HOST"):
        return {f"POSTGRES_{n}": os.environ.get(f"POSTGRES_{n}", "") for n in names}
    if os.environ.get("CARTPATH_TEST_POSTGRES_HOST"):
        return {f"POSTGRES_{n}": os.environ.get(f"CARTPATH_TEST_POSTGRES_{n}", "") for n in names}
    raise SystemExit("--store postgres: set POSTGRES_HOST... or CARTPATH_TEST_POSTGRES_HOST... "
                     "(eval \"$(bash .ci/run --server-only)\")")


def postgres_schema(settings: dict[str, str], schema: str, action: str) -> None:
    import psycopg
    with psycopg.connect(host=settings["POSTGRES_HOST"], port=settings["POSTGRES_PORT"] or "5432",
                         user=settings["POSTGRES_USER"], password=settings["POSTGRES_PASSWORD"],
                         dbname=settings["POSTGRES_DBNAME"], autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}" if action == "create" else f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pathways", type=int, default=320, help="pathways to pre-create (3 completions each)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", default="2", help="gunicorn workers; a comma-separated list runs each")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (>1: gthread workers)")
    parser.add_argument("--store", default="sqlite", help="sqlite, postgres, or both comma-separated")
    args = parser.parse_args()
    stores = [s.strip() for s in args.store.split(",") if s.strip()]
    if not stores or set(stores) - {"sqlite", "postgres"}:
        raise SystemExit("--store takes sqlite, postgres or sqlite,postgres")
    pg = postgres_settings() if "postgres" in stores else {}
    saved = dict(os.environ)
    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        for store in stores:
            os.environ.clear()
            os.environ.update(saved)
            rows.append(run(args, store, workers, pg))
            print(json.dumps(rows[-1], indent=2))
    if len(rows) > 1:
        print(f"\n{'store':<10} {'workers':>7} {'completions/s':>14} {'p50 ms':>8} {'p99 ms':>8} {'server CPU ms':>14}")
        for r in rows:
            print(f"{r['store']:<10} {r['workers']:>7} {r['completions_per_second']:>14} {r['p50_ms']:>8} "
                  f"{r['p99_ms']:>8} {r['server_cpu_ms_per_completion']:>14}")


def run(args, store: str, count: int, pg: dict[str, str]) -> dict:
    from cartpath.engine.config import open_app
    from cartpath.projections.tables import create_tables
    directory = tempfile.mkdtemp(prefix="cartpath-api-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTPATH_", "PERSISTENCE_",
                                                                    "SQLITE_", "POSTGRES_"))}
    env |= {"CARTPATH_DATA_DIR": directory, "CARTPATH_CLOCK": "system", "CARTPATH_JWT_SECRET": SECRET}
    schema = f"bench_{os.getpid()}_{count}"
    if store == "postgres":
        postgres_schema(pg, schema, "create")
        env |= {"PERSISTENCE_MODULE": "eventsourcing.postgres", **pg, "POSTGRES_SCHEMA": schema,
                "POSTGRES_ENABLE_DB_FUNCTIONS": "no"}
    os.environ.update(env)
    create_tables()
    env["CREATE_TABLE"] = os.environ["CREATE_TABLE"] = "false"
    where = f"PostgreSQL schema {schema}" if store == "postgres" else f"{directory}/cartpath.sqlite3"
    print(f"store: {where}, {count} workers; deploying the bundled processes", file=sys.stderr)
    open_app(deploy_bundled=True).close()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(count), "--bind",
                               f"127.0.0.1:{port}", "--no-control-socket", "--log-level", "warning",
                               *(["--worker-class", "gthread", "--threads", str(args.threads)]
                                 if args.threads > 1 else []),
                               "cartpath.api.wsgi:application"], env=env, cwd=ROOT)
    try:
        wait_up(port, server)
        tokens = {lane: mint_token(SECRET, "HS256", sub=f"bench-{lane}", roles=[lane], centers=["FR-01"])
                  for lane in set(LANE_OF.values()) | {"coordination"}}
        per_client = max(1, args.pathways // args.clients)

        def create(i: int) -> list[str]:
            client, first = Client(port), []
            for n in range(per_client):
                status, body = client.call("POST", "/pathways", tokens["hematology"], {
                    "patient_ref": f"B-{i:02d}-{n:05d}", "center": "FR-01", "indication": "DLBCL",
                    "product": "axi-cel"})
                assert status == 201, body
                first.append(body["tasks"][0]["id"])
            return first
        started = time.perf_counter()
        firsts = run_parallel(args.clients, create)
        print(f"pre-created {sum(map(len, firsts))} pathways in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)

        def complete(i: int) -> list[float]:
            client, latencies = Client(port), []
            for n, task_id in enumerate(firsts[i]):
                for name in ("rcp_eligibility", "patient_consent", "place_order"):
                    data = dict(DATA[name])
                    if name == "place_order":
                        data["order_id"] = f"ORD-{i:02d}-{n:05d}"
                    t0 = time.perf_counter()
                    status, body = client.call("POST", f"/tasks/{task_id}/complete", tokens[LANE_OF[name]],
                                               {"data": data})
                    latencies.append(time.perf_counter() - t0)
                    assert status == 200, body
                    task_id = body["tasks"][0]["id"] if body["tasks"] else None
            return latencies
        workers = workers_of(server.pid)
        server_cpu, client_cpu = cpu_seconds(workers), time.process_time()
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        latencies = sorted(x for part in run_parallel(args.clients, complete) for x in part)
        elapsed = time.perf_counter() - started
        server_cpu, client_cpu = cpu_seconds(workers) - server_cpu, time.process_time() - client_cpu
    finally:
        server.terminate()
        server.wait(timeout=30)
        if store == "postgres":
            postgres_schema(pg, schema, "drop")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    return {
        "store": store, "completions": len(latencies), "clients": args.clients, "workers": count,
        "threads": args.threads,
        "seconds": round(elapsed, 2),
        "completions_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(0.50), 1), "p90_ms": round(pct(0.90), 1), "p99_ms": round(pct(0.99), 1),
        "max_ms": round(latencies[-1] * 1000, 1), "mean_ms": round(statistics.mean(latencies) * 1000, 1),
        "server_cpu_ms_per_completion": round(server_cpu / len(latencies) * 1000, 2),
        "client_cpu_ms_per_completion": round(client_cpu / len(latencies) * 1000, 2),
        "load_average_before": round(load_before, 2), "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
