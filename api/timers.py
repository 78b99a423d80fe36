"""Moving simulated time: only on a manual clock (tests, simulations), only for admins."""
from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_smorest import Blueprint

from cartpath.engine.errors import ClockNotManual

from . import schemas as s
from .auth import require
from .conventions import POSITION_HEADERS, consumes, operation_id, refusals
from .views import engine, with_position

blp = Blueprint("timers", __name__, url_prefix="/api/v1/timers",
                description="Timers fire by themselves on the system clock (the scheduler process).")


@blp.route("/fire", methods=["POST"])
@consumes("json")
@operation_id(blp, "fireTimers")
@blp.arguments(s.FireTimersSchema)
@blp.response(200, s.FireResultSchema, headers=POSITION_HEADERS)
@refusals(blp, "BAD_REQUEST", "CONFLICT", "UNSUPPORTED_MEDIA_TYPE")
def fire(body: dict[str, Any]):
    """Move the manual clock to `now` and fire every timer due by then (admin; 409 on a real clock)."""
    require()
    app = engine()
    if not app.clock.manual:
        raise ClockNotManual("the server runs on the system clock: timers fire by themselves and time cannot be "
                             "moved (start it with CARTPATH_CLOCK=manual for tests and simulations)")
    fired = app.fire_due_timers(body["now"])
    response = jsonify(s.FireResultSchema().dump({"fired": fired, "now": app.clock.now()}))
    return with_position(response, None)  # the end of the log: at or after every timer this fired
