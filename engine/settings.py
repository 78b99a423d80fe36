"""The environment's settings, read once and checked: a bad value is one refusal naming
the variable (CLI: one ``error:`` line; server: it does not start), never a traceback
from deep inside a library.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from .errors import CartpathError

CLOCK_KINDS = ("system", "manual")
DEFAULT_CLOCK_START = "2026-01-05T08:00:00+00:00"
DEFAULT_DATA_DIR = "./var"
POSTGRES_MODULE = "eventsourcing.postgres"
SQLITE_MODULE = "eventsourcing.sqlite"


class BadSetting(CartpathError):
    """A setting of the environment (or a command's option) that cannot be used as given."""

    code = "bad-setting"


def _merged(env: Mapping[str, str] | None) -> dict[str, str]:
    return {**os.environ, **(env or {})}


def configured_lanes(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """PATHWAY.md's lanes plus CARTPATH_EXTRA_LANES (what lint, deploy and tokens accept)."""
    from .lint import DEFAULT_LANES
    extra = [s.strip() for s in (_merged(env).get("CARTPATH_EXTRA_LANES") or "").split(",") if s.strip()]
    return tuple(DEFAULT_LANES) + tuple(lane for lane in extra if lane not in DEFAULT_LANES)


def clock_kind(env: Mapping[str, str] | None = None) -> str:
    """``system`` (default) or ``manual``; anything else is refused."""
    raw = (_merged(env).get("CARTPATH_CLOCK") or "system").strip()
    if raw.lower() not in CLOCK_KINDS:
        raise BadSetting(f"CARTPATH_CLOCK={raw!r} is not a clock: expected one of {', '.join(CLOCK_KINDS)}")
    return raw.lower()


def clock_start(env: Mapping[str, str] | None = None) -> datetime:
    """Where a manual clock starts (ISO 8601 with a UTC offset or Z)."""
    from .times import parse_instant
    raw = (_merged(env).get("CARTPATH_CLOCK_START") or DEFAULT_CLOCK_START).strip()
    try:
        return parse_instant(raw)
    except ValueError:
        raise BadSetting(f"CARTPATH_CLOCK_START={raw!r} is not an ISO 8601 time with a UTC offset "
                         "(e.g. 2026-03-02T08:00:00Z)") from None


def persistence_module(env: Mapping[str, str] | None = None) -> str:
    return (_merged(env).get("PERSISTENCE_MODULE") or "").strip() or SQLITE_MODULE


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    return Path(_merged(env).get("CARTPATH_DATA_DIR") or DEFAULT_DATA_DIR)


def uses_data_dir(env: Mapping[str, str] | None = None) -> bool:
    """Whether the store lives in CARTPATH_DATA_DIR: SQLite, unless SQLITE_DBNAME puts it elsewhere."""
    merged = _merged(env)
    return persistence_module(merged) == SQLITE_MODULE and not merged.get("SQLITE_DBNAME")


def require_data_dir(env: Mapping[str, str] | None = None) -> None:
    """A missing data directory is a typo or the wrong working directory far more often than a
    wish for a new, empty store: only ``serve``, ``db init`` and ``demo`` create one."""
    path = data_dir(env)
    if not path.is_dir():
        raise BadSetting(f"CARTPATH_DATA_DIR {str(path)!r} does not exist (run `cartpath db init` to create "
                         "a store there, or point CARTPATH_DATA_DIR at an existing one)")


DEFAULT_PATIENT_REF_PATTERN = r"(?=[^0-9]*[0-9])[A-Za-z0-9._-]{3,64}"


def patient_ref_pattern(env: Mapping[str, str] | None = None) -> tuple[re.Pattern[str], bool]:
    """CARTPATH_PATIENT_REF_PATTERN compiled (and whether a site set its own), or BadSetting."""
    text = _merged(env).get("CARTPATH_PATIENT_REF_PATTERN") or ""
    try:
        return re.compile(text or DEFAULT_PATIENT_REF_PATTERN), bool(text)
    except re.error as err:
        raise BadSetting(f"CARTPATH_PATIENT_REF_PATTERN is not a regular expression: {err}") from None


PRIVATE_UMASK = 0o077


def private_files() -> None:
    """Files and directories this process creates from now on are its user's alone (0600/0700): the
    store, SQLite's -wal and -shm files (which SQLite creates later, with the process umask), the
    projections, lock files and the JWT secret all hold patient data or keys. Idempotent; it only
    ever removes permissions from the umask."""
    current = os.umask(PRIVATE_UMASK)
    os.umask(current | PRIVATE_UMASK)


def make_private_dir(path: Path) -> None:
    """``path`` and any missing parents, created 0700."""
    private_files()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def ensure_data_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """Create the data directory if missing (0700); the path created, or None if it was there."""
    path = data_dir(env)
    if path.is_dir():
        return None
    try:
        private_files()
        path.mkdir(parents=True, mode=0o700)
    except OSError as err:
        raise BadSetting(f"CARTPATH_DATA_DIR {str(path)!r} cannot be created: {err.strerror}") from None
    return path


def check_store_driver(env: Mapping[str, str] | None = None) -> None:
    """PostgreSQL selected: its driver must be installed (an optional extra)."""
    module = persistence_module(env)
    if module == POSTGRES_MODULE:
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError as err:
            raise BadSetting(f"PERSISTENCE_MODULE={module} needs the PostgreSQL driver ({err.name} is not installed): "
                             "pip install 'cartpath[postgres]'") from None
    elif module not in (SQLITE_MODULE, "eventsourcing.popo"):
        raise BadSetting(f"PERSISTENCE_MODULE={module!r} is not a store cartpath runs on: "
                         f"expected {SQLITE_MODULE} (default) or {POSTGRES_MODULE}")


CIPHER_TOPIC = "eventsourcing.cryptography:AESCipher"


def _either(merged: Mapping[str, str], key: str) -> str:
    """eventsourcing reads ``CARTPATH_<KEY>`` before ``<KEY>`` (the application's name is the prefix)."""
    return (merged.get(f"CARTPATH_{key}") or merged.get(key) or "").strip()


def cipher_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What encryption at rest adds to the application's environment: eventsourcing's own cipher
    default needs pycryptodome, which cartpath does not install, so a key alone selects the
    library's AES-GCM cipher on ``cryptography`` (a dependency already). A key that is not
    base64 of 16, 24 or 32 bytes is refused here, naming the variable."""
    import base64
    import binascii
    merged = _merged(env)
    key, topic = _either(merged, "CIPHER_KEY"), _either(merged, "CIPHER_TOPIC")
    if not key:
        if topic:
            raise BadSetting("CIPHER_TOPIC is set without CIPHER_KEY (or CARTPATH_CIPHER_KEY)")
        return {}
    try:
        size = len(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        size = -1
    if size not in (16, 24, 32):
        raise BadSetting("CARTPATH_CIPHER_KEY (or CIPHER_KEY) must be base64 of 16, 24 or 32 random bytes "
                         "(make one with `cartpath audit key`)")
    return {} if topic else {"CIPHER_TOPIC": CIPHER_TOPIC}


SCRIPT_LIMIT_VARIABLES = {
    "cpu_ms": "CARTPATH_SCRIPT_CPU_MS",
    "memory_mb": "CARTPATH_SCRIPT_MEMORY_MB",
    "result_kb": "CARTPATH_SCRIPT_RESULT_KB",
}


def script_limits(env: Mapping[str, str] | None = None):
    """The budget of every script, condition, timer expression, DMN cell and payload
    expression (per engine step): each a positive whole number, defaults in sandbox.ScriptLimits."""
    from .sandbox import ScriptLimits
    merged = _merged(env)
    values = {}
    for field_name, variable in SCRIPT_LIMIT_VARIABLES.items():
        raw = (merged.get(variable) or "").strip()
        if not raw:
            continue
        if not raw.isdigit() or not 0 < int(raw) <= 1_000_000:
            raise BadSetting(f"{variable}={raw!r} is not a whole number between 1 and 1000000")
        values[field_name] = int(raw)
    return ScriptLimits(**values)
