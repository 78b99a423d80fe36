"""Incidents: a step of one pathway's model that fails at run time.

A script that reads a missing key, a condition that divides by zero, a DMN table
with no matching rule, a date that overflows: an honest model bug (or data the
model did not expect) must stop that one pathway, visibly, and nothing else. The
engine records an ``IncidentRaised`` outcome naming the node and the error class,
with a message stripped of data values (scripts quote the values they choke on,
and values can be patient data); the pathway then waits for a retry.

This module says what an incident records; ``runtime.py`` catches the failure,
``pathway.py`` keeps the open incident, ``application.py`` retries it.
"""
from __future__ import annotations

import re
from typing import Any

from .errors import CartpathError

MAX_MESSAGE = 200
_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d[\d_.:eE+-]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class UnknownIncident(CartpathError):
    """No incident of that id was ever raised on this pathway."""

    code = "unknown-incident"


class IncidentClosed(CartpathError):
    """The incident was resolved (or superseded by a newer one): there is nothing to retry."""

    code = "incident-closed"


class RetryImpossible(CartpathError):
    """The failed step is no longer in the pathway's engine (its version has no such node): cancel or migrate."""

    code = "retry-impossible"


class IncidentOpen(CartpathError):
    """The pathway is stopped by an open incident: no step runs until it is retried (or the pathway cancelled)."""

    code = "incident-open"


def root_cause(err: BaseException) -> BaseException:
    """The error the model's step made: SpiffWorkflow wraps it in its own exception (chained
    implicitly); the sandbox's own errors (ScriptFailed and its kinds) are the answer as they are."""
    from SpiffWorkflow.exceptions import SpiffWorkflowException
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        inner = err.__cause__
        if inner is None and isinstance(err, SpiffWorkflowException):
            inner = err.__context__
        if not isinstance(inner, BaseException):
            return err
        err = inner
    return err


def safe_message(err: BaseException, model_text: str) -> str:
    """The error's first line with every quoted value and number replaced by ``…``.

    A quoted word is kept only when it is a name the model itself contains (a data key,
    a variable): that says what is missing without quoting what a patient's data holds."""
    if isinstance(err, KeyError) and err.args:
        text = f"missing key {err.args[0]!r}"
    else:
        text = (str(err).splitlines() or [""])[0] or type(err).__name__

    def quoted(match: re.Match[str]) -> str:
        word = match.group(1) if match.group(1) is not None else match.group(2)
        if _NAME.fullmatch(word) and re.search(rf"\b{re.escape(word)}\b", model_text):
            return f"'{word}'"
        return "…"
    text = _NUMBER.sub("…", _QUOTED.sub(quoted, text))
    return text[:MAX_MESSAGE]


def incident_record(incident_id: str, node: str | None, task_id: str | None, err: BaseException,
                    model_text: str) -> dict[str, Any]:
    """The outcome's data: what an operator needs to find and fix the step, and no data values."""
    cause = root_cause(err)
    return {"incident_id": incident_id, "node": node, "task_id": task_id, "error_class": type(cause).__name__,
            "message": safe_message(cause, model_text)}


def public_incident(incident: dict[str, Any] | None) -> dict[str, Any] | None:
    """An incident as the API and CLI show it (the engine's task id stays inside)."""
    if incident is None:
        return None
    return {k: incident.get(k) for k in ("incident_id", "node", "error_class", "message", "at")}
