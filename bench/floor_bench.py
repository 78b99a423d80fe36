"""The floor under bench/engine_bench.py: what the two libraries alone cost for one command.

    .venv/bin/python bench/engine_bench.py           # cartpath: load + engine step + save
    .venv/bin/python bench/floor_bench.py            # the same work done by the libraries alone

A cartpath command (a task completion or a timer firing on the engine bench's looping process,
``tests/fixtures/loop_pathway.bpmn``) is one SpiffWorkflow step and one eventsourcing save of
the events that record it, on a SQLite file in WAL mode with synchronous=FULL (every
acknowledged command survives a power cut). This bench times those two parts with nothing of
cartpath's around them, on the same machine, so the engine bench's figure can be read against
what no code of ours can go below:

1. SpiffWorkflow alone: the loop process parsed by SpiffWorkflow's own ``BpmnParser`` and run
   with its default ``PythonScriptEngine`` (plain ``eval``: no sandbox, no budget), the engine
   kept in memory between commands (no load, no serialisation); a user-task completion
   (``task.run()`` + ``do_engine_steps()``: script, gateway, timer armed) and a timer firing
   (the clock moved a day on, ``refresh_waiting_tasks()`` + ``do_engine_steps()``).
2. eventsourcing alone: a plain ``Aggregate`` kept in memory between commands, ``k`` small
   events triggered on it (five fields, about the size of cartpath's) and ``Application.save``
   on a SQLite file, default transcoder, no compression, no hash chain: k = 1, 2 (the fewest
   any design that records a command's input and its outcome can save) and 4.5 (what a cartpath
   command saves today on this process: 5 for a completion, 4 for a firing). And, for
   reference with the figure in ``shared/LIBRARIES.md``, a save preceded by loading the
   aggregate from the store.

Prints each part per command (wall ms, and this process's CPU ms), then the floors: SpiffWorkflow
step + save of k events, as commands/s, against the engine target of 1,000 commands/s.
Alternating rounds (``--rounds``) and the median, because the machine's speed moves between runs.

    .venv/bin/python bench/floor_bench.py --http [--store postgres]

The floor under bench/http_bench.py's linear phase: ``bench/floor_app.py`` (Flask and eventsourcing
alone: no token, schema, engine, projections, chain or compression; 3 events saved a completion,
as cartpath records on the linear process) served as cartpath serves (gunicorn, 2 workers, cartpath's
worker class, keep-alive), driven by http_bench's own clients: 16 of them, each reading a case
before completing its next task, 64 cases x 30 completions. Prints completions/s, p50/p90/p99 of
the completions and reads, and the server's CPU ms per completion, against issue 16's latency
target (p99 <= 50 ms at >= 300 completions/s).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LOOP = ROOT / "tests" / "fixtures" / "loop_pathway.bpmn"
TARGET = 1000  # commands/s: issue 16's engine target
HTTP_RATE, HTTP_P99_MS = 300, 50  # issue 16's latency target


# -- 1. SpiffWorkflow alone ------------------------------------------------------------------------

class _Clock(datetime):
    """SpiffWorkflow's timers read ``datetime.now``: this one is moved by the bench, a day a round."""

    moment = datetime(2026, 1, 5, 8, tzinfo=UTC)

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return cls.moment if tz is not None else cls.moment.replace(tzinfo=None)


def spiff_steps(pathways: int, rounds: int) -> tuple[float, float, float, float]:
    """(wall ms, CPU ms) per completion, then per firing: ``pathways`` workflows, ``rounds`` loops each."""
    parser = BpmnParser()
    parser.add_bpmn_file(str(LOOP))
    spec = parser.get_spec("loop_pathway")
    spiff_timer.datetime = _Clock  # type: ignore[misc]  # the module's own name for the class
    try:
        workflows = []
        for _ in range(pathways):
            wf = BpmnWorkflow(spec)
            wf.do_engine_steps()
            workflows.append(wf)
        wall_c = cpu_c = wall_f = cpu_f = 0.0
        for day in range(1, rounds + 1):
            t, c = time.perf_counter(), time.process_time()
            for wf in workflows:
                task = next(iter(wf.get_tasks(state=TaskState.READY, manual=True)))
                task.data["assess"] = {"value": day}
                task.run()
                wf.do_engine_steps()
            wall_c += time.perf_counter() - t
            cpu_c += time.process_time() - c
            _Clock.moment = _Clock.moment + timedelta(days=1, hours=1)
            t, c = time.perf_counter(), time.process_time()
            for wf in workflows:
                wf.refresh_waiting_tasks()
                wf.do_engine_steps()
            wall_f += time.perf_counter() - t
            cpu_f += time.process_time() - c
        for wf in workflows:  # every firing made the user task ready again: the step did run
            if not wf.get_tasks(state=TaskState.READY, manual=True):
                raise SystemExit("floor_bench: a timer firing did not make the user task ready again")
    finally:
        spiff_timer.datetime = datetime  # type: ignore[misc]
    n = pathways * rounds
    return wall_c * 1000 / n, cpu_c * 1000 / n, wall_f * 1000 / n, cpu_f * 1000 / n


