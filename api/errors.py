"""RFC 7807 problem documents: every refusal is mapped here, once.

Domain refusals (engine/errors.py), HTTP errors raised by Flask/werkzeug and
webargs validation all leave as ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` and, for validation, ``errors`` (field ->
messages, nested fields joined with dots).
"""
from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

from cartpath.engine import errors as domain
from cartpath.engine.incidents import IncidentClosed, IncidentOpen, RetryImpossible, UnknownIncident
from cartpath.engine.store import store_unavailable_errors

PROBLEM_TYPE_BASE = "https://cartpath.invalid/problems/"
PROBLEM_MIMETYPE = "application/problem+json"
log = logging.getLogger("cartpath.api")

STATUS = {
    domain.UnknownPathway: 404, domain.UnknownTask: 404, domain.UnknownDefinition: 404,
    domain.TaskNotReady: 409, domain.PathwayEnded: 409, domain.ConcurrentUpdate: 409,
    domain.BusinessKeyConflict: 409, domain.ClockNotManual: 409, domain.CancelRefused: 422,
    domain.InvalidTaskData: 422, domain.CoiMismatch: 422, domain.MessageNotCorrelated: 422,
    domain.DefinitionRejected: 422, domain.EngineFailure: 500, domain.CoiInUse: 409, domain.MessageIdReused: 409,
    UnknownIncident: 404, IncidentClosed: 409, IncidentOpen: 409, RetryImpossible: 409,
    domain.ChainUnavailable: 409,
    domain.MigrationBlocked: 409,
}
# Problem types of plain HTTP refusals, so clients can switch on `type` alone.
HTTP_TYPES = {400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
              405: "method-not-allowed", 409: "conflict", 413: "body-too-large", 414: "uri-too-long",
              415: "unsupported-media-type", 422: "validation-failed", 428: "precondition-required",
              431: "headers-too-large"}


def problem(status: int, title: str, detail: str, type_: str = "about:blank", *,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


LOCATIONS = ("json", "query", "files", "form", "headers", "view_args")


def validation_errors(messages: Any) -> dict[str, list[str]]:
    """webargs nests messages by location, then field; clients want field -> messages."""
    if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in LOCATIONS:
        messages = next(iter(messages.values()))
    return flatten_errors(messages)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested field messages with dotted names (``correlation.order_id``)."""
    if isinstance(messages, dict):
        out: dict[str, list[str]] = {}
        for key, value in messages.items():
            out.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            return {prefix or "_schema": list(messages)}
        out = {}
        for m in messages:
            for key, value in flatten_errors(m, prefix).items():
                out.setdefault(key, []).extend(value)
        return out
    return {prefix or "_schema": [str(messages)]}


def _title(err: domain.CartpathError) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(err).__name__).lower()
    return words[:1].upper() + words[1:]


def _status_for(err: domain.CartpathError) -> int:
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def domain_problem(err: domain.CartpathError) -> Response:
    status = _status_for(err)
    extra = {k: v for k, v in err.extra.items() if v is not None}
    if isinstance(err, domain.DefinitionRejected):
        errors: dict[str, list[str]] = {}
        for item in err.problems:
            where = f"{item.get('file')}:{item.get('line')}" if item.get("line") else str(item.get("file"))
            errors.setdefault(where, []).append(item.get("message", ""))
        extra["errors"] = errors
    if status >= 500:  # its kind only: a failing script's message may quote the pathway's data
        log.error("engine failure (%s) on %s %s", err.code, request.method,
                  request.url_rule.rule if request.url_rule else "?")
    return problem(status, _title(err), err.detail, PROBLEM_TYPE_BASE + err.code, **extra)


def http_problem(err: HTTPException) -> Response:
    status = err.code or 500
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    data = getattr(err, "data", None)  # flask-smorest / webargs validation messages
    detail = err.description or err.name
    if isinstance(data, dict):
        if "messages" in data:
            extra["errors"] = validation_errors(data["messages"])
            detail = "the request does not pass validation: " + "; ".join(
                f"{k}: {', '.join(v)}" for k, v in sorted(extra["errors"].items()))
        if isinstance(data.get("errors"), dict):
            extra["errors"] = flatten_errors(data["errors"])
        if data.get("message"):
            detail = str(data["message"])
        headers.update(data.get("headers") or {})
    if status == 400 and "Invalid JSON body." in str(extra.get("errors")):
        detail, extra = "the request body is not valid JSON", {}
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="cartpath"')
    if status == 405 and err.get_headers():
        headers.update({k: v for k, v in err.get_headers() if k.lower() == "allow"})
    type_ = PROBLEM_TYPE_BASE + HTTP_TYPES[status] if status in HTTP_TYPES else "about:blank"
    return problem(status, err.name, detail, type_, headers=headers, **extra)


# The database is down, restarting or out of connections: the same request may succeed in a moment,
# so 503 + Retry-After, not a 500. A save is one transaction, so nothing is half-recorded; a commit
# whose acknowledgement was lost is the one case where it was recorded, and a repeat is refused then.
RETRY_AFTER_SECONDS = 5


def unavailable_problem(err: BaseException) -> Response:
    # Type only: a driver message may echo connection settings.
    log.warning("store unavailable (%s): answering 503", type(err).__name__)
    return problem(503, "Service Unavailable", "the database cannot be reached right now (restarting or "
                   "overloaded): retry shortly; repeating a command is safe (a task already completed "
                   "answers 409, a message id already delivered answers as the first time)",
                   PROBLEM_TYPE_BASE + "store-unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def register_error_handlers(app: Flask) -> None:
    """Register after flask-smorest's Api so these handlers win."""
    app.register_error_handler(domain.CartpathError, domain_problem)
    app.register_error_handler(HTTPException, http_problem)
    for error in store_unavailable_errors():
        app.register_error_handler(error, unavailable_problem)

    @app.errorhandler(InternalServerError)
    def _crash(err: InternalServerError):
        # Flask has logged it (app.log_exception: type and stack, not the message)
        return problem(500, "Internal Server Error", "the server failed to handle the request",
                       PROBLEM_TYPE_BASE + "internal")
