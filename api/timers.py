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
@refusals(blp, "BAD_REQUEST", "CONFLICT", "UNPROCESSABLE_ENTITY", "UNSUPPORTED_MEDIA_TYPE")
def fire(body: dict[str, Any]):
    """Fire every timer due by `now` and move the manual clock there (admin; 409 on a real clock).

    A pathway whose step fails gets an incident (listed in `incidents`) and stops; the others fire.
    `now` must lie in 1970-2200 (422); a refused request never moves the clock."""
    require()
    app = engine()
    if not app.clock.manual:
        raise ClockNotManual("the server runs on the system clock: timers fire by themselves and time cannot be "
                             "moved (start it with CARTPATH_CLOCK=manual for tests and simulations)")
    done = app.fire_round(body["now"])
    response = jsonify(s.FireResultSchema().dump({"fired": done.fired, "now": app.clock.now(),
                                                   "incidents": done.incidents}))
    return with_position(response, None)  # the end of the log: at or after every timer this fired
