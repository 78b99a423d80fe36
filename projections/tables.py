"""Every table of a store, created once as a deploy step: the event store's (engine), then the
views and their tracking, as their runner would create them at start."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cartpath.engine.db import create_tables as create_event_tables

from .runner import Runner
from .store import RunnerBusy, ViewStore


def create_tables(overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Events, snapshots, views and tracking; safe to run again."""
    return create_event_tables(overrides, then=create_view_tables)


def create_view_tables(app: Any, event_tables: set[str]) -> dict[str, Any]:
    """Under the runner's lock: a runner that is running has created them already and owns them."""
    store = ViewStore.for_app(app)
    try:
        lock = store.lock(wait=False)
    except RunnerBusy:
        store.close()
        return {"skipped": "a projection runner is running on this store and keeps its own tables"}
    try:
        Runner(app, store=store).prepare(retry_errors=False)
        return {"tables": sorted(store.tables() - event_tables)}
    finally:
        lock.release()
        store.close()
