"""The hash chain's check over HTTP (auditors, admins): ``GET /api/v1/audit/integrity``."""
from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from cartpath.engine.integrity import check_integrity

from . import schemas as s
from .auth import AUDITOR, require
from .conventions import operation_id, refusals
from .views import engine

blp = Blueprint("audit-integrity", __name__, url_prefix="/api/v1/audit",
                description="Tamper evidence: the store's hash chain, checked on demand.")


@blp.route("/integrity", methods=["GET"])
@operation_id(blp, "checkIntegrity")
@blp.arguments(s.IntegrityQuerySchema, location="query")
@blp.response(200, s.IntegrityReportSchema)
@refusals(blp, "NOT_FOUND", "CONFLICT", "UNPROCESSABLE_ENTITY")
def integrity(query: dict[str, Any]):
    """Walk the hash chain and name the first event altered, removed, inserted or reordered (`ok: false`)."""
    require(AUDITOR)
    return check_integrity(engine(), pathway_id=query.get("pathway"), anchor=query.get("anchor")).as_dict()
