"""The browsable API page at /api/v1/docs: Swagger UI from the ``swagger-ui-bundle`` package, served by
cartpath itself, so the page works on a network without internet access and its CSP names no CDN."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_file
from swagger_ui_bundle import swagger_ui_path

from .conventions import public

PAGE = Path(__file__).resolve().parent / "docs_page"
# The only files served: a fixed list, so no request names a path of its own.
ASSETS = {
    "swagger-ui.css": Path(str(swagger_ui_path)) / "swagger-ui.css",
    "swagger-ui-bundle.js": Path(str(swagger_ui_path)) / "swagger-ui-bundle.js",
    "favicon-32x32.png": Path(str(swagger_ui_path)) / "favicon-32x32.png",
    "cartpath-docs.js": PAGE / "cartpath-docs.js",
}
# Scripts and styles from this server only (Swagger UI sets some styles inline); images may be data: URIs.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

blueprint = Blueprint("docs", __name__, url_prefix="/api/v1")


@blueprint.route("/docs", methods=["GET"])
@public
def page() -> Response:
    return Response((PAGE / "index.html").read_bytes(), mimetype="text/html",
                    headers={"Content-Security-Policy": DOCS_CSP})


@blueprint.route("/docs/<name>", methods=["GET"])
@public
def asset(name: str) -> Response:
    path = ASSETS.get(name)
    if path is None:
        abort(404)
    response = send_file(path, max_age=3600)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