# -- 2. eventsourcing alone ------------------------------------------------------------------------

class Case(Aggregate):
    """A case of the floor: small events of about the size of cartpath's (bench/floor_app.py serves it too)."""

    @event("Opened")
    def __init__(self, name: str) -> None:
        self.name = name
        self.done = 0

    @event("Stepped")
    def step(self, task_id: str, node_id: str, kind: str, flows: list[str], at: datetime) -> None:
        pass

    @event("TaskDone")
    def task_done(self, task_id: str, data: dict[str, Any], at: datetime) -> None:
        self.done += 1


def library_saves(directory: str, events: float, commands: int, load: bool) -> tuple[float, float]:
    """(wall ms, CPU ms) per save of ``events`` events (4.5: 5 and 4 in turn) on a fresh SQLite file."""
    path = os.path.join(directory, f"floor-{events}-{load}.sqlite3")
    app: Application[Any] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
    cases = [Case(name=f"case-{i}") for i in range(100)]
    app.save(*cases)
    at = datetime(2026, 1, 5, 8, tzinfo=UTC)
    t, c = time.perf_counter(), time.process_time()
    for i in range(commands):
        case = cases[i % len(cases)]
        if load:
            case = app.repository.get(case.id)
            cases[i % len(cases)] = case
        k = int(events) + (i % 2 if events != int(events) else 0)
        for j in range(k):
            case.step(task_id=f"{i:08d}-{j}", node_id="assess", kind="userTask", flows=["f2"], at=at)
        app.save(case)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    app.close()
    return wall * 1000 / commands, cpu * 1000 / commands


# -- 3. the HTTP floor ------------------------------------------------------------------------------

