from flask import Blueprint, current_app, jsonify

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health():
    app = current_app.extensions["cartpath"]
    return jsonify({"status": "ok", "clock": "manual" if app.clock.manual else "system",
                    "now": app.clock.now().isoformat(), "position": app.recorder.max_notification_id() or 0})
