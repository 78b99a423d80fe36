"""HTTP bench of a running cartpath: a linear 30-user-task process and a 300-iteration loop.

    .venv/bin/python bench/http_bench.py                     # starts `cartpath serve` on a temp SQLite store
    .venv/bin/python bench/http_bench.py --store postgres    # ... on a fresh PostgreSQL schema
    .venv/bin/python bench/http_bench.py --url https://cartpath.example/api/v1 --token "$ADMIN_TOKEN"

Deploys two generated process files (``bench_linear``: 30 user tasks in a row; ``bench_loop``:
one user task taken 300 times through an exclusive gateway) over ``POST /process-definitions``,
then runs ``--clients`` threads, each on its own keep-alive ``http.client`` connection. Every
completion is preceded by a ``GET /pathways/{id}`` (the screen a user reads before acting), and
the completion names the task that read answered. Two timed phases:

1. linear: ``--linear`` pathways (shared among the clients) started untimed, then every task of
   each completed: completions/s, p50/p90/p99 of the completions (and of the reads, and of the
   read + completion round), errors (non-2xx answers and dropped connections);
2. loop: one pathway per client, 300 completions each: the completion latency at task 1, 100 and
   300 (median over the clients, and over a window of 11 steps around each), i.e. whether a
   step gets dearer as a pathway ages.

Bytes per finished instance: the growth of the event store (pages in use of the SQLite file, or
the relation sizes of the PostgreSQL schema without the views) over the linear phase, divided by
its pathways; measured when the bench started the server, or given ``--sqlite-file`` or
``--postgres-schema`` (with POSTGRES_* or CARTPATH_TEST_POSTGRES_*) for a server it did not start.

CPU per completion over the linear phase, when the bench started the server: every process of
``serve`` (``server_cpu_ms_per_completion``, and by process: api, projections, scheduler) and, on
PostgreSQL, the database backends serving its connections (named by ``PGAPPNAME``, found in
``pg_stat_activity``; the database must run on this machine).

``--token``: an ``admin`` token of the deployment (it deploys, starts and completes); the
pathways are started in ``--center``. Prints one JSON document with the figures and the load
average before and after (the machine may be shared: figures are only comparable at low load).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api_bench import cpu_seconds, free_port, postgres_schema, postgres_settings  # noqa: E402

from cartpath.api.commands import THREADS  # noqa: E402

SECRET = "http-bench-secret-" + "h" * 40
LINEAR_TASKS = 30
LOOP_ITERATIONS = 300
PROBES = (1, 100, 300)
LANE = "ward"


# -- the two process files ------------------------------------------------------------------------
def _shape(element: str, x: int) -> str:
    return (f'<bpmndi:BPMNShape id="{element}_di" bpmnElement="{element}">'
            f'<dc:Bounds x="{x}" y="120" width="80" height="60"/></bpmndi:BPMNShape>')


def _edge(flow: str) -> str:
    return (f'<bpmndi:BPMNEdge id="{flow}_di" bpmnElement="{flow}"><di:waypoint x="0" y="150"/>'
            f'<di:waypoint x="10" y="150"/></bpmndi:BPMNEdge>')


def _document(key: str, nodes: list[str], lane_nodes: list[str], flows: list[tuple[str, str, str, str]]) -> bytes:
    """A deployable BPMN file: one process ``key`` in the ``ward`` lane, with its diagram."""
    flow_xml = "".join(f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{dst}">{cond}</bpmn:sequenceFlow>'
                       for fid, src, dst, cond in flows)
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in lane_nodes)
    ids = [n.split('id="', 1)[1].split('"', 1)[0] for n in nodes]
    shapes = "".join(_shape(i, 60 + 100 * n) for n, i in enumerate(ids))
    edges = "".join(_edge(fid) for fid, *_ in flows)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:cartpath="urn:cartpath:bpmn:1.0" '
        f'id="defs_{key}" targetNamespace="urn:cartpath:bench">\n'
        f'<bpmn:collaboration id="collab"><bpmn:participant id="hospital" name="Hospital" processRef="{key}"/>'
        '</bpmn:collaboration>\n'
        f'<bpmn:process id="{key}" isExecutable="true">\n'
        f'<bpmn:laneSet id="lanes"><bpmn:lane id="{LANE}" name="{LANE}">{refs}</bpmn:lane></bpmn:laneSet>\n'
        + "\n".join(nodes) + "\n" + flow_xml + "\n"
        '</bpmn:process><bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="collab">'
        '<bpmndi:BPMNShape id="hospital_di" bpmnElement="hospital" isHorizontal="true">'
        '<dc:Bounds x="0" y="0" width="9000" height="300"/></bpmndi:BPMNShape>'
        f"{shapes}{edges}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>\n"
    ).encode()


FORM = ('<bpmn:extensionElements><cartpath:form><cartpath:field name="value" type="int" required="true" '
        'label="Value"/></cartpath:form></bpmn:extensionElements>')
END = '<bpmn:extensionElements><cartpath:outcome value="follow_up_handover"/></bpmn:extensionElements>'


def linear_bpmn(tasks: int = LINEAR_TASKS) -> bytes:
    names = [f"step_{n:02d}" for n in range(1, tasks + 1)]
    chain = ["start", *names, "end"]
    flows = [(f"f{n}", a, b, "") for n, (a, b) in enumerate(zip(chain, chain[1:], strict=False), start=1)]
    nodes = ['<bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>']
    nodes += [f'<bpmn:userTask id="{name}" name="Step {n}">{FORM}<bpmn:incoming>f{n}</bpmn:incoming>'
              f'<bpmn:outgoing>f{n + 1}</bpmn:outgoing></bpmn:userTask>' for n, name in enumerate(names, start=1)]
    nodes.append(f'<bpmn:endEvent id="end" name="End">{END}<bpmn:incoming>f{tasks + 1}</bpmn:incoming></bpmn:endEvent>')
    return _document("bench_linear", nodes, names, flows)


def loop_bpmn(iterations: int = LOOP_ITERATIONS) -> bytes:
    """One user task taken ``iterations`` times: the gateway loops back while the value sent is below it."""
    nodes = [
        '<bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>',
        f'<bpmn:userTask id="step" name="Step">{FORM}<bpmn:incoming>f1</bpmn:incoming>'
        '<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>',
        '<bpmn:exclusiveGateway id="again" name="Again"><bpmn:incoming>f2</bpmn:incoming>'
        '<bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>',
        f'<bpmn:endEvent id="end" name="End">{END}<bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>',
    ]
    flows = [("f1", "start", "step", ""), ("f2", "step", "again", ""),
             ("f3", "again", "step", f'<bpmn:conditionExpression>step["value"] &lt; {iterations}'
                                     '</bpmn:conditionExpression>'),
             ("f4", "again", "end", f'<bpmn:conditionExpression>step["value"] &gt;= {iterations}'
                                    '</bpmn:conditionExpression>')]
    return _document("bench_loop", nodes, ["step"], flows)


# -- HTTP -----------------------------------------------------------------------------------------
class Client:
    """One keep-alive connection (http.client reopens it when the server closed it)."""

    def __init__(self, base: str, token: str):
        parts = urlsplit(base)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.conn = kind(parts.hostname, parts.port, timeout=60)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.errors: list[str] = []
        self.reconnects = 0

    def call(self, method: str, path: str, body: dict | None = None, raw: bytes | None = None,
             content_type: str = "application/json") -> tuple[int | None, object]:
        headers = dict(self.headers)
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            reused = self.conn.sock is not None
            try:
                self.conn.request(method, self.prefix + path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException) as err:
                self.conn.close()
                # a kept-alive connection the server closed while idle: it read nothing, send again once
                if attempt == 1 and reused and isinstance(err, (http.client.RemoteDisconnected, ConnectionResetError,
                                                                 BrokenPipeError)):
                    self.reconnects += 1
                    continue
                self.errors.append(f"{method} {path}: {type(err).__name__}: {err}")
                return None, None
        if response.status >= 300:
            self.errors.append(f"{method} {path}: {response.status} {payload[:200]!r}")
        try:
            return response.status, json.loads(payload)
        except ValueError:
            return response.status, payload

    def deploy(self, files: dict[str, bytes]) -> dict:
        boundary = uuid.uuid4().hex
        parts = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                         f"Content-Type: application/xml\r\n\r\n".encode() + content + b"\r\n"
                         for name, content in files.items())
        status, answer = self.call("POST", "/process-definitions", raw=parts + f"--{boundary}--\r\n".encode(),
                                   content_type=f"multipart/form-data; boundary={boundary}")
        if status not in (200, 201):
            raise SystemExit(f"deploying the bench processes failed: {status} {answer}")
        return answer  # type: ignore[return-value]


def in_threads(count: int, work) -> list:
    results: list = [None] * count
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as err:  # re-raised after the join
            failures.append(err)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return results


class Timings:
    def __init__(self) -> None:
        self.read: list[float] = []
        self.complete: list[float] = []
        self.round: list[float] = []
        self.errors: list[str] = []


def work_through(client: Client, pathway_id: str, steps: int, timings: Timings) -> list[float]:
    """Read the pathway, complete the task it shows, ``steps`` times; the completions' latencies in order.
    A refused or dropped completion is counted as an error and tried again after a fresh read."""
    per_step: list[float] = []
    attempts = 0
    while len(per_step) < steps:
        attempts += 1
        if attempts > steps * 2 + 10:
            raise RuntimeError(f"pathway {pathway_id}: too many failures: {client.errors[-3:]}")
        t0 = time.perf_counter()
        status, pathway = client.call("GET", f"/pathways/{pathway_id}")
        t1 = time.perf_counter()
        if status != 200 or not isinstance(pathway, dict) or not pathway.get("tasks"):
            continue
        task_id = pathway["tasks"][0]["id"]
        status, _ = client.call("POST", f"/tasks/{task_id}/complete", {"data": {"value": len(per_step) + 1}})
        t2 = time.perf_counter()
        if status != 200:
            continue
        timings.read.append(t1 - t0)
        timings.complete.append(t2 - t1)
        timings.round.append(t2 - t0)
        per_step.append(t2 - t1)
    return per_step


def start_pathways(client: Client, key: str, count: int, center: str, tag: str) -> list[str]:
    ids = []
    for n in range(count):
        ref = f"BENCH-{tag}-{n:05d}"  # also the business key: a start sent again answers the same pathway
        status, body = client.call("POST", "/pathways", {
            "patient_ref": ref, "business_key": ref, "center": center, "indication": "DLBCL",
            "product": "axi-cel", "process_key": key})
        if status not in (200, 201) or not isinstance(body, dict):
            raise SystemExit(f"starting a {key} pathway failed: {status} {body}")
        ids.append(body["id"])
    return ids


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)


def summary(values: list[float]) -> dict:
    return {"p50_ms": pct(values, 0.50), "p90_ms": pct(values, 0.90), "p99_ms": pct(values, 0.99),
            "max_ms": round(max(values) * 1000, 1)}


# -- store size -----------------------------------------------------------------------------------
class StoreSize:
    """Bytes the event store holds: SQLite pages in use, or PostgreSQL relation sizes (views excluded)."""

    def __init__(self, sqlite_file: str | None = None, pg: dict[str, str] | None = None, schema: str | None = None):
        self.sqlite_file, self.pg, self.schema = sqlite_file, pg, schema

    def __call__(self) -> int | None:
        if self.sqlite_file:
            with sqlite3.connect(f"file:{self.sqlite_file}?mode=ro", uri=True) as db:
                used = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
                return used * db.execute("PRAGMA page_size").fetchone()[0]
        if self.pg and self.schema:
            import psycopg
            with psycopg.connect(host=self.pg["POSTGRES_HOST"], port=self.pg["POSTGRES_PORT"] or "5432",
                                 user=self.pg["POSTGRES_USER"], password=self.pg["POSTGRES_PASSWORD"],
                                 dbname=self.pg["POSTGRES_DBNAME"]) as conn:
                row = conn.execute(
                    "SELECT coalesce(sum(pg_total_relation_size(format('%%I.%%I', schemaname, tablename))), 0) "
                    "FROM pg_tables WHERE schemaname = %s AND tablename NOT LIKE 'view\\_%%' "
                    "AND tablename <> 'projection_tracking'", (self.schema,)).fetchone()
                return int(row[0]) if row else None
        return None


# -- the server the bench starts itself -----------------------------------------------------------
class OwnServer:
    def __init__(self, store: str, workers: int, threads: int):
        from cartpath.api.auth import mint_token
        self.directory = tempfile.mkdtemp(prefix="cartpath-http-bench-")
        self.port = free_port()
        self.pg: dict[str, str] = {}
        self.schema: str | None = None
        self.application_name: str | None = None
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_", "CREATE_TABLE"))}
        env |= {"CARTPATH_DATA_DIR": self.directory, "CARTPATH_CLOCK": "system", "CARTPATH_JWT_SECRET": SECRET}
        if store == "postgres":
            self.pg = postgres_settings()
            self.schema = f"http_bench_{os.getpid()}"
            postgres_schema(self.pg, self.schema, "create")
            # libpq names every connection of the server so: its backends' CPU is counted (backends())
            self.application_name = f"cartpath-http-bench-{os.getpid()}"
            env |= {"PERSISTENCE_MODULE": "eventsourcing.postgres", **self.pg, "POSTGRES_SCHEMA": self.schema,
                    "PGAPPNAME": self.application_name}
        self.size = StoreSize(None if store == "postgres" else f"{self.directory}/cartpath.sqlite3",
                              self.pg, self.schema)
        self.log = open(Path(self.directory) / "serve.log", "wb")
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "cartpath"), "serve", "--port", str(self.port),
                                      "--workers", str(workers), "--threads", str(threads)],
                                     env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.token = mint_token(SECRET, "HS256", sub="http-bench", roles=["admin"], centers=["FR-01"],
                                ttl_seconds=86400)
        self._wait_up()

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"cartpath serve exited ({self.proc.returncode}): "
                                 f"{(Path(self.directory) / 'serve.log').read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("cartpath serve did not answer within 120 s")

    def workers(self) -> list[int]:
        """Every process under serve (gunicorn master and workers, scheduler, runner), for their CPU time."""
        found, frontier = [], [self.proc.pid]
        while frontier:
            parent = frontier.pop()
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                            found.append(int(entry.name))
                            frontier.append(int(entry.name))
                    except OSError:
                        continue
        return found

    def backends(self) -> list[int] | None:
        """The PostgreSQL server processes serving this server's connections (None on SQLite); the
        database runs on this machine in the bench's own set-up, so their /proc entries are readable."""
        if not self.application_name:
            return None
        return backend_pids(self.pg, self.application_name)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.schema:
            postgres_schema(self.pg, self.schema, "drop")


