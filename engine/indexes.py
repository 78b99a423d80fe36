"""Small aggregates saved beside a pathway, in the same transaction, where a command
needs uniqueness the event store can enforce: their ids are derived from the key."""
from __future__ import annotations

import uuid
from datetime import date

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Transcoding

from .topics import pin_topics

NS = uuid.NAMESPACE_URL


def order_index_id(order_id: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"cartpath:order:{order_id}")


def message_receipt_id(message_id: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"cartpath:message:{message_id}")


class OrderIndex(Aggregate):
    """order_id -> pathway: created with the order, so an order id is never reused."""

    @staticmethod
    def create_id(order_id: str, pathway_id: uuid.UUID):
        return order_index_id(order_id)

    @event("Registered")
    def __init__(self, order_id: str, pathway_id: uuid.UUID):
        self.order_id = order_id
        self.pathway_id = pathway_id


class MessageReceipt(Aggregate):
    """The first answer to a message_id, returned again for any repeat."""

    @staticmethod
    def create_id(message_id: str, name: str, answer: dict):
        return message_receipt_id(message_id)

    @event("Recorded")
    def __init__(self, message_id: str, name: str, answer: dict):
        self.message_id = message_id
        self.name = name
        self.answer = answer


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj):
        return obj.isoformat()

    def decode(self, data):
        return date.fromisoformat(data)




pin_topics("indexes", OrderIndex, MessageReceipt)
