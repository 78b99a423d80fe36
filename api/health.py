from flask_smorest import Blueprint

from .conventions import operation_id, public
from .schemas import HealthSchema
from .views import engine

blueprint = Blueprint("health", __name__, url_prefix="/api/v1", description="Liveness (no token needed).")


@blueprint.route("/health", methods=["GET"])
@operation_id(blueprint, "getHealth")
@blueprint.response(200, HealthSchema)
@blueprint.doc(security=[])
@public
def health():
    """Is the server up; which clock it runs on; how far the event log goes."""
    app = engine()
    return {"status": "ok", "clock": "manual" if app.clock.manual else "system",
            "now": app.clock.now(), "position": app.recorder.max_notification_id() or 0}
