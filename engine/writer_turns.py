"""SQLite saves take turns through a lock file, not through SQLite's busy handler.

SQLite lets one writer at a time into a database file. A writer that finds the lock taken
sleeps in SQLite's busy handler, 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms and so on,
however soon the lock is released: a save that takes two milliseconds can keep the next one
waiting twenty-five. Two workers' saves meet now and then; with ``cartpath serve --threads 2``
a save meets another one most of the time, and the sleeps became the tail of the completions'
latency.

So a save first takes its turn: an exclusive ``flock`` on ``<database>-writer`` beside the
database (and its ``-wal`` and ``-shm`` files). The kernel hands the lock to the next waiter
the moment it is released, whichever process or thread it is, and releases it when a process
dies, so a killed worker never leaves a turn taken. The threads of one process queue on a
lock of their own first (a ``flock`` is held per open file, which they share). Writers that do
not take turns (another program, an older cartpath) are still kept out by SQLite's own lock:
the turn only orders those that ask, it never replaces SQLite's locking.

A file opened by one process is not shared with the processes it forks (gunicorn forks its
workers): each process opens its own, or the workers would share one lock and never wait
for each other.
"""
from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

SUFFIX = "-writer"
_FORKED = threading.Lock()  # guards the reset of a WriterTurns in a process forked while it was in use


def lock_path(db_name: str) -> str | None:
    """The turn file of the SQLite database ``db_name`` (a path or a ``file:`` URI); None for a
    database that lives in memory only (no other process can write it)."""
    if not db_name or ":memory:" in db_name or "mode=memory" in db_name:
        return None
    if db_name.startswith("file:"):
        path = unquote(urlsplit(db_name).path)
        return path + SUFFIX if path else None
    return db_name + SUFFIX


class WriterTurns:
    """``with turns.turn(): ...`` around a write transaction; re-entrant within a thread."""

    def __init__(self, db_name: str) -> None:
        self.path = lock_path(db_name)
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # type: ignore[arg-type]
            self._pid = os.getpid()
        return self._fd

    def _after_fork(self) -> None:
        """In a forked process: the parent's descriptor is the parent's open file (locking through it
        would share the parent's turn), and its thread lock may have been held by a thread that does
        not exist here. Both are started afresh."""
        with _FORKED:
            if self._pid and self._pid != os.getpid():
                self._threads = threading.RLock()
                self._depth = 0
                self._fd = None
                self._pid = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        if self._pid and self._pid != os.getpid():
            self._after_fork()
        with self._threads:
            if self._depth == 0:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._file(), fcntl.LOCK_UN)

    def close(self) -> None:
        with self._threads:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
