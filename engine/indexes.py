"""Small aggregates saved beside a pathway, in the same transaction, where a command
needs uniqueness the event store can enforce: their ids are derived from the key."""
from __future__ import annotations

import uuid
from datetime import date

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Transcoding

from .topics import pin_topics

NS = uuid.NAMESPACE_URL


def order_index_id(order_id: str, manufacturer: str | None = None) -> uuid.UUID:
    """``manufacturer`` None: the order id's first holder (any manufacturer; every order before ids
    were scoped); otherwise a later manufacturer's own use of the same id."""
    if manufacturer is None:
        return uuid.uuid5(NS, f"cartpath:order:{order_id}")
    return uuid.uuid5(NS, f"cartpath:order:{manufacturer}:{order_id}")


def message_receipt_id(message_id: str) -> uuid.UUID:
    """Where a message_id's first answer was kept before ids were scoped to their sender."""
    return uuid.uuid5(NS, f"cartpath:message:{message_id}")


def delivered_message_id(sender: str, message_id: str) -> uuid.UUID:
    """(v2) message ids are scoped to the sending manufacturer: two companies may use the same one."""
    return uuid.uuid5(NS, f"cartpath:message:{sender}:{message_id}")


def coi_index_id(coi: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"cartpath:coi:{coi}")


class OrderIndex(Aggregate):
    """order_id -> pathway of the first order placed with this id, so a manufacturer's order id is
    never reused. Order ids are the manufacturer's: another manufacturer may use the same id (a
    ``ManufacturerOrder``), noted here so that a sender-less lookup (admin, CLI) knows it is ambiguous."""

    shared_with: tuple[str, ...] = ()  # entries recorded before ids were scoped have none

    @staticmethod
    def create_id(order_id: str, pathway_id: uuid.UUID):
        return order_index_id(order_id)

    @event("Registered")
    def __init__(self, order_id: str, pathway_id: uuid.UUID):
        self.order_id = order_id
        self.pathway_id = pathway_id

    @event("Shared")
    def share(self, manufacturer: str) -> None:
        self.shared_with = (*self.shared_with, manufacturer)


class ManufacturerOrder(Aggregate):
    """(manufacturer, order_id) -> pathway, when another manufacturer holds the order id first."""

    @staticmethod
    def create_id(manufacturer: str, order_id: str, pathway_id: uuid.UUID):
        return order_index_id(order_id, manufacturer)

    @event("Registered")
    def __init__(self, manufacturer: str, order_id: str, pathway_id: uuid.UUID):
        self.manufacturer = manufacturer
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


class DeliveredMessage(Aggregate):
    """A manufacturer's message_id: a digest of what it carried and the first answer. A repeat
    with the same content gets the answer again; with other content it is refused (never
    silently taken for the first)."""

    @staticmethod
    def create_id(sender: str, message_id: str, name: str, digest: str, answer: dict):
        return delivered_message_id(sender, message_id)

    @event("Recorded")
    def __init__(self, sender: str, message_id: str, name: str, digest: str, answer: dict):
        self.sender = sender
        self.message_id = message_id
        self.name = name
        self.digest = digest
        self.answer = answer


class CoiIndex(Aggregate):
    """coi -> pathway: created with the slot that assigns it, so a COI belongs to one patient."""

    @staticmethod
    def create_id(coi: str, pathway_id: uuid.UUID):
        return coi_index_id(coi)

    @event("Registered")
    def __init__(self, coi: str, pathway_id: uuid.UUID):
        self.coi = coi
        self.pathway_id = pathway_id


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj):
        return obj.isoformat()

    def decode(self, data):
        return date.fromisoformat(data)




pin_topics("indexes", OrderIndex, ManufacturerOrder, MessageReceipt, DeliveredMessage, CoiIndex)
