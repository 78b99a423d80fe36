"""gunicorn's workers, answering what gunicorn refuses itself as problem+json too.

gunicorn refuses an over-long request line (414), oversized or too many headers (431) and
malformed HTTP (400) before the application sees the request, with an HTML page whose text
(and whose warning in the log) quotes what the client sent. These workers answer the same
statuses in the API's own format, with its security headers, and log only the kind of fault.
"""
from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from .errors import HTTP_TYPES, PROBLEM_MIMETYPE, PROBLEM_TYPE_BASE
from .security_headers import API_CSP, HEADERS


def _optional(name: str) -> tuple[type[Exception], ...]:
    """An error class of this gunicorn version (some came later than the oldest one cartpath runs on)."""
    found = getattr(http_errors, name, None)
    return (found,) if isinstance(found, type) else ()


# (exception classes, status, reason, detail): the first that matches; details quote nothing sent
REFUSALS: list[tuple[tuple[type[Exception], ...], int, str, str]] = [
    ((http_errors.LimitRequestLine,), 414, "URI Too Long",
     "the request line (method and URL) is longer than this server accepts"),
    ((http_errors.LimitRequestHeaders,), 431, "Request Header Fields Too Large",
     "the request's headers are larger, or more numerous, than this server accepts"),
    (_optional("UnsupportedTransferCoding"), 501, "Not Implemented",
     "the request's Transfer-Encoding is not supported"),
    (_optional("ExpectationFailed"), 417, "Expectation Failed", "the request's Expect header is not supported"),
    ((http_errors.ForbiddenProxyRequest,), 403, "Forbidden", "the proxy is not allowed"),
]
# the application's own faults (a header it produced) and server configuration stay gunicorn's (500)
NOT_THE_CLIENTS = (*_optional("InvalidResponseHeader"), *_optional("InvalidResponseHeaderName"),
                   *_optional("ConfigurationProblem"))


def refusal(exc: BaseException) -> tuple[int, str, str] | None:
    """(status, reason, detail) for a request gunicorn refused as the client's fault, or None."""
    if isinstance(exc, NOT_THE_CLIENTS) or not isinstance(exc, http_errors.ParseException):
        return None
    for classes, status, reason, detail in REFUSALS:
        if classes and isinstance(exc, classes):
            return status, reason, detail
    return 400, "Bad Request", "the request is not valid HTTP/1.1"


def problem_bytes(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"type": PROBLEM_TYPE_BASE + HTTP_TYPES.get(status, "malformed-request"), "title": reason,
                       "status": status, "detail": detail}).encode()
    headers = {"Content-Type": PROBLEM_MIMETYPE, "Content-Length": str(len(body)), "Connection": "close",
               **HEADERS, "Content-Security-Policy": API_CSP, "Cache-Control": "no-store"}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


class ProblemErrors:
    """Mixed into a gunicorn worker class: its handle_error, for the client's faults."""

    log: Any

    def handle_error(self, req, client, addr, exc) -> None:
        found = refusal(exc)
        if found is None:
            super().handle_error(req, client, addr, exc)  # type: ignore[misc]
            return
        status, reason, detail = found
        # the kind of fault only: gunicorn's own message quotes the request line or header
        self.log.warning("refused a request from %s: %s %s", (addr or ("?",))[0], status, type(exc).__name__)
        try:
            util.write_nonblock(client, problem_bytes(status, reason, detail))
        except Exception:  # the client has gone: nothing to answer
            self.log.debug("could not send the %s refusal", status)


class ProblemSyncWorker(ProblemErrors, SyncWorker):
    """gunicorn's sync worker (one request, one connection), for `gunicorn -k` by hand."""


class ProblemThreadWorker(ProblemErrors, ThreadWorker):
    """`cartpath serve [--threads N]`: keep-alive connections, N requests at a time per worker.

    A worker takes a new connection only while it has a thread free. gunicorn's gthread worker
    accepts whenever its event loop runs, busy or not, and a keep-alive connection then stays with
    the worker that took it: when 16 clients connected at once, one worker could take all 16 and
    serve them one request at a time while the other stood idle, and the HTTP bench's throughput
    halved or not from one run to the next. A busy worker now leaves new connections in the
    listen queue, where a worker with a thread free takes them. Its own keep-alive connections
    are served as before. It rides on gunicorn 27's ThreadWorker hooks (``set_accept_enabled``,
    ``enqueue_req``, ``finish_request``: setup.cfg pins 27; tests/e2e/test_fair_accept.py)."""

    _in_flight = 0

    def set_accept_enabled(self, enabled: bool) -> None:
        busy = self._in_flight >= self.cfg.threads  # type: ignore[attr-defined]
        super().set_accept_enabled(enabled and not busy)  # type: ignore[misc]

    def enqueue_req(self, conn: Any) -> None:
        self._in_flight += 1
        super().enqueue_req(conn)  # type: ignore[misc]
        self._accept_if_free()

    def finish_request(self, conn: Any, fs: Any) -> None:
        self._in_flight -= 1
        super().finish_request(conn, fs)  # type: ignore[misc]  # may take the connection's next request
        self._accept_if_free()

    def _accept_if_free(self) -> None:
        # on the event loop's thread (accept, readable connections and finished requests all run there);
        # a stopping worker has stopped accepting for good
        if self.alive:  # type: ignore[attr-defined]
            self.set_accept_enabled(self.nr_conns < self.worker_connections)  # type: ignore[attr-defined]
