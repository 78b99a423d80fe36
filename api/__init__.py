"""The REST API: a Flask app factory serving cartpath under /api/v1.

Blueprints are thin: parse (marshmallow), check who may (auth.py), call one
engine use case, map refusals (errors.py). OpenAPI 3 is generated from the
schemas at /api/v1/openapi.json, browsable at /api/v1/docs (api/docs.py).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from functools import partial
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from cartpath.engine.settings import capacity_settings

from .errors import register_error_handlers

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class JSONProvider(DefaultJSONProvider):
    """ISO 8601 instants (Flask's default is the HTTP-date format) and string UUIDs."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, (datetime, date)):
            return o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        return DefaultJSONProvider.default(o)


class CartpathFlask(Flask):
    def log_exception(self, exc_info) -> None:
        """Type, place and stack of a crash, but not its message: messages can quote request data."""
        import traceback
        kind, _, tb = exc_info
        from flask import request
        stack = "".join(traceback.format_tb(tb)) if tb is not None else ""
        self.logger.error("unhandled %s on %s %s\n%s", getattr(kind, "__name__", kind), request.method,
                          request.url_rule.rule if request.url_rule else "?", stack)


def settings_env(config: Mapping[str, Any], cartpath) -> dict[str, str]:
    """CARTPATH_* settings: the app config wins over the engine's env, which wins over the process env."""
    env = {k: v for k, v in os.environ.items() if k.startswith("CARTPATH_")}
    if cartpath is not None:
        env.update({k: v for k, v in dict(cartpath.env).items() if k.startswith("CARTPATH_") and v is not None})
    env.update({k: str(v) for k, v in config.items() if k.startswith("CARTPATH_")})
    return env


def create_app(config: Mapping[str, Any] | None = None, *, cartpath=None) -> Flask:
    """Build the Flask app. ``cartpath`` is an engine CartPath; by default one is opened
    from the environment with the bundled processes deployed (``DEPLOY_BUNDLED=False``
    for server workers: `cartpath serve` deploys once before starting them)."""
    from cartpath.projections.directory import Directory
    from cartpath.projections.feeds import ManufacturerOf

    from .auth import TokenVerifier, auth_settings
    from .conventions import install, public
    from .openapi import OPENAPI_CONFIG, ProblemApi

    app = CartpathFlask("cartpath")
    app.json = JSONProvider(app)
    app.config.update(OPENAPI_CONFIG)
    app.config.update(config or {})
    refused: str | None = None
    if cartpath is None:
        from cartpath.engine.clock import ClockMismatch
        from cartpath.engine.config import open_app
        # no probe: a worker (re)started while the database restarts answers 503s until it is back
        try:
            cartpath = open_app(deploy_bundled=app.config.get("DEPLOY_BUNDLED", True), probe=False)
        except ClockMismatch as err:
            # `cartpath serve` refuses to start on such a store; a WSGI server started by other means
            # answers every request with the reason instead of crashing its workers at import
            refused = err.detail
            cartpath = open_app(probe=False, check_clock=False)
    env = settings_env(app.config, cartpath)
    capacity_settings(env)  # a bad CARTPATH_BEDS & co. stops the app here, naming the variable
    app.extensions["cartpath_settings_env"] = env
    app.config["MAX_CONTENT_LENGTH"] = int(env.get("CARTPATH_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
    app.extensions["cartpath"] = cartpath
    app.extensions["cartpath_tokens"] = TokenVerifier(auth_settings(env))
    app.extensions["cartpath_directory"] = Directory(cartpath)
    app.extensions["cartpath_manufacturers"] = ManufacturerOf(cartpath)

    api = ProblemApi(app)
    from . import definitions, feeds, health, incidents, messages, pathways, tasks, timers
    for blp in (health.blueprint, definitions.blp, pathways.blp, tasks.blp, messages.blp, feeds.blp, timers.blp,
                incidents.blp):
        api.register_blueprint(blp)
    from . import process_report, reports  # the read side (projections)
    api.register_blueprint(reports.blp)
    api.register_blueprint(process_report.blp)
    from . import inventory
    api.register_blueprint(inventory.blp)
    from . import integrity
    api.register_blueprint(integrity.blp)
    from . import docs, security_headers
    app.register_blueprint(docs.blueprint)
    from . import migrations
    api.register_blueprint(migrations.blp)
    from . import audit_trail
    api.register_blueprint(audit_trail.blp)
    from . import simulations
    api.register_blueprint(simulations.blp)
    register_error_handlers(app)
    if refused is not None:  # first: a store of the other clock answers this to everyone, token or not
        app.before_request(partial(_refuse_all, refused))
    install(app)
    security_headers.install(app)
    from . import web  # the web app at / (the API's own client)
    web.install(app, env)
    for path in ("/api/v1", "/api/v1/"):  # a person who types the API's address lands on its docs
        app.add_url_rule(path, f"to_docs{path}", public(_to_docs), strict_slashes=False)
    return app


def _refuse_all(detail: str):
    from .errors import PROBLEM_TYPE_BASE, problem
    return problem(503, "Service Unavailable", detail, PROBLEM_TYPE_BASE + "clock-mismatch")


def _to_docs():
    from flask import redirect
    return redirect("/api/v1/docs", code=302)
