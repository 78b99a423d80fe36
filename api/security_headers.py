"""Headers every answer carries, so a browser never guesses a type, frames a page or leaks the URL.

The JSON answers get a CSP that allows nothing (they are data, never a page to render); the docs page
sets its own (api/docs.py). ``no-store``: answers hold patient data, which no shared cache may keep.
"""
from __future__ import annotations

from flask import Flask, Response

API_CSP = "default-src 'none'; frame-ancestors 'none'"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Content-Security-Policy", API_CSP)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def install(app: Flask) -> None:
    app.after_request(secure)
