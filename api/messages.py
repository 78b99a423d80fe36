"""Messages from the manufacturer (the handshake of PATHWAY.md), delivered to the one pathway they name."""
from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_smorest import Blueprint
from werkzeug.exceptions import Forbidden

from . import schemas as s
from .auth import MANUFACTURER, require
from .conventions import POSITION_HEADERS, consumes, operation_id, refusals
from .views import engine, with_position

blp = Blueprint("messages", __name__, url_prefix="/api/v1/messages",
                description="Inbound manufacturer messages, correlated by order_id and coi; "
                            "exactly once per message_id.")


@blp.route("", methods=["POST"])
@consumes("json")
@operation_id(blp, "deliverMessage")
@blp.arguments(s.MessageSchema)
@blp.response(200, s.MessageAnswerSchema, headers=POSITION_HEADERS)
@refusals(blp, "BAD_REQUEST", "REQUEST_ENTITY_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
def deliver(body: dict[str, Any]):
    """Deliver a message for one of the caller's orders. A repeated message_id gets the first answer;
    repeated with another name, correlation or payload it is refused (409). Ids are the sender's own."""
    principal = require(MANUFACTURER)
    org = None
    if not principal.is_admin:
        if not principal.org:
            raise Forbidden("a manufacturer token must carry its `org` claim")
        org = principal.org
    correlation = {"order_id": body["correlation"]["order_id"]}
    if body["correlation"].get("coi") is not None:
        correlation["coi"] = body["correlation"]["coi"]
    app = engine()
    answer = app.deliver_message(body["name"], body["message_id"], correlation, body["payload"],
                                 actor=principal.actor(), expected_manufacturer=org)
    response = with_position(jsonify({}), answer.get("position"))
    # a repeat recorded nothing: its position is the end of the log, at or after the first answer's
    answer["position"] = int(response.headers["X-Cartpath-Position"])
    response.set_data(jsonify(s.MessageAnswerSchema().dump(answer)).get_data())
    return response