def backend_pids(pg: dict[str, str], application_name: str) -> list[int]:
    """The PostgreSQL server processes of the connections named ``application_name`` (``PGAPPNAME``)."""
    import psycopg
    with psycopg.connect(host=pg["POSTGRES_HOST"], port=pg["POSTGRES_PORT"] or "5432", user=pg["POSTGRES_USER"],
                         password=pg["POSTGRES_PASSWORD"], dbname=pg["POSTGRES_DBNAME"]) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                            (application_name,)).fetchall()
    return [int(r[0]) for r in rows]


# -- the run --------------------------------------------------------------------------------------
def by_role(pids: list[int]) -> dict[str, float]:
    """CPU seconds of the server's processes by what they are: the API (gunicorn), the scheduler,
    the projection runner, the supervisor."""
    roles: dict[str, float] = {}
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        role = ("api" if "gunicorn" in command else "scheduler" if "scheduler" in command
                else "projections" if "projections" in command else "other")
        roles[role] = roles.get(role, 0.0) + cpu_seconds([pid])
    return roles


class BackendCpu:
    """CPU seconds of the database's backends serving the server, over a phase: the processes seen at its
    start, and those that connected during it (counted from zero), read again at its end."""

    def __init__(self, backends) -> None:
        self.backends = backends
        self.pids = backends() or []
        self.before = {pid: cpu_seconds([pid]) for pid in self.pids}

    def seconds(self) -> float:
        now = set(self.backends() or []) | set(self.pids)
        return sum(cpu_seconds([pid]) - self.before.get(pid, 0.0) for pid in now)


