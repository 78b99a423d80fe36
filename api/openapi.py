"""flask-smorest's Api, told that errors are RFC 7807 problems and that callers bring a bearer token."""
from __future__ import annotations

import http
from typing import Any

from flask_smorest import Api
from flask_smorest.utils import prepare_response

from .conventions import RETRY_AFTER
from .errors import PROBLEM_MIMETYPE, http_problem
from .schemas import ProblemSchema

OPENAPI_CONFIG = {
    "API_TITLE": "cartpath",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "API_SPEC_OPTIONS": {
        "info": {"description": "Event-sourced CAR-T care pathways. Every write answers with the log position "
                                "of what it recorded (header X-Cartpath-Position); pathways carry their "
                                "version as ETag, checked with If-Match."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
    },
}


class ProblemApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return http_problem(error)

    def _register_responses(self):
        """Default responses, with errors documented as application/problem+json."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            content_type = PROBLEM_MIMETYPE if status >= 400 else self.DEFAULT_RESPONSE_CONTENT_TYPE
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            if status == http.HTTPStatus.SERVICE_UNAVAILABLE:  # every 503 says when to try again
                response["headers"] = {"Retry-After": RETRY_AFTER}
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Not yet: the report has not reached `min_position`; retry after a moment",
                    "schema": self.ERROR_SCHEMA, "headers": {"Retry-After": RETRY_AFTER}}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("NOT_YET", response, lazy=True)
        response = {"description": "A refusal (RFC 7807 problem)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)
