"""Simulation runs of the API: one JSON file each, in CARTPATH_SIMULATION_DIR, run in a background thread.

A file (not the event store: a simulation records nothing about patients) so that every
server worker answers ``GET /simulations/{id}`` whichever one started the run. A run
notes the process that runs it; a run whose process is gone (a worker restarted) reads
as ``failed``. At most ``max_running`` runs go on at once on the machine: one more is
refused (429) before anything starts.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()  # one process's threads; across processes, the O_EXCL slot files below


class TooManyRuns(Exception):
    pass


class Runs:
    def __init__(self, directory: Path, max_running: int):
        self.dir = directory
        self.max_running = max_running

    def path(self, run_id: str) -> Path:
        return self.dir / f"{run_id}.json"

    def read(self, run_id: str) -> dict[str, Any] | None:
        try:
            uuid.UUID(run_id)
            record = json.loads(self.path(run_id).read_text())
        except (ValueError, OSError):
            return None
        if record["status"] in ("queued", "running") and not _alive(record.get("pid")):
            record.update(status="failed", message="the process running it stopped before the end")
        return record

    def write(self, record: dict[str, Any]) -> None:
        tmp = self.dir / f".{record['id']}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(record, separators=(",", ":")))
        tmp.replace(self.path(record["id"]))

    def _slot(self) -> Path:
        """Take one of ``max_running`` slot files (created exclusively), freeing those of dead processes."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for n in range(self.max_running):
            slot = self.dir / f".slot-{n}"
            for _ in range(2):
                try:
                    fd = os.open(slot, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                except FileExistsError:
                    try:
                        holder = int(slot.read_text() or "0")
                    except (OSError, ValueError):
                        holder = 0
                    if holder and _alive(holder):
                        break
                    slot.unlink(missing_ok=True)  # its process is gone: free it and try again
                    continue
                with os.fdopen(fd, "w") as f:
                    f.write(str(os.getpid()))
                return slot
        raise TooManyRuns(f"{self.max_running} simulations are running (CARTPATH_SIMULATION_MAX_RUNNING); "
                          "try again when one has finished")

    def start(self, owner: dict[str, Any], request: dict[str, Any], work: Callable[[Callable], list[dict]]) -> dict:
        """Record a queued run and start ``work(progress)`` in a thread; its results land in the file."""
        with _LOCK:
            slot = self._slot()
        record = {"id": str(uuid.uuid4()), "status": "queued", "progress": 0.0, "message": "queued",
                  "created_at": datetime.now(UTC).isoformat(), "finished_at": None, "owner": owner,
                  "request": request, "results": None, "pid": os.getpid()}
        self.write(record)

        def progress(fraction: float, message: str, state: dict[str, float] = {"at": 0.0}) -> None:  # noqa: B006
            if time.monotonic() - state["at"] >= 0.5 or fraction >= 1:
                state["at"] = time.monotonic()
                self.write(record | {"status": "running", "progress": round(min(fraction, 0.99), 3),
                                     "message": message})

        def target() -> None:
            try:
                results = work(progress)
                record.update(status="done", progress=1.0, message="done", results=results)
            except Exception as err:  # noqa: BLE001 - the run's failure is its answer, not the server's
                record.update(status="failed", message=f"{type(err).__name__}: {err}")
            finally:
                record["finished_at"] = datetime.now(UTC).isoformat()
                self.write(record)
                slot.unlink(missing_ok=True)

        threading.Thread(target=target, name=f"simulation-{record['id']}", daemon=True).start()
        return record


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
