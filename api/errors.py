"""RFC 7807 problem documents: every refusal is mapped here, once."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from engine import errors as domain

PROBLEM_TYPE_BASE = "https://cartpath.invalid/problems/"

STATUS = {
    domain.UnknownPathway: 404, domain.UnknownTask: 404, domain.UnknownDefinition: 404,
    domain.TaskNotReady: 409, domain.PathwayEnded: 409, domain.ConcurrentUpdate: 409,
    domain.BusinessKeyConflict: 409, domain.ClockNotManual: 409, domain.CancelRefused: 422,
    domain.InvalidTaskData: 422, domain.CoiMismatch: 422, domain.MessageNotCorrelated: 422,
    domain.DefinitionRejected: 422, domain.EngineFailure: 500,
}


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> Response:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def _status_for(err: domain.CartpathError) -> int:
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(domain.CartpathError)
    def _domain(err: domain.CartpathError):
        status = _status_for(err)
        extra = {k: v for k, v in err.extra.items() if v is not None}
        return problem(status, type(err).__name__, err.detail, PROBLEM_TYPE_BASE + err.code, **extra)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        extra = {}
        data = getattr(err, "data", None)  # flask-smorest / webargs validation messages
        if isinstance(data, dict) and "messages" in data:
            extra["errors"] = data["messages"]
        return problem(err.code or 500, err.name, err.description or err.name, **extra)
