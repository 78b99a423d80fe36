"""The web app at /: one page (api/web_app/index.html) and small ES modules that use the API at /api/v1
like any other client; this module only serves those files, the page's configuration and, in development
(CARTPATH_DEV_USERS set), a sign-in that mints tokens for the configured users.

Tokens live in the page's memory only (never localStorage): the app is one page whose views are
#/routes, so moving between them keeps the token; a reload signs in again.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_from_directory
from werkzeug.exceptions import NotFound, UnprocessableEntity

from cartpath.engine.settings import dev_users

from .auth import mint_token, signing_key
from .conventions import consumes, public

APP_DIR = Path(__file__).resolve().parent / "web_app"
VENDOR = APP_DIR / "vendor"
# What make copies from web/'s npm packages into vendor/ (see the Makefile, WEB_STAMP)
VENDOR_FILES = ("bpmn-navigated-viewer.production.min.js", "diagram-js.css", "bpmn-js.css", "chart.umd.min.js")
DEV_TOKEN_SECONDS = 8 * 3600
SIGNING_TOKEN_SECONDS = 300  # a signature's token must have proved who signs within 5 minutes
DEFAULT_SCOPE = "openid profile"

blueprint = Blueprint("web", __name__)


def page_csp(oidc_origin: str | None) -> str:
    """Scripts, styles and fonts from this server only; bpmn-js draws SVG with inline style attributes and
    its logo as a data: URI; the page talks to this server (and the OIDC issuer, when one is configured)."""
    connect = "'self'" + (f" {oidc_origin}" if oidc_origin else "")
    return ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"font-src 'self'; connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'")


def install(app: Flask, env: Mapping[str, str]) -> None:
    """Register the web app; CARTPATH_DEV_USERS is read (and checked) once, here."""
    issuer = (env.get("CARTPATH_OIDC_ISSUER") or "").strip().rstrip("/") or None
    origin = None
    if issuer:
        scheme, _, rest = issuer.partition("://")
        origin = f"{scheme}://{rest.split('/', 1)[0]}"
    app.extensions["cartpath_web"] = {
        "dev_users": dev_users(env),
        "oidc": {"issuer": issuer, "client_id": env.get("CARTPATH_OIDC_CLIENT_ID") or "",
                 "scope": env.get("CARTPATH_OIDC_SCOPE") or DEFAULT_SCOPE} if issuer else None,
        "csp": page_csp(origin),
        "signing": signing_key(env) if env.get("CARTPATH_DEV_USERS") else None,
        "issuer_claim": env.get("CARTPATH_JWT_ISSUER") or None,
        "audience_claim": env.get("CARTPATH_JWT_AUDIENCE") or None,
    }
    if app.extensions["cartpath_web"]["dev_users"] is not None:
        # anyone who reaches the server can sign in as these users: say so wherever the server is started
        app.logger.warning("CARTPATH_DEV_USERS is set: the web app's development sign-in is on (%d users); "
                           "never on a server people reach", len(app.extensions["cartpath_web"]["dev_users"]))
    app.register_blueprint(blueprint)


def _settings() -> dict[str, Any]:
    return current_app.extensions["cartpath_web"]


def _with_csp(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _settings()["csp"]
    return response


@blueprint.route("/", methods=["GET"])
@public
def index() -> Response:
    missing = [name for name in VENDOR_FILES if not (VENDOR / name).is_file()]
    if missing:  # a checkout where `make` has not installed web/'s packages yet
        return _with_csp(Response(
            "<!doctype html><title>cartpath</title><p>The web app's libraries are not installed: run "
            "<code>make run</code> (or <code>make .venv/web/.installed-stamp</code>).</p>",
            status=503, mimetype="text/html"))
    return _with_csp(Response((APP_DIR / "index.html").read_bytes(), mimetype="text/html"))


@blueprint.route("/app/config.json", methods=["GET"])
@public
def config() -> Response:
    """What the sign-in page offers: the development users' picker, OIDC, or both."""
    settings = _settings()
    return jsonify({"dev_sign_in": settings["dev_users"] is not None, "oidc": settings["oidc"]})


@blueprint.route("/app/<path:name>", methods=["GET"])
@public
def asset(name: str) -> Response:
    if name.endswith(".html"):
        raise NotFound()
    response = send_from_directory(APP_DIR, name, max_age=0)  # safe_join: nothing outside web_app/
    if name.endswith(".js"):
        response.mimetype = "text/javascript"
    return _with_csp(response)


def _dev_users() -> list[dict[str, Any]]:
    users = _settings()["dev_users"]
    if users is None:
        raise NotFound("development sign-in is off (CARTPATH_DEV_USERS is not set)")
    return users


@blueprint.route("/auth/dev/users", methods=["GET"])
@public
def users() -> Response:
    return jsonify({"items": _dev_users()})


@blueprint.route("/auth/dev/token", methods=["POST"])
@public
@consumes("json")
def token() -> Response:
    """``{sub, signing?}`` -> ``{token, expires_in}``: a bearer token for a configured user, or (signing)
    a 5-minute signing token whose ``auth_time`` is now (the user just picked themself again)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("sub"), str):
        raise UnprocessableEntity("send {\"sub\": \"...\"}, one of the configured users")
    sub = body["sub"]
    found = [u for u in _dev_users() if u["sub"] == sub]
    if not found:
        raise UnprocessableEntity(f"{sub!r} is not a configured user (CARTPATH_DEV_USERS)")
    user, signing = found[0], bool(body.get("signing"))
    settings = _settings()
    algorithm, key = settings["signing"]
    ttl = SIGNING_TOKEN_SECONDS if signing else DEV_TOKEN_SECONDS
    minted = mint_token(key, algorithm, sub=user["sub"], roles=user["roles"], centers=user["centers"],
                        name=user["name"], org=user.get("org"), ttl_seconds=ttl, issuer=settings["issuer_claim"],
                        audience=settings["audience_claim"], auth_time=int(time.time()) if signing else None)
    return jsonify({"token": minted, "expires_in": ttl, "user": user})
