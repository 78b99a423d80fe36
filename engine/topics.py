"""Stable names for stored classes.

A stored event names its class by a topic. eventsourcing derives it from the Python module
path, so installing the code as ``cartpath.engine`` (it was top-level ``engine``) would have
changed every topic: old stores would have needed aliases, and every reader that filters the
log by topic would have had to know both names. Topics are a storage format, so they are
pinned here to the names the first stores were written with.
"""
from __future__ import annotations

from eventsourcing.domain import CanMutateAggregate


def pin_topics(module: str, *aggregates: type) -> None:
    """Give each aggregate and each of its event classes the topic ``engine.<module>:<qualname>``."""
    for aggregate in aggregates:
        aggregate.TOPIC = f"engine.{module}:{aggregate.__qualname__}"  # type: ignore[attr-defined]
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, CanMutateAggregate) \
                    and value.__qualname__.startswith(aggregate.__qualname__ + "."):
                value.TOPIC = f"engine.{module}:{value.__qualname__}"  # type: ignore[attr-defined]
