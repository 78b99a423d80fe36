"""HTTP conventions shared by every resource: who may send a body, body limits, media types, If-Match."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from .auth import current_principal
from .json_body import check_json_body

_KIND = "_cartpath_consumes"
_PUBLIC = "_cartpath_public"
PUBLIC_BLUEPRINTS = ("api-docs",)  # flask-smorest's own: the OpenAPI document
JSON_TYPES = ("application/json",)
VERSION = re.compile(r'(?:W/)?"?([0-9]{1,18})"?')


def public(view):
    """Mark a view that answers without a token (health, the docs page and its files)."""
    setattr(view, _PUBLIC, True)
    return view


def consumes(kind: str) -> Callable:
    """Mark a view as taking a JSON body ("json") or a multipart upload ("multipart")."""
    def mark(view):
        setattr(view, _KIND, kind)
        return view
    return mark


def check_request() -> None:
    """Before anything reads the body: the caller's token, then the body's size and media type, then (JSON)
    its shape. A request without a valid token costs a header parse, whatever body it announces."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.routing_exception is None and view is not None and not getattr(view, _PUBLIC, False) \
            and request.blueprint not in PUBLIC_BLUEPRINTS:
        current_principal()  # 401 problem+json; the body is never read
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes (CARTPATH_MAX_BODY_BYTES)")
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
    if has_body:
        check_json_body(request.get_data(cache=True))


def expected_version() -> int | None:
    """The pathway version named by If-Match (the ETag a client read), if any."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    found = VERSION.fullmatch(header.strip())  # ASCII digits only: str.isdigit() takes "²" and int() refuses it
    if found is None:
        raise BadRequest("If-Match must be a pathway version as sent in its ETag (e.g. \"3\")")
    return int(found.group(1))


def content_disposition(name: str, disposition: str = "inline") -> str:
    """A Content-Disposition for any stored file name (RFC 6266): the name itself as RFC 5987
    ``filename*`` (UTF-8, percent-encoded), and an ASCII ``filename`` for clients that know no other;
    an HTTP header is Latin-1, so the plain name alone would fail for most of the world's names."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_"
                       for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    header = f'{disposition}; filename="{fallback or "file"}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


# -- how the document declares these conventions (clients generated from it send and read them) ----
IF_MATCH = {"in": "header", "name": "If-Match", "required": False,
            "description": "the pathway version you read (its ETag, e.g. \"3\"); a newer version refuses the "
                           "write with 409 instead of acting on what you did not see",
            "schema": {"type": "string", "pattern": r'^(\*|(W/)?"?[0-9]+"?)$', "example": '"3"'}}
ETAG = {"description": "the pathway's version, quoted: send it back as If-Match",
        "required": True, "schema": {"type": "string", "example": '"3"'}}
POSITION = {"description": "the log position this answer reflects (a write: where it was recorded); pass it "
                           "as `min_position` to a report to read your own write",
            "required": True, "schema": {"type": "integer", "minimum": 0}}
LOCATION = {"description": "the new pathway's URL", "required": True,
            "schema": {"type": "string", "format": "uri-reference"}}
RETRY_AFTER = {"description": "seconds to wait before trying again", "required": True,
               "schema": {"type": "integer", "minimum": 0}}
PATHWAY_HEADERS = {"ETag": ETAG}
POSITION_HEADERS = {"X-Cartpath-Position": POSITION}
PATHWAY_WRITE_HEADERS = {"ETag": ETAG, "X-Cartpath-Position": POSITION}


def reads_if_match(blp) -> Callable:
    """Declare the If-Match header on an operation that reads it (through ``expected_version``)."""
    return blp.doc(parameters=[IF_MATCH])


def operation_id(blp, name: str) -> Callable:
    """The operation's stable camelCase name: generated clients name their functions after it."""
    return blp.doc(operationId=name)


def install(app: Flask) -> None:
    app.before_request(check_request)


_STATUS = {"BAD_REQUEST": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "CONFLICT": 409,
           "REQUEST_ENTITY_TOO_LARGE": 413, "TOO_MANY_REQUESTS": 429, "UNSUPPORTED_MEDIA_TYPE": 415,
           "UNPROCESSABLE_ENTITY": 422,
           "SERVICE_UNAVAILABLE": 503, "NOT_YET": 409}


def refusals(blp, *names: str, public: bool = False) -> Callable:
    """Document an operation's usual refusals (all problem+json); 401/403 unless ``public``;
    503 + Retry-After always (the database may be restarting or busy)."""
    def wrap(view):
        for name in (() if public else ("UNAUTHORIZED", "FORBIDDEN")) + names + ("SERVICE_UNAVAILABLE",):
            view = blp.alt_response(_STATUS[name], response=name)(view)
        return view
    return wrap
