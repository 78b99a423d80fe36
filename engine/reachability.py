"""Whether the PostgreSQL server the environment names answers, said at once and with its reason."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .errors import CartpathError


class StoreUnavailable(CartpathError):
    """The database cannot be reached, or refuses our settings."""

    code = "store-unavailable"


def check_reachable(overrides: Mapping[str, str] | None = None) -> None:
    """PostgreSQL selected: connect once, directly. eventsourcing's pool would retry for
    POSTGRES_CONNECT_TIMEOUT seconds ten times and then say only that it got no connection;
    this says where it tried and why it failed, at once."""
    if (({**os.environ, **(overrides or {})}).get("PERSISTENCE_MODULE") or "").strip() != "eventsourcing.postgres":
        return
    import psycopg
    from eventsourcing.utils import Environment

    from .locks import APP_NAME, postgres_connect_kwargs
    settings = postgres_connect_kwargs(Environment(APP_NAME, {**os.environ, **(overrides or {})}))
    try:
        psycopg.connect(**settings, autocommit=True).close()
    except psycopg.Error as err:
        raise unreachable(settings, err) from None


def unreachable(settings: Mapping[str, Any], err: BaseException) -> StoreUnavailable:
    """The refusal for a server that did not answer: where we tried, as whom, and its first line of why."""
    why = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return StoreUnavailable(f"PostgreSQL at {settings['host']}:{settings['port']} database {settings['dbname']!r} "
                            f"as {settings['user']!r} (PERSISTENCE_MODULE=eventsourcing.postgres) cannot be reached: "
                            f"{why}")
