"""HTTP conventions shared by every resource: body limits, media types, If-Match."""
from __future__ import annotations

from typing import Callable

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

_KIND = "_cartpath_consumes"
JSON_TYPES = ("application/json",)


def consumes(kind: str) -> Callable:
    """Mark a view as taking a JSON body ("json") or a multipart upload ("multipart")."""
    def mark(view):
        setattr(view, _KIND, kind)
        return view
    return mark


def check_request() -> None:
    """Refuse oversized bodies and wrong media types before anything parses them."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes (CARTPATH_MAX_BODY_BYTES)")
    view = current_app.view_functions.get(request.endpoint or "")
    kind = getattr(view, _KIND, None)
    if kind is None or request.method not in ("POST", "PUT", "PATCH"):
        return
    mimetype = request.mimetype
    if kind == "multipart":
        if mimetype != "multipart/form-data":
            raise UnsupportedMediaType("send the files as multipart/form-data, field `files`")
        return
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"
    if has_body and not (mimetype in JSON_TYPES or mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"the body must be application/json, not {mimetype or 'untyped'}")


def expected_version() -> int | None:
    """The pathway version named by If-Match (the ETag a client read), if any."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    text = header.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise BadRequest(f"If-Match must be a pathway version as sent in its ETag (e.g. \"3\"), not {header!r}")
    return int(text)


def install(app: Flask) -> None:
    app.before_request(check_request)


_STATUS = {"BAD_REQUEST": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "CONFLICT": 409,
           "REQUEST_ENTITY_TOO_LARGE": 413, "UNSUPPORTED_MEDIA_TYPE": 415, "UNPROCESSABLE_ENTITY": 422}


def refusals(blp, *names: str, public: bool = False) -> Callable:
    """Document an operation's usual refusals (all problem+json); 401/403 unless ``public``."""
    def wrap(view):
        for name in (() if public else ("UNAUTHORIZED", "FORBIDDEN")) + names:
            view = blp.alt_response(_STATUS[name], response=name)(view)
        return view
    return wrap