def http_floor(store: str, workers: int, clients: int, cases: int, events: int) -> int:
    import subprocess

    from api_bench import cpu_seconds, free_port, postgres_schema, postgres_settings, wait_up, workers_of
    from http_bench import (
        LINEAR_TASKS,
        BackendCpu,
        Client,
        Timings,
        backend_pids,
        in_threads,
        start_pathways,
        summary,
        work_through,
    )

    from cartpath.api.commands import KEEP_ALIVE_SECONDS, WORKER_CLASS

    directory = tempfile.mkdtemp(prefix="cartpath-floor-http-")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_", "CREATE_TABLE"))}
    pg: dict[str, str] = {}
    schema = None
    if store == "postgres":
        pg = postgres_settings()
        schema = f"floor_bench_{os.getpid()}"
        postgres_schema(pg, schema, "create")
        env |= {"PERSISTENCE_MODULE": "eventsourcing.postgres", **pg, "POSTGRES_SCHEMA": schema}
        application_name = f"cartpath-floor-bench-{os.getpid()}"  # libpq names the workers' connections so
    else:
        env |= {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{directory}/floor.sqlite3"}
    # the tables made once, before the workers start (as `cartpath serve` does)
    Application(env={k: v for k, v in env.items() if k.startswith(("PERSISTENCE_", "SQLITE_", "POSTGRES_"))}).close()
    env |= {"CREATE_TABLE": "false", "FLOOR_EVENTS": str(events)}
    if schema:
        env["PGAPPNAME"] = application_name
    port = free_port()
    log = open(Path(directory) / "gunicorn.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--chdir", str(ROOT / "bench"),
                             "--workers", str(workers), "--worker-class", WORKER_CLASS, "--threads", "1",
                             "--keep-alive", str(KEEP_ALIVE_SECONDS), "--bind", f"127.0.0.1:{port}",
                             "floor_app:app"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(port, proc)
        url = f"http://127.0.0.1:{port}/api/v1"
        pool = [Client(url, "floor") for _ in range(clients)]
        per_client = [cases // clients + (1 if i < cases % clients else 0) for i in range(clients)]
        ids = in_threads(clients, lambda i: start_pathways(pool[i], "floor", per_client[i], "FR-01", f"F{i:02d}"))
        timings = Timings()
        load = os.getloadavg()
        cpu = cpu_seconds([proc.pid, *workers_of(proc.pid)])
        database = BackendCpu(lambda: backend_pids(pg, application_name)) if schema else None
        started = time.perf_counter()
        in_threads(clients, lambda i: [work_through(pool[i], pid, LINEAR_TASKS, timings) for pid in ids[i]])
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds([proc.pid, *workers_of(proc.pid)]) - cpu
        database_cpu = database.seconds() if database is not None else None
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
        if schema:
            postgres_schema(pg, schema, "drop")
    n = len(timings.complete)
    errors = sum(len(c.errors) for c in pool)
    rate, complete, read = n / elapsed, summary(timings.complete), summary(timings.read)
    print(f"HTTP floor ({store}; Flask + eventsourcing alone, {events} events a completion; {workers} workers, "
          f"{clients} clients reading before each completion; load average {', '.join(f'{x:.2f}' for x in load)} "
          f"at the start)")
    print(f"completions: {n} in {elapsed:.2f}s = {rate:,.1f}/s, errors {errors}")
    print(f"completion p50 {complete['p50_ms']} ms, p90 {complete['p90_ms']}, p99 {complete['p99_ms']}; "
          f"read p50 {read['p50_ms']} ms, p99 {read['p99_ms']}")
    print(f"server CPU ms per completion (read included): {server_cpu * 1000 / n:.2f}"
          + (f"; PostgreSQL backends {database_cpu * 1000 / n:.2f}" if database_cpu is not None else ""))
    met = rate >= HTTP_RATE and complete["p99_ms"] <= HTTP_P99_MS
    print(f"the floor {'meets' if met else 'misses'} the target (>= {HTTP_RATE}/s at p99 <= {HTTP_P99_MS} ms)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http", action="store_true", help="the HTTP floor instead (bench/floor_app.py)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite", help="with --http")
    parser.add_argument("--workers", type=int, default=2, help="with --http: gunicorn workers")
    parser.add_argument("--clients", type=int, default=16, help="with --http")
    parser.add_argument("--cases", type=int, default=64, help="with --http: cases of 30 completions")
    parser.add_argument("--events", type=int, default=3, help="with --http: events saved a completion")
    parser.add_argument("--pathways", type=int, default=300, help="SpiffWorkflow engines kept in memory")
    parser.add_argument("--loops", type=int, default=5, help="completions (and firings) per engine")
    parser.add_argument("--saves", type=int, default=2000, help="saves per event count")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is printed")
    args = parser.parse_args(argv)
    if args.http:
        if min(args.workers, args.clients, args.cases, args.events) < 1:
            print("floor_bench: --workers, --clients, --cases and --events must be at least 1", file=sys.stderr)
            return 2
        return http_floor(args.store, args.workers, args.clients, args.cases, args.events)
    if min(args.pathways, args.loops, args.saves, args.rounds) < 1:
        print("floor_bench: --pathways, --loops, --saves and --rounds must be at least 1", file=sys.stderr)
        return 2
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"SpiffWorkflow {args.pathways} engines x {args.loops} loops, {args.saves} saves a case, "
          f"median of {args.rounds} rounds")
    cases = [("save, 1 event", 1, False), ("save, 2 events", 2, False), ("save, 4.5 events", 4.5, False),
             ("load + save, 1 event", 1, True)]
    spiff: list[tuple[float, float, float, float]] = []
    saves: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in cases}
    with tempfile.TemporaryDirectory(prefix="cartpath-floor-") as directory:
        for _ in range(args.rounds):
            spiff.append(spiff_steps(args.pathways, args.loops))
            for name, k, load in cases:
                saves[name].append(library_saves(directory, k, args.saves, load))

    def med(values: list[float]) -> float:
        return statistics.median(values)

    step = [med([r[i] for r in spiff]) for i in range(4)]
    step_wall, step_cpu = (step[0] + step[2]) / 2, (step[1] + step[3]) / 2
    print(f"SpiffWorkflow step alone: completion {step[0]:.3f} ms ({step[1]:.3f} CPU), "
          f"timer firing {step[2]:.3f} ms ({step[3]:.3f} CPU); mean {step_wall:.3f} ms ({step_cpu:.3f} CPU)")
    floors = {}
    for name, _, _ in cases:
        wall, cpu = med([w for w, _ in saves[name]]), med([c for _, c in saves[name]])
        floors[name] = (wall, cpu)
        print(f"eventsourcing alone, {name}: {wall:.3f} ms ({cpu:.3f} CPU) = {1000 / wall:,.0f}/s")
    for name in ("save, 2 events", "save, 4.5 events"):
        wall, cpu = floors[name]
        total = step_wall + wall
        verdict = "above" if 1000 / total >= TARGET else "below"
        print(f"floor, SpiffWorkflow step + {name}: {total:.3f} ms ({step_cpu + cpu:.3f} CPU) a command = "
              f"{1000 / total:,.0f} commands/s, {verdict} the target of {TARGET:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
