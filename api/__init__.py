"""The REST API: a Flask app factory serving cartpath under /api/v1."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from .errors import register_error_handlers


def create_app(config: Mapping[str, Any] | None = None, *, cartpath=None) -> Flask:
    """Build the Flask app. ``cartpath`` is an engine CartPath; by default one is opened
    from the environment with the bundled processes deployed."""
    app = Flask("cartpath")
    app.config.update(config or {})
    if cartpath is None:
        from engine.config import open_app
        cartpath = open_app(deploy_bundled=app.config.get("DEPLOY_BUNDLED", True))
    app.extensions["cartpath"] = cartpath
    register_error_handlers(app)
    from .health import blueprint as health
    app.register_blueprint(health, url_prefix="/api/v1")
    return app
