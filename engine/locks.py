"""Singleton roles: at most one projection runner, one timer scheduler... per store.

    from cartpath.engine.locks import singleton, RoleTaken

    with singleton(app, "timer-scheduler"):            # refuses at once if another holds it
        run_the_scheduler()
    with singleton(app, "projections", wait=True):     # a standby: waits until the holder stops
        run_the_projections()

``app_or_env`` is a CartPath (or any eventsourcing Application) or an environment
dict as given to ``open_app``/``CartPath(env=...)``: the lock belongs to the store
that environment names, so two stores never contend and two processes on one store
always do (even inside one process: each ``singleton`` takes its own lock).

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a dedicated
  connection, keyed by schema and role name. The server releases it when that
  connection ends, so a crashed holder (even ``kill -9``) frees the role at once.
- SQLite: ``fcntl.flock`` on ``<name>.lock`` next to the database file; the kernel
  releases it when the holder's process dies.

The lock is a guard against running a role twice by mistake, not the only line of
defence: the event store's optimistic concurrency and the projections' tracking
positions still refuse a double write, so a lost lock (server restart dropping the
connection) can cost a refused write, never a corrupted store. Long-running holders
can poll ``Role.held()`` and stop when it turns false.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventsourcing.utils import Environment, resolve_topic

from .errors import CartpathError
from .settings import make_private_dir

APP_NAME = "cartpath"


class RoleTaken(CartpathError):
    """Another process holds this singleton role on the same store."""

    code = "role-taken"


class Role:
    """A held singleton role; ``held()`` says whether it still is."""

    def __init__(self, name: str, store: str, release, check) -> None:
        self.name = name
        self.store = store
        self._release = release
        self._check = check
        self.released = False

    def held(self) -> bool:
        return not self.released and self._check()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._release()


@contextmanager
def singleton(app_or_env: Any, name: str, *, wait: bool = False, timeout: float | None = None,
              poll: float = 0.5) -> Iterator[Role]:
    """Hold the singleton role ``name`` on the store for the body of the ``with``.

    Raises RoleTaken if another process holds it and ``wait`` is false, or if it is
    still held after ``timeout`` seconds of waiting (``None``: wait as long as it takes).
    """
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"role name {name!r} must be letters, digits, '-', '_' or '.'")
    env = _environment(app_or_env)
    module = (env.get("PERSISTENCE_MODULE") or "eventsourcing.sqlite").strip()
    take = _postgres_lock if module == "eventsourcing.postgres" else _file_lock
    role = take(env, name)
    deadline = None if timeout is None else time.monotonic() + timeout
    while not isinstance(role, Role):
        holder = role
        if not wait or (deadline is not None and time.monotonic() >= deadline):
            raise RoleTaken(f"another process already runs the {name} role on this store ({holder}); "
                            f"stop it first, or start this one as a standby")
        time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
        role = take(env, name)
    try:
        yield role
    finally:
        role.release()


def _environment(app_or_env: Any) -> Environment:
    env = getattr(app_or_env, "env", None)
    if isinstance(env, Environment):
        return env
    if isinstance(app_or_env, Mapping):
        return Environment(APP_NAME, {**os.environ, **app_or_env})
    raise TypeError("singleton() wants a CartPath application or an environment mapping")


def _who() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


# -- PostgreSQL -------------------------------------------------------------------------
def postgres_connect_kwargs(env: Environment) -> dict[str, Any]:
    """psycopg connection settings from eventsourcing's POSTGRES_* variables."""
    missing = [key for key in ("POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_DBNAME") if not env.get(key)]
    if missing:
        raise ValueError(f"PostgreSQL store selected but {', '.join(missing)} not set")
    password = env.get("POSTGRES_PASSWORD") or ""
    topic = env.get("POSTGRES_GET_PASSWORD_TOPIC")
    if topic:
        password = resolve_topic(topic)()
    return {"host": env.get("POSTGRES_HOST"), "port": env.get("POSTGRES_PORT") or "5432",
            "user": env.get("POSTGRES_USER"), "password": password, "dbname": env.get("POSTGRES_DBNAME"),
            "connect_timeout": int(env.get("POSTGRES_CONNECT_TIMEOUT") or "30")}


def _advisory_key(schema: str, name: str) -> int:
    """A signed 64-bit key: advisory locks are per database, so the schema goes in it."""
    digest = hashlib.sha256(f"cartpath:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _postgres_lock(env: Environment, name: str) -> Role | str:
    import psycopg

    schema = (env.get("POSTGRES_SCHEMA") or "").strip() or "public"
    key = _advisory_key(schema, name)
    conn = psycopg.connect(**postgres_connect_kwargs(env), autocommit=True,
                           application_name=f"cartpath {name} ({_who()})"[:63])
    try:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]  # type: ignore[index]  # one row
        if not got:
            row = conn.execute(
                "SELECT a.application_name, a.client_addr FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid = ((%s::bigint >> 32) & 4294967295)::oid "
                "AND l.objid = (%s::bigint & 4294967295)::oid AND l.objsubid = 1", (key, key)).fetchone()
            conn.close()
            return f"held by '{row[0]}'" if row and row[0] else "held by another connection"
    except BaseException:
        conn.close()
        raise

    def release() -> None:
        try:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except psycopg.Error:
            pass  # the connection is gone, and the lock with it
        finally:
            conn.close()

    def check() -> bool:
        try:
            return bool(conn.execute(
                "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND classid = ((%s::bigint >> 32) & 4294967295)::oid "
                "AND objid = (%s::bigint & 4294967295)::oid)",
                (key, key)).fetchone()[0])  # type: ignore[index]  # SELECT EXISTS: one row
        except psycopg.Error:
            return False

    return Role(name, f"postgresql schema {schema}", release, check)


# -- SQLite -------------------------------------------------------------------------------
def lock_directory(env: Environment) -> Path:
    """Where SQLite role locks live: next to the database file (or in CARTPATH_DATA_DIR)."""
    dbname = env.get("SQLITE_DBNAME")
    if dbname and dbname != ":memory:" and not dbname.startswith("file:"):
        return Path(dbname).resolve().parent
    return Path(env.get("CARTPATH_DATA_DIR") or "./var").resolve()


def _file_lock(env: Environment, name: str) -> Role | str:
    directory = lock_directory(env)
    make_private_dir(directory)
    path = directory / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        os.close(fd)
        return f"held by {holder}" if holder else f"{path} is locked"
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{_who()}\n".encode(), 0)

    def release() -> None:
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def check() -> bool:
        try:
            os.fstat(fd)
            return True
        except OSError:
            return False

    return Role(name, f"sqlite lock {path}", release, check)
