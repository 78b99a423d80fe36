"""Tocilizumab stock per centre: the pharmacy's receipts, and who may read the stock.

Reservations, uses and releases are not posted here: they follow from completing the
pathway's own tasks (``tocilizumab_reservation``, ``toxicity_treatment``, ``discharge``),
in the same save (see engine/inventory.py).
"""
from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import Forbidden

from cartpath.engine import inventory

from .auth import AUDITOR, check_center, require
from .conventions import POSITION_HEADERS, consumes, operation_id, refusals
from .views import engine, with_position

RECEIVE_ROLES = ("pharmacy",)
READ_ROLES = ("pharmacy", "ward", "coordination", "hematology", AUDITOR)
_id = validate.Length(min=1, max=inventory.MAX_TEXT)

blp = Blueprint("inventory", __name__, url_prefix="/api/v1/inventory",
                description="Each centre's tocilizumab stock: lots received, doses reserved per patient, "
                            "doses available. Pathway tasks reserve, use and release doses.")


class ReceiptSchema(Schema):
    center = fields.String(required=True, validate=_id)
    doses = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=inventory.MAX_DOSES),
                           metadata={"description": "vials received"})
    lot = fields.String(required=True, validate=_id, metadata={"example": "TCZ-24-118"})
    expires_on = fields.Date(required=True, metadata={"description": "the lot's expiry date; from the day after, "
                                                                     "its doses are not reservable"})


class StockQuerySchema(Schema):
    center = fields.String(required=True, validate=_id)


class LotSchema(Schema):
    lot = fields.String(required=True)
    expires_on = fields.String(required=True, metadata={"format": "date"})
    received = fields.Integer(required=True)
    used = fields.Integer(required=True)
    on_hand = fields.Integer(required=True, metadata={"description": "received - used (expired doses included)"})
    reserved = fields.Integer(required=True)
    available = fields.Integer(required=True, metadata={"description": "reservable now (0 once expired)"})
    expired = fields.Boolean(required=True)


class HeldLotSchema(Schema):
    lot = fields.String(required=True)
    doses = fields.Integer(required=True)


class ReservationSchema(Schema):
    pathway_id = fields.String(required=True)
    doses = fields.Integer(required=True, metadata={"description": "doses still reserved for the pathway"})
    lots = fields.List(fields.Nested(HeldLotSchema), required=True)


class StockSchema(Schema):
    center = fields.String(required=True)
    today = fields.String(required=True, metadata={"format": "date", "description": "the recorded clock's date "
                                                                                     "(UTC) expiry is judged on"})
    on_hand = fields.Integer(required=True, metadata={"description": "doses physically there: received - used, "
                                                                     "expired lots included"})
    reserved = fields.Integer(required=True, metadata={"description": "doses held for patients"})
    available = fields.Integer(required=True, metadata={"description": "reservable: on hand in unexpired lots, "
                                                                       "not reserved"})
    expired = fields.Integer(required=True, metadata={"description": "on-hand doses of expired lots"})
    unreserved_uses = fields.Integer(required=True, metadata={"description": "tocilizumab treatments recorded "
                                                                             "with no dose reserved here"})
    lots = fields.List(fields.Nested(LotSchema), required=True)
    reservations = fields.List(fields.Nested(ReservationSchema), required=True)


@blp.route("/tocilizumab/receipts", methods=["POST"])
@consumes("json")
@operation_id(blp, "receiveTocilizumab")
@blp.arguments(ReceiptSchema)
@blp.response(201, StockSchema, description="The centre's stock after the receipt", headers=POSITION_HEADERS)
@refusals(blp, "BAD_REQUEST", "CONFLICT", "UNSUPPORTED_MEDIA_TYPE")
def receive(body: dict[str, Any]):
    """Record tocilizumab vials received by a centre's pharmacy (pharmacy of that centre, admin)."""
    principal = require(*RECEIVE_ROLES)
    check_center(principal, body["center"])
    app = engine()
    stock = inventory.receive(app, body["center"], body["doses"], body["lot"], body["expires_on"],
                              actor=principal.actor())
    response = jsonify(stock)
    response.status_code = 201
    return with_position(response, None)


@blp.route("/tocilizumab", methods=["GET"])
@operation_id(blp, "getTocilizumabStock")
@blp.arguments(StockQuerySchema, location="query")
@blp.response(200, StockSchema)
@refusals(blp, "UNPROCESSABLE_ENTITY")
def stock(query: dict[str, Any]):
    """A centre's tocilizumab stock (its pharmacy, ward, coordination, hematology; auditors; admins)."""
    principal = require(*READ_ROLES)
    if not principal.reads_everything and query["center"] not in principal.centers:
        raise Forbidden(f"you are not authorised for centre {query['center']!r}")
    return inventory.show(engine(), query["center"])
