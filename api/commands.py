"""The HTTP side's commands of the ``cartpath`` CLI: serve, scheduler, token."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from functools import partial

import click

from cartpath.engine.console import create_data_dir, refusals

log = logging.getLogger("cartpath.serve")
# gunicorn's gthread worker: unlike the sync worker it keeps a client's connection open between
# requests (keep-alive), where the sync worker closed each one after its answer (a shutdown waiting
# for the client, and a new TCP connection for the next request: ~10% of a worker's time under the
# HTTP bench).
WORKER_CLASS = "cartpath.api.server_errors.ProblemThreadWorker"
KEEP_ALIVE_SECONDS = 5
# One request at a time per worker unless --threads says more. Two threads let one request compute
# while another waits for its commit's fsync, and a slow request (a report, a PDF) no longer holds
# up the others on its worker; under the HTTP bench they gave no more completions/s than one on
# this 2-core machine (the GIL and the write lock are shared), so the default stays one (README,
# "Performance"). With more than one, the SQLite saves' turns (engine/writer_turns.py) matter most.
THREADS = 1


def _cli(*args: str) -> list[str]:
    """A `cartpath ...` child process, with the same interpreter as this one."""
    return [sys.executable, "-c", "from cartpath.cli import main; main()", *args]


def _create_tables_once() -> None:
    """Processes creating the same tables at once collide on PostgreSQL's catalog (CREATE TYPE has
    no IF NOT EXISTS), so the tables are made here, before any child starts, and the children
    (gunicorn workers, scheduler, projection runner) inherit CREATE_TABLE=false. An operator who
    set CREATE_TABLE=false (tables made by `cartpath db init` under other rights) is taken at
    their word."""
    from eventsourcing.utils import strtobool

    from cartpath.projections.tables import create_tables
    if strtobool(os.environ.get("CREATE_TABLE") or "yes"):
        created = create_tables()
        views = created["projections"].get("tables") or created["projections"].get("skipped")
        log.info("%s tables ready: %s; views: %s", created["store"], ", ".join(created["tables"]), views)
    os.environ["CREATE_TABLE"] = "false"


def _deploy_bundled_once() -> None:
    from cartpath.engine.application import BUNDLED_PROCESSES
    from cartpath.engine.config import open_app
    from cartpath.engine.lint import read_paths
    if not BUNDLED_PROCESSES.is_dir() or not read_paths([BUNDLED_PROCESSES]):
        log.warning("no bundled process files in %s: nothing deployed", BUNDLED_PROCESSES)
        return
    for result in open_app(writes=True).deploy_bundled():
        log.info("process %s version %s %s", result["key"], result["version"],
                 "deployed" if result["created"] else "already deployed")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers")
@click.option("--threads", default=THREADS, show_default=True, type=click.IntRange(1, 64),
              help="threads per worker (gunicorn's gthread workers, keep-alive connections)")
@refusals
def serve_cmd(host: str, port: int, workers: int, threads: int) -> None:
    """Run the API (gunicorn), the timer scheduler and the projection runner; stop them all together."""
    from .auth import auth_settings
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    create_data_dir()
    auth_settings(os.environ)  # creates the local JWT secret before any worker races for it
    _create_tables_once()      # once here: every child starts with CREATE_TABLE=false
    # eventsourcing tries a statement 10 times, each waiting this long for a pooled connection: with
    # its default (30 s) a request during a database restart outlives gunicorn's 30 s worker timeout
    # and the client sees the connection drop; with 2 s it rides out a short restart or answers 503.
    os.environ.setdefault("POSTGRES_CONNECT_TIMEOUT", "2")
    _deploy_bundled_once()     # once here: workers start with DEPLOY_BUNDLED=False
    children = {
        "api": [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"{host}:{port}",
                "--graceful-timeout", "10", *_no_control_socket(),
                # gunicorn's own refusals (414, 431, 400) as problem+json too (api/server_errors.py)
                "--worker-class", WORKER_CLASS, "--threads", str(threads), "--keep-alive", str(KEEP_ALIVE_SECONDS),
                "cartpath.api.wsgi:application"],
        "scheduler": _cli("scheduler"),
        "projections": _cli("projections", "run"),
    }
    # The runner stops when it loses its lock or the store (a database restart); it resumes where its
    # last batch committed, so starting it again is safe, and the API need not go down with it.
    sys.exit(supervise(children, restartable={"projections"}))


def _no_control_socket() -> list[str]:
    """gunicorn 27 opens a control socket at one fixed path per user: several servers on one
    machine (tests, benchmarks, sites) would fight over it, and `serve` does not use it."""
    from gunicorn.config import KNOWN_SETTINGS
    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


def _die_with_parent(parent: int | None = None) -> None:
    """Linux: a child gets SIGTERM if the supervisor is killed outright (SIGKILL cannot be forwarded),
    so no orphaned server keeps the port and the store."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:
        # The supervisor died between fork and prctl: no signal will ever come, so go now
        # (an orphaned projection runner would otherwise hold the store's role for good).
        os._exit(1)


RESTART_PAUSES = (1.0, 30.0)  # first and longest pause before a restartable child is started again
RESTART_SETTLED = 60.0        # a child that ran this long before exiting starts again after the first pause


