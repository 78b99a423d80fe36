"""Which pathway a manufacturer message belongs to: every correlation rule in one place.

PATHWAY.md: a message names its pathway by ``order_id`` (known from ``order_placed``)
and ``coi``. Every inbound message carries both. ``slot_confirmed`` is the one that
*assigns* the COI: it may bring a COI the pathway does not know yet (or the same
again); every later message must carry the pathway's COI.
"""
from __future__ import annotations

from typing import Any

from .errors import InvalidMessage, MessageNotCorrelated
from .messages import CORRELATION_KEYS, INBOUND
from .pathway import Pathway
from .text import text_problem

ASSIGNS_COI = "slot_confirmed"


def check_message_id(message_id: Any) -> str:
    if not isinstance(message_id, str) or not message_id.strip():
        raise InvalidMessage("message_id is required", {"message_id": ["required"]})
    problem = text_problem(message_id)
    if problem is not None:
        raise InvalidMessage(f"message_id {problem}", {"message_id": [problem]})
    return message_id


def check_message(name: str, correlation: Any) -> tuple[str, str]:
    """The message's (order_id, coi), or InvalidMessage if it is not a well-formed inbound message."""
    if name not in INBOUND:
        raise InvalidMessage(f"unknown message {name!r}; expected one of {', '.join(sorted(INBOUND))}",
                             {"name": [f"unknown message {name!r}"]})
    if not isinstance(correlation, dict):
        raise InvalidMessage("correlation must be an object", {"correlation": ["must be an object"]})
    unknown = set(correlation) - set(CORRELATION_KEYS)
    if unknown:
        raise InvalidMessage(f"unknown correlation keys {sorted(unknown)}", {"correlation": ["unknown keys"]})
    order_id, coi = correlation.get("order_id"), correlation.get("coi")
    if not isinstance(order_id, str) or not order_id or not isinstance(coi, str) or not coi:
        raise InvalidMessage(f"{name} must carry correlation order_id and coi",
                             {"correlation": ["order_id and coi are required"]})
    for key, value in (("order_id", order_id), ("coi", coi)):
        problem = text_problem(value)
        if problem is not None:
            raise InvalidMessage(f"correlation.{key} {problem}", {f"correlation.{key}": [problem]})
    return order_id, coi


def without_correlation(payload: Any, correlation: dict[str, Any]) -> Any:
    """PATHWAY.md lists ``order_id`` and ``coi`` in the payloads as well: a payload may repeat them
    when they equal the correlation (they are kept there, once); one that differs is refused, since
    it would say two things about which patient the message is for."""
    if not isinstance(payload, dict):
        return payload
    clean = dict(payload)
    for key in CORRELATION_KEYS:
        if key in clean:
            if clean[key] != correlation.get(key):
                raise InvalidMessage(f"payload.{key} {clean[key]!r} differs from correlation.{key} "
                                     f"{correlation.get(key)!r}",
                                     {f"payload.{key}": [f"differs from correlation.{key}"]})
            del clean[key]
    return clean


def check_pathway(pathway: Pathway, name: str, order_id: str, coi: str,
                  expected_manufacturer: str | None = None) -> None:
    """MessageNotCorrelated unless this (active) pathway is the one the message names."""
    if expected_manufacturer is not None and pathway.correlation.get("manufacturer") != expected_manufacturer:
        raise MessageNotCorrelated(f"no pathway is waiting for order {order_id!r}")
    if pathway.status != "active":
        raise MessageNotCorrelated(f"the pathway of order {order_id!r} has ended ({pathway.outcome})")
    known_coi = pathway.coi
    if name == ASSIGNS_COI:
        if known_coi is not None and coi != known_coi:
            raise MessageNotCorrelated(f"order {order_id!r} already has COI {known_coi!r}, not {coi!r}")
    elif known_coi is None or coi != known_coi:
        raise MessageNotCorrelated(f"no pathway waits for order {order_id!r} with COI {coi!r}")
