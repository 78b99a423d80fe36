"""What one recorded event says to an auditor, in words: a one-line summary, why (the reason a
person gave, where the event has one) and who (the actor as recorded: ids and roles, never a name).

Events are read generically, as their fields (``data`` of a view's event, or a domain event's
attributes), so an event type added later (a correction, an incident) gets a plain summary
from its fields without being taught here; the known ones get a sentence.
"""
from __future__ import annotations

from typing import Any

# Where a person's "why" lives: the event's own reason (cancel, deviation, correction, incident), or
# the reason fields of the task data or message payload it carries.
_REASON_FIELDS = ("reason", "deviation_reason", "override_reason")
_NAME_FIELDS = ("name", "task", "kind", "node_id", "message", "outcome", "field")


def actor(data: dict[str, Any]) -> dict[str, Any] | None:
    """``{sub, roles}`` (and ``org`` for a manufacturer) of the event's actor; None for the engine's outcomes."""
    found = data.get("actor")
    if not isinstance(found, dict):
        return None
    out: dict[str, Any] = {"sub": found.get("sub"), "roles": list(found.get("roles") or [])}
    if found.get("org"):
        out["org"] = found["org"]
    return out


def why(kind: str, data: dict[str, Any]) -> str | None:
    """The reason a person recorded with this event, if any (several joined with "; ")."""
    parts = [str(data[f]) for f in _REASON_FIELDS if data.get(f)]
    if kind == "Cancelled" and data.get("comment"):
        parts.append(str(data["comment"]))
    for inner in ("data", "payload"):
        nested = data.get(inner)
        if isinstance(nested, dict):
            parts += [str(nested[f]) for f in _REASON_FIELDS if nested.get(f)]
    return "; ".join(dict.fromkeys(parts)) or None


def signatures_text(signatures: Any) -> str:
    """``performed by nurse-1 (signer); verified by nurse-2 (witness)``: the manifestation, by subject."""
    if not isinstance(signatures, list):
        return ""
    return "; ".join(f"{s.get('meaning') or 'signed'} by {s.get('sub')} ({s.get('role') or 'signer'})"
                     for s in signatures if isinstance(s, dict))


def summary(kind: str, data: dict[str, Any]) -> str:
    """One line saying what the event records."""
    d = data
    if kind == "Started":
        start = d.get("start") or {}
        definition = d.get("definition") or {}
        return (f"started {definition.get('key')} v{definition.get('version')} for {start.get('patient_ref')} at "
                f"{start.get('center')} ({start.get('product')}, {start.get('indication')})")
    if kind == "TaskCompleted":
        text = f"completed {d.get('name')}" + (f" ({d['lane']})" if d.get("lane") else "")
        signed = signatures_text(d.get("signatures"))
        return f"{text}; {signed}" if signed else text
    if kind == "TaskBecameReady":
        return f"{d.get('name')} ready" + (f" ({d['lane']})" if d.get("lane") else "") + (
            f", due {d['due_at']}" if d.get("due_at") else "")
    if kind == "TaskWithdrawn":
        return f"{d.get('name')} withdrawn"
    if kind == "MessageReceived":
        return (f"received {d.get('name')} (message {d.get('message_id')})"
                + ("" if d.get("delivered", True) else ", informative"))
    if kind == "MessageSent":
        return f"sent {d.get('name')} (message {d.get('message_id')})"
    if kind == "NodeCompleted":
        result = d.get("result")
        if result:
            return f"{d.get('node_id')} decided " + ", ".join(f"{k}={v}" for k, v in result.items())
        return f"{d.get('kind') or 'node'} {d.get('node_id')} passed"
    if kind == "TimerArmed":
        return f"timer {d.get('title') or d.get('node_id')} armed, due {d.get('due_at')}"
    if kind == "MessageAwaited":
        return f"waiting for {d.get('message')}"
    if kind == "WaitEnded":
        return f"wait at {d.get('node_id')} ended ({d.get('how')})"
    if kind == "TimersFired":
        return "due timers fired"
    if kind == "DeviationRecorded":
        limits = [f"{d[f'actual_{unit}']} {unit} against a limit of {d[f'limit_{unit}']}"
                  for unit in ("minutes", "doses")
                  if d.get(f"actual_{unit}") is not None and d.get(f"limit_{unit}") is not None]
        return f"deviation {d.get('kind')} at {d.get('task')}" + (f": {limits[0]}" if limits else "")
    if kind == "Cancelled":
        death = f" ({d.get('death_date')}, {d.get('death_cause')})" if d.get("death_date") else ""
        return f"cancelled: {d.get('reason')}{death}"
    if kind == "PathwayEnded":
        return f"ended: {d.get('outcome')}"
    if kind == "TaskCorrected":
        return (f"corrected {d.get('task')}.{d.get('field')}: {d.get('original')!r} -> {d.get('value')!r}"
                + (" (a decision was taken on the original value)" if d.get("decided_on_corrected_data") else ""))
    if kind == "IncidentRaised":
        return (f"incident {d.get('incident_id')} at {d.get('node')}: {d.get('error_class')}: {d.get('message')}; "
                "the pathway waits for a retry")
    if kind == "IncidentRetried":
        return f"retried incident {d.get('incident_id')} at {d.get('node')}"
    if kind == "IncidentResolved":
        return f"incident {d.get('incident_id')} resolved"
    # a kind this module does not know yet: its type and what names it
    named = next((f"{f} {d[f]}" for f in _NAME_FIELDS if isinstance(d.get(f), (str, int)) and d.get(f) != ""),
                 None)
    return f"{kind}" + (f": {named}" if named else "")