def supervise(commands: dict[str, list[str]], restartable: frozenset[str] | set[str] = frozenset()) -> int:
    """Start every child; forward SIGTERM/SIGINT; when one exits, stop the others and exit with its status.
    A ``restartable`` child that exits is started again instead, after a pause that doubles while it
    keeps failing (up to 30 s)."""
    procs = {name: subprocess.Popen(cmd, preexec_fn=partial(_die_with_parent, os.getpid()))
             for name, cmd in commands.items()}
    log.info("started %s", ", ".join(f"{name} (pid {p.pid})" for name, p in procs.items()))
    stopping = []
    started = {name: time.monotonic() for name in procs}
    pending: dict[str, float] = {}            # restartable child -> when to start it again
    pauses = dict.fromkeys(restartable, 0.0)  # its current pause

    def forward(signum, _frame):
        stopping.append(signum)
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signum)
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            for name, p in procs.items():
                code = p.poll()
                if code is not None and name in restartable and not stopping:
                    _restart_later(name, code, started, pending, pauses)
                    if time.monotonic() >= pending[name]:
                        del pending[name]
                        procs[name] = subprocess.Popen(commands[name],
                                                       preexec_fn=partial(_die_with_parent, os.getpid()))
                        started[name] = time.monotonic()
                        log.info("%s started again (pid %s)", name, procs[name].pid)
                    continue
                if code is not None:
                    if not stopping:
                        log.error("%s exited with status %s: stopping the others", name, code)
                    _stop(procs)
                    return code if not stopping else 0
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _restart_later(name: str, code: int, started: dict[str, float], pending: dict[str, float],
                   pauses: dict[str, float]) -> None:
    if name in pending:
        return
    ran = time.monotonic() - started[name]
    pauses[name] = RESTART_PAUSES[0] if ran >= RESTART_SETTLED or not pauses[name] \
        else min(pauses[name] * 2, RESTART_PAUSES[1])
    pending[name] = time.monotonic() + pauses[name]
    log.warning("%s exited with status %s after %.0f s: starting it again in %.0f s", name, code, ran, pauses[name])


def _stop(procs: dict[str, subprocess.Popen], grace: float = 15.0) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs.values():
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@click.command("scheduler")
@click.option("--tick", type=float, default=None, help="seconds between rounds (default CARTPATH_TICK_SECONDS or 5)")
@refusals
def scheduler_cmd(tick: float | None) -> None:
    """Fire due timers on the system clock, forever. One per store: a second one waits as a
    standby. On a manual clock it fires nothing: time moves by POST /timers/fire (or `cartpath tick`)."""
    from cartpath.engine.config import open_app
    from cartpath.engine.timers import run_scheduler
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    interval = tick if tick is not None else float(os.environ.get("CARTPATH_TICK_SECONDS") or 5)
    if interval <= 0:
        raise ValueError("the tick must be a positive number of seconds")
    stop: list[bool] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    run_scheduler(open_app(probe=False), interval, stop, logging.getLogger("cartpath.scheduler"))


@click.command("token")
@click.option("--sub", required=True, help="the user's (or system's) id")
@click.option("--role", "roles", multiple=True, required=True,
              help="a lane (coordination, pharmacy...), process_owner, auditor, admin or manufacturer; repeatable")
@click.option("--center", "centers", multiple=True, help="a centre the user works for; repeatable")
@click.option("--org", help="the manufacturer's org id (as recorded at place_order)")
@click.option("--name", help="printed name: recorded only in the signatures this user makes (never in the rest "
              "of the log)")
@click.option("--ttl", default=8 * 3600, show_default=True, type=click.IntRange(60, 366 * 86400), help="seconds")
@click.option("--sign", is_flag=True, help="a signing token: auth_time now, valid 5 minutes (give it as a "
              "completion's signature, witness or countersign)")
@refusals
def token_cmd(sub, roles, centers, org, name, ttl, sign) -> None:
    """Mint a bearer token with the locally configured key (see README, "REST API")."""
    from cartpath.engine.settings import BadSetting, configured_lanes, require_data_dir
    from cartpath.engine.signatures import MAX_AUTH_AGE_SECONDS

    from .auth import ADMIN, AUDITOR, MANUFACTURER, PROCESS_OWNER, SYMMETRIC, mint_token, signing_key
    lanes = [lane for lane in configured_lanes() if lane != MANUFACTURER]
    allowed = [*lanes, PROCESS_OWNER, AUDITOR, ADMIN, MANUFACTURER]
    for role in roles:
        if role not in allowed:
            raise BadSetting(f"--role {role!r} is not a role: expected one of {', '.join(allowed)} "
                             "(more lanes: CARTPATH_EXTRA_LANES)")
    lane_roles = [role for role in roles if role in lanes]
    if lane_roles and not centers:
        raise BadSetting(f"--role {lane_roles[0]} is a lane role: name the centre(s) it works for with --center")
    if MANUFACTURER in roles and not org:
        raise BadSetting("a manufacturer token needs --org (the org id recorded at place_order)")
    if (os.environ.get("CARTPATH_JWT_ALGORITHM") or "HS256").upper() in SYMMETRIC \
            and not os.environ.get("CARTPATH_JWT_SECRET"):
        require_data_dir()  # the local secret lives there; a new one in a mistyped directory signs useless tokens
    algorithm, key = signing_key(os.environ)
    now = int(time.time())
    click.echo(mint_token(key, algorithm, sub=sub, roles=roles, centers=centers, name=name, org=org,
                          ttl_seconds=min(ttl, MAX_AUTH_AGE_SECONDS) if sign else ttl,
                          issuer=os.environ.get("CARTPATH_JWT_ISSUER") or None,
                          audience=os.environ.get("CARTPATH_JWT_AUDIENCE") or None, auth_time=now if sign else None))


from .simulation_commands import COMMANDS as _SIMULATION_COMMANDS  # noqa: E402  (its own module: one concept)

COMMANDS = [serve_cmd, scheduler_cmd, token_cmd, *_SIMULATION_COMMANDS]
