"""Audit queries: pathway events across pathways, filtered, in log order, as pages or as CSV.

Read from the ``audit`` view (``views/audit.py``). Filters: ``actor`` (the subject who
recorded the event), ``center``, ``type`` (an event class: ``TaskCompleted``...), and
``start``/``end`` on the event's recorded time (``at``: from inclusive, to exclusive, as
the KPI periods). Pages follow the log: ``after`` is the position of the last item seen
(the previous page's ``next``). CSV is the whole result after ``after``, up to the
position the view had reached when the export began (``upto``), so a file is one
consistent cut of the log however long it takes to write.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from .log import EVENT_KINDS
from .reports import Reports
from .store import ViewStore
from .times import utc

ITEM_COLUMNS = ("position", "pathway_id", "version", "patient_ref", "center", "type", "at", "actor", "why", "summary")
CSV_COLUMNS = ("position", "pathway_id", "version", "patient_ref", "center", "type", "at", "actor_sub", "actor_roles",
               "actor_org", "why", "summary")
CSV_CHUNK = 2000
TYPES = tuple(sorted(EVENT_KINDS))


def _where(*, after: int, upto: int | None, actor: str | None, center: str | None, type_: str | None,
           start: str | None, end: str | None, centers: Iterable[str] | None) -> tuple[str, list[Any]]:
    return Reports._where({"position >": after, "position <=": upto, "actor_sub": actor, "center": center,
                           "type": type_, "at >=": utc(start), "at <": utc(end)}, centers)


def _select(store: ViewStore, limit: int, **filters: Any) -> list[dict[str, Any]]:
    where, params = _where(**filters)
    rows = store.query(f"SELECT {', '.join(ITEM_COLUMNS)} FROM view_audit_events{where} ORDER BY position LIMIT ?",
                       (*params, limit))
    out = []
    for row in rows:
        item = dict(zip(ITEM_COLUMNS, row))
        item["actor"] = json.loads(item["actor"]) if item["actor"] else None
        out.append(item)
    return out


def page(store: ViewStore, *, limit: int, after: int = 0, **filters: Any) -> dict[str, Any]:
    """``{items, next}``: up to ``limit`` events after ``after``; ``next`` is null on the last page."""
    rows = _select(store, limit + 1, after=after, upto=None, **filters)
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "next": items[-1]["position"] if more else None}


def every(store: ViewStore, *, after: int = 0, upto: int, **filters: Any) -> Iterator[dict[str, Any]]:
    """Every matching event after ``after`` up to ``upto``, read in chunks (for the CSV export)."""
    while True:
        rows = _select(store, CSV_CHUNK, after=after, upto=upto, **filters)
        yield from rows
        if len(rows) < CSV_CHUNK:
            return
        after = rows[-1]["position"]


def csv_text(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The header row, then one line per event (RFC 4180 quoting; roles joined with ``;``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for n, item in enumerate(items, 1):
        who = item["actor"] or {}
        writer.writerow((item["position"], item["pathway_id"], item["version"], item["patient_ref"], item["center"],
                         item["type"], item["at"], who.get("sub") or "", ";".join(who.get("roles") or ()),
                         who.get("org") or "", item["why"] or "", item["summary"]))
        if n % 500 == 0:
            yield flush()
    yield flush()
