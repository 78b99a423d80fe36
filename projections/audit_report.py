"""A pathway's audit report: its whole recorded history in one document an inspector can file.

Built from the pathway's own events (not from a view, so nothing lags), read generically:
every event with who, when and why; the definition version(s) it ran on; the electronic
signatures with their manifestation (printed name, time, meaning); the corrections with
their original and new values; the deviations and incidents; and the results of the
integrity checks run at the time of printing (``verify``, and the hash chain's check where
the store keeps one). ``audit_pdf.py`` prints the same content as a PDF.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cartpath.engine.console import iso_default
from cartpath.engine.records import history_item

from . import event_text

_SIGNATURE_FIELDS = ("role", "sub", "name", "roles", "at", "meaning", "sha256")
_CORRECTION_FIELDS = ("task_id", "task", "field", "original", "value", "reason", "decided_on_corrected_data")
_DEVIATION_FIELDS = ("kind", "task", "reason", "limit_minutes", "actual_minutes", "limit_doses", "actual_doses")

# name -> check(app, pathway_id) -> {"ok": bool, ...}: what the report runs at the time of printing
Check = Callable[[Any, uuid.UUID], dict[str, Any]]


def _plain(value: Any) -> Any:
    """JSON-ready (times as ISO 8601 text, as the API writes them)."""
    return json.loads(json.dumps(value, default=iso_default))


def _definitions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every process version the pathway names in its history (its start, and any later move), in order."""
    found: dict[tuple, dict[str, Any]] = {}
    for ev in events:
        for value in ev["data"].values():
            if isinstance(value, dict) and {"key", "version"} <= value.keys() and "sha256" in value:
                ref = {"key": value["key"], "version": value["version"], "sha256": value["sha256"],
                       "since_position": ev["position"]}
                found.setdefault((ref["key"], ref["version"], ref["sha256"]), ref)
    return list(found.values())


def _run(check: Check, app: Any, pathway_id: uuid.UUID) -> dict[str, Any]:
    try:
        return _plain(check(app, pathway_id))
    except Exception as err:  # a check that cannot even run has failed, and says why
        return {"ok": False, "reason": f"the check could not run: {type(err).__name__}: {err}"}


def verify_check(app: Any, pathway_id: uuid.UUID) -> dict[str, Any]:
    """Re-execute the recorded inputs: the outcomes must be the recorded ones."""
    return app.verify(pathway_id)


def chain_check(app: Any, pathway_id: uuid.UUID) -> dict[str, Any]:
    """Walk the pathway's hash chain: the first event altered, removed, inserted or reordered fails it."""
    from cartpath.engine.integrity import check_integrity
    return check_integrity(app, pathway_id=pathway_id).as_dict()


def default_checks() -> dict[str, Check]:
    """What every report runs at the time of printing: the record untouched (chain), then re-executed (verify)."""
    return {"chain": chain_check, "verify": verify_check}


def build(app: Any, pathway_id: uuid.UUID | str, *, printed_by: str | None, checks: dict[str, Check]) -> dict[str, Any]:
    """The report's content (JSON-ready): ``checks`` are run now, in order, and their results kept."""
    pathway = app.get_pathway(pathway_id)
    events = [_plain(history_item(ev)) for ev in app.events.get(pathway.id)]
    items, signatures, corrections, deviations, incidents = [], [], [], [], []
    for ev in events:
        kind, data = ev["type"], ev["data"]
        items.append({**ev, "why": event_text.why(kind, data), "summary": event_text.summary(kind, data)})
        for signed in data.get("signatures") or []:
            signatures.append({"position": ev["position"], "task": data.get("name"),
                               **{f: signed.get(f) for f in _SIGNATURE_FIELDS}})
        if kind == "TaskCorrected":
            corrections.append({"position": ev["position"], "at": ev["at"], "actor": ev["actor"],
                                **{f: data.get(f) for f in _CORRECTION_FIELDS}})
        elif kind == "DeviationRecorded":
            deviations.append({"position": ev["position"], "at": ev["at"],
                               **{f: data.get(f) for f in _DEVIATION_FIELDS if data.get(f) is not None}})
        elif kind.startswith("Incident"):
            incidents.append({"position": ev["position"], "type": kind, "at": ev["at"], "actor": ev["actor"],
                              "summary": event_text.summary(kind, data), "data": data})
    integrity = {name: _run(check, app, pathway.id) for name, check in checks.items()}
    now: datetime = app.clock.now()
    return {
        "pathway_id": str(pathway.id), "patient_ref": pathway.patient_ref, "center": pathway.center,
        "indication": pathway.indication, "product": pathway.product, "business_key": pathway.business_key,
        "status": pathway.status, "outcome": pathway.outcome, "started_at": _plain(pathway.started_at),
        "ended_at": _plain(pathway.ended_at), "definitions": _definitions(events),
        "events": items, "signatures": signatures, "corrections": corrections, "deviations": deviations,
        "incidents": incidents, "integrity": integrity,
        "integrity_ok": all(result.get("ok") is True for result in integrity.values()),
        "printed": {"at": now.isoformat(), "by": printed_by, "clock": "manual" if app.clock.manual else "system",
                    "version": pathway.version},
    }
