"""The HTTP floor's server (bench/floor_bench.py --http): Flask and eventsourcing alone, no cartpath.

Answers the three calls bench/http_bench.py makes (and a health probe), with none of cartpath's work behind them (no
token, no schema, no engine, no projections, no hash chain, no compression):
- ``GET /api/v1/health``: 200 once the worker is up;
- ``POST /api/v1/pathways``: a new ``Case`` aggregate (201, ``{"id": ...}``);
- ``GET /api/v1/pathways/<id>``: the case from the repository (eventsourcing's aggregate cache,
  fast-forwarded from the store: the other worker may have written it), with its next task;
- ``POST /api/v1/tasks/<id>.<n>/complete``: the case from the repository, ``FLOOR_EVENTS``
  events triggered on it (as many as cartpath records for a completion of that process), saved
  in one transaction; 409 when task ``n`` is not the case's next one or another request saved first.

Served by ``gunicorn`` with cartpath's worker class and keep-alive (``floor_bench.py`` starts it),
on the store eventsourcing's environment names (``PERSISTENCE_MODULE``, ``SQLITE_DBNAME``,
``POSTGRES_*``).
"""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from flask import Flask, jsonify, request
from floor_bench import Case  # gunicorn runs this from bench/

EVENTS = int(os.environ.get("FLOOR_EVENTS", "3"))
CACHE = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
store: Application[uuid.UUID] = Application(env=CACHE)
app = Flask(__name__)


def _case(case_id: str) -> Case | None:
    try:
        return store.repository.get(uuid.UUID(case_id))  # type: ignore[no-any-return]
    except (AggregateNotFoundError, ValueError):
        return None


@app.get("/api/v1/health")
def health() -> Any:
    return jsonify({"status": "ok"})


@app.post("/api/v1/pathways")
def start() -> Any:
    body = request.get_json(force=True)
    case = Case(name=str(body.get("patient_ref", "")))
    store.save(case)
    return jsonify({"id": str(case.id)}), 201


@app.get("/api/v1/pathways/<case_id>")
def show(case_id: str) -> Any:
    case = _case(case_id)
    if case is None:
        return jsonify({"title": "not found"}), 404
    return jsonify({"id": str(case.id), "status": "active", "version": case.version,
                    "tasks": [{"id": f"{case.id}.{case.done}", "name": "task"}]})


@app.post("/api/v1/tasks/<task_id>/complete")
def complete(task_id: str) -> Any:
    case_id, _, number = task_id.partition(".")
    case = _case(case_id)
    if case is None or not number.isdigit():
        return jsonify({"title": "not found"}), 404
    if int(number) != case.done:
        return jsonify({"title": "task not ready"}), 409
    at = datetime.now(UTC)
    case.task_done(task_id=task_id, data=request.get_json(force=True).get("data", {}), at=at)
    for n in range(EVENTS - 1):
        case.step(task_id=f"{task_id}-{n}", node_id="task", kind="userTask", flows=["f"], at=at)
    try:
        store.save(case)
    except IntegrityError:
        return jsonify({"title": "another request saved first"}), 409
    return jsonify({"id": str(case.id), "version": case.version})