def run(url: str, token: str, args, size: StoreSize, server_pids, backends=None) -> dict:
    admin = Client(url, token)
    admin.deploy({"bench_linear.bpmn": linear_bpmn(), "bench_loop.bpmn": loop_bpmn()})
    tag = uuid.uuid4().hex[:6].upper()
    clients = [Client(url, token) for _ in range(args.clients)]
    per_client = [args.linear // args.clients + (1 if i < args.linear % args.clients else 0)
                  for i in range(args.clients)]
    figures: dict = {"url": url, "clients": args.clients, "load_average_before": list(os.getloadavg()),
                     "cpus": os.cpu_count()}

    bytes_before = size()
    linear_ids = in_threads(args.clients, lambda i: start_pathways(clients[i], "bench_linear", per_client[i],
                                                                     args.center, f"{tag}-L{i:02d}"))
    timings = Timings()
    cpu = cpu_seconds(server_pids()) if server_pids else None
    cpu_parts = by_role(server_pids()) if server_pids else None
    database_cpu = BackendCpu(backends) if backends is not None and backends() is not None else None
    client_cpu = time.process_time()
    started = time.perf_counter()
    in_threads(args.clients, lambda i: [work_through(clients[i], pid, LINEAR_TASKS, timings)
                                        for pid in linear_ids[i]])
    elapsed = time.perf_counter() - started
    completions = len(timings.complete)
    linear = {"pathways": args.linear, "completions": completions, "seconds": round(elapsed, 2),
              "completions_per_second": round(completions / elapsed, 1),
              "completion": summary(timings.complete), "read": summary(timings.read),
              "read_and_completion": summary(timings.round),
              "client_cpu_ms_per_completion": round((time.process_time() - client_cpu) / completions * 1000, 2)}
    if cpu is not None:
        linear["server_cpu_ms_per_completion"] = round((cpu_seconds(server_pids()) - cpu) / completions * 1000, 2)
        after = by_role(server_pids())
        linear["server_cpu_ms_per_completion_by_process"] = {
            role: round((after[role] - cpu_parts.get(role, 0.0)) / completions * 1000, 2) for role in sorted(after)}
    if database_cpu is not None:
        linear["postgres_backend_cpu_ms_per_completion"] = round(database_cpu.seconds() / completions * 1000, 2)
    statuses = [clients[0].call("GET", f"/pathways/{pid}")[1] for ids in linear_ids for pid in ids]
    linear["ended"] = sum(1 for p in statuses if isinstance(p, dict) and p.get("status") == "ended")
    bytes_after = size()
    if bytes_before is not None and bytes_after is not None:
        linear["bytes_per_finished_instance"] = round((bytes_after - bytes_before) / args.linear)
    else:
        linear["bytes_per_finished_instance"] = "not measured (give --sqlite-file or --postgres-schema)"
    figures["linear_30"] = linear

    loop_ids = in_threads(args.clients, lambda i: start_pathways(clients[i], "bench_loop", 1, args.center,
                                                                   f"{tag}-R{i:02d}"))
    loop_timings = Timings()
    started = time.perf_counter()
    steps = in_threads(args.clients, lambda i: work_through(clients[i], loop_ids[i][0], LOOP_ITERATIONS,
                                                              loop_timings))
    elapsed = time.perf_counter() - started
    loop = {"pathways": args.clients, "completions": len(loop_timings.complete), "seconds": round(elapsed, 2),
            "completions_per_second": round(len(loop_timings.complete) / elapsed, 1),
            "completion": summary(loop_timings.complete)}
    for probe in PROBES:
        at = [s[probe - 1] for s in steps]
        window = [x for s in steps for x in s[max(0, probe - 6):probe + 5]]
        loop[f"task_{probe}_ms"] = round(statistics.median(at) * 1000, 1)
        loop[f"task_{probe}_window_ms"] = round(statistics.median(window) * 1000, 1)
    figures["loop_300"] = loop
    errors = [e for c in [admin, *clients] for e in c.errors]
    figures["errors"] = len(errors)
    figures["reconnects"] = sum(c.reconnects for c in [admin, *clients])  # idle keep-alive connections closed
    if errors:
        figures["first_errors"] = errors[:5]
    figures["load_average_after"] = list(os.getloadavg())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running cartpath's API root, e.g. http://host:8000/api/v1 "
                        "(default: start `cartpath serve` on a fresh store)")
    parser.add_argument("--token", help="with --url: an admin bearer token of that deployment")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="without --url: the store of the server the bench starts")
    parser.add_argument("--workers", type=int, default=2, help="without --url: `cartpath serve --workers`")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="without --url: `cartpath serve --threads` (default: serve's own)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--linear", type=int, default=64, help="linear pathways (30 completions each)")
    parser.add_argument("--center", default="FR-01")
    parser.add_argument("--sqlite-file", help="with --url: the deployment's SQLite file, to measure bytes per instance")
    parser.add_argument("--postgres-schema", help="with --url: the deployment's schema, to measure bytes per instance")
    args = parser.parse_args()
    if args.clients < 1 or args.linear < args.clients:
        raise SystemExit("--clients must be >= 1 and --linear at least --clients")
    if args.url:
        if not args.token:
            raise SystemExit("--url needs --token (an admin token of that deployment)")
        size = StoreSize(args.sqlite_file, postgres_settings() if args.postgres_schema else None,
                         args.postgres_schema)
        figures = run(args.url, args.token, args, size, None)
    else:
        server = OwnServer(args.store, args.workers, args.threads)
        try:
            figures = {"store": args.store, "workers": args.workers, "threads": args.threads,
                       **run(server.url, server.token, args, server.size, server.workers, server.backends)}
        finally:
            server.stop()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
