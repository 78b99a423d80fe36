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
from typing import Any

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


def compressor_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """What compact storage adds to the application's environment (``compression.py``):
    CARTPATH_COMPRESSOR ``on`` (default) compresses new events, ``off`` stores them as plain
    JSON; both read either. A COMPRESSOR_TOPIC set by hand is left alone."""
    from .compression import COMPRESSOR_TOPICS
    merged = _merged(env)
    raw = (merged.get("CARTPATH_COMPRESSOR") or "on").strip().lower()
    if raw not in COMPRESSOR_TOPICS:
        raise BadSetting(f"CARTPATH_COMPRESSOR={raw!r} is not a setting: expected one of "
                         f"{', '.join(COMPRESSOR_TOPICS)}")
    if _either(merged, "COMPRESSOR_TOPIC"):
        return {}
    return {"COMPRESSOR_TOPIC": COMPRESSOR_TOPICS[raw]}


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


# -- capacity forecast (projections/capacity.py) and what-if simulation --------------------------
DEFAULT_BEDS = 4
DEFAULT_ICU_BEDS = 2
# Days a patient is in hospital before infusion: admitted at lymphodepletion start, which is
# product_rules' infusion_window_min_days (5 for most products) before infusion.
DEFAULT_LD_INPATIENT_DAYS = 5.0
# task id (PATHWAY.md) -> (lane, hours of staff time one completion takes). Assumed defaults,
# stated in every forecast's assumptions; CARTPATH_TASK_HOURS overrides any of them.
TASK_EFFORT: dict[str, tuple[str, float]] = {
    "rcp_eligibility": ("hematology", 0.5),
    "patient_consent": ("coordination", 1.0),
    "place_order": ("pharmacy", 0.5),
    "apheresis": ("apheresis", 5.0),
    "ship_apheresis": ("cell_therapy_unit", 1.0),
    "bridging_decision": ("hematology", 0.5),
    "product_receipt": ("pharmacy", 1.0),
    "lymphodepletion_start": ("ward", 1.0),
    "tocilizumab_reservation": ("pharmacy", 0.25),
    "pre_infusion_check": ("ward", 0.5),
    "thaw_product": ("pharmacy", 1.0),
    "infusion": ("ward", 1.5),
    "daily_assessment": ("ward", 0.5),
    "icu_assessment": ("icu", 1.0),
    "discharge": ("ward", 1.0),
    "post_discharge_visit": ("hematology", 0.5),
    "follow_up_visit": ("hematology", 0.5),
    "registry_report": ("coordination", 0.5),
}


class PerCentre:
    """A number for every centre, with per-centre exceptions: ``6`` or ``FR-01=6,FR-02=4`` or
    ``4,FR-01=6`` (a bare number is the default of the centres not named)."""

    def __init__(self, variable: str, default: float, by_centre: Mapping[str, float], default_source: str):
        self.variable = variable
        self.default = default
        self.by_centre = dict(by_centre)
        self.default_source = default_source

    def __call__(self, center: str) -> float:
        return self.by_centre.get(center, self.default)

    def source(self, center: str) -> str:
        return f"configured ({self.variable})" if center in self.by_centre else self.default_source


def _number(variable: str, text: str, *, whole: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value > 100_000 or (whole and value != int(value)):
        kind = "a whole number" if whole else "a number"
        raise BadSetting(f"{variable}: {text!r} is not {kind} between 0 and 100000")
    return int(value) if whole else value


def per_centre(variable: str, raw: str | None, default: float, *, whole: bool,
               default_source: str) -> PerCentre:
    """``raw`` (the variable's value) read as PerCentre; a malformed part is refused, naming it."""
    by_centre: dict[str, float] = {}
    fallback, source = default, default_source
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            fallback, source = _number(variable, part, whole=whole), f"configured ({variable})"
            continue
        center, value = (s.strip() for s in part.split("=", 1))
        if not center:
            raise BadSetting(f"{variable}: {part!r} names no centre (expected CENTRE=NUMBER, e.g. FR-01=6)")
        if center in by_centre:
            raise BadSetting(f"{variable}: centre {center!r} is given twice")
        by_centre[center] = _number(variable, value, whole=whole)
    return PerCentre(variable, fallback, by_centre, source)


class CapacitySettings:
    """Beds, ICU beds, lymphodepletion days in hospital and task effort, read from the environment."""

    def __init__(self, beds: PerCentre, icu_beds: PerCentre, ld_inpatient_days: PerCentre,
                 task_hours: Mapping[str, float], configured_tasks: frozenset[str]):
        self.beds = beds
        self.icu_beds = icu_beds
        self.ld_inpatient_days = ld_inpatient_days
        self.task_hours = dict(task_hours)
        self.configured_tasks = configured_tasks

    def task_source(self, task: str) -> str:
        return "configured (CARTPATH_TASK_HOURS)" if task in self.configured_tasks else "default (assumed)"


def task_hours(raw: str | None) -> tuple[dict[str, float], frozenset[str]]:
    """TASK_EFFORT's hours with CARTPATH_TASK_HOURS's (``apheresis=5,thaw_product=1``) over them."""
    hours = {task: h for task, (_, h) in TASK_EFFORT.items()}
    configured: set[str] = set()
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise BadSetting(f"CARTPATH_TASK_HOURS: {part!r} is not TASK=HOURS (e.g. apheresis=5)")
        task, value = (s.strip() for s in part.split("=", 1))
        if task not in TASK_EFFORT:
            raise BadSetting(f"CARTPATH_TASK_HOURS: {task!r} is not a task the forecast schedules: "
                             f"expected one of {', '.join(TASK_EFFORT)}")
        hours[task] = _number("CARTPATH_TASK_HOURS", value, whole=False)
        configured.add(task)
    return hours, frozenset(configured)


def capacity_settings(env: Mapping[str, str] | None = None) -> CapacitySettings:
    """CARTPATH_BEDS (CARTPATH_BEDS_DEFAULT: the number of centres it does not name, as before),
    CARTPATH_ICU_BEDS, CARTPATH_LD_INPATIENT_DAYS and CARTPATH_TASK_HOURS; refused with the variable named."""
    merged = _merged(env)
    default_beds, beds_source = DEFAULT_BEDS, f"default ({DEFAULT_BEDS})"
    if (merged.get("CARTPATH_BEDS_DEFAULT") or "").strip():
        default_beds = int(_number("CARTPATH_BEDS_DEFAULT", merged["CARTPATH_BEDS_DEFAULT"].strip(), whole=True))
        beds_source = "configured (CARTPATH_BEDS_DEFAULT)"
    hours, configured = task_hours(merged.get("CARTPATH_TASK_HOURS"))
    return CapacitySettings(
        beds=per_centre("CARTPATH_BEDS", merged.get("CARTPATH_BEDS"), default_beds, whole=True,
                        default_source=beds_source),
        icu_beds=per_centre("CARTPATH_ICU_BEDS", merged.get("CARTPATH_ICU_BEDS"), DEFAULT_ICU_BEDS, whole=True,
                            default_source=f"default ({DEFAULT_ICU_BEDS})"),
        ld_inpatient_days=per_centre("CARTPATH_LD_INPATIENT_DAYS", merged.get("CARTPATH_LD_INPATIENT_DAYS"),
                                     DEFAULT_LD_INPATIENT_DAYS, whole=False,
                                     default_source="default (admitted at lymphodepletion start, 5 days before "
                                                    "infusion: product_rules infusion_window_min_days)"),
        task_hours=hours, configured_tasks=configured)
DEV_USER_KEYS = ("sub", "name", "roles", "centers")


def dev_users(env: Mapping[str, str] | None = None) -> list[dict] | None:
    """The users the web app's development sign-in offers (CARTPATH_DEV_USERS: a JSON file, a list of
    ``{sub, name, roles, centers[, org]}``); None when unset, which turns that sign-in off."""
    import json
    path = (_merged(env).get("CARTPATH_DEV_USERS") or "").strip()
    if not path:
        return None
    try:
        users = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise BadSetting(f"CARTPATH_DEV_USERS {path!r} cannot be read: {err.strerror}") from None
    except ValueError as err:
        raise BadSetting(f"CARTPATH_DEV_USERS {path!r} is not JSON: {err}") from None
    if not isinstance(users, list) or not users:
        raise BadSetting(f"CARTPATH_DEV_USERS {path!r} must hold a non-empty JSON list of users")
    seen: set[str] = set()
    for i, user in enumerate(users):
        ok = (isinstance(user, dict) and isinstance(user.get("sub"), str) and user["sub"]
              and isinstance(user.get("name"), str)
              and all(isinstance(user.get(k), list) and all(isinstance(v, str) for v in user[k])
                      for k in ("roles", "centers"))
              and isinstance(user.get("org", ""), str))
        if not ok:
            raise BadSetting(f"CARTPATH_DEV_USERS {path!r}: user {i + 1} must be {{sub, name, roles: [..], "
                             "centers: [..]}} (strings; org optional)")
        if user["sub"] in seen:
            raise BadSetting(f"CARTPATH_DEV_USERS {path!r}: sub {user['sub']!r} appears twice")
        seen.add(user["sub"])
    return [{k: u[k] for k in (*DEV_USER_KEYS, "org") if k in u} for u in users]


def simulation_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What-if simulations: ``workers`` (processes per run, default 2: both cores), ``max_running``
    (simultaneous runs, default 2; one more is refused with 429) and ``dir`` (where runs keep their
    progress and results, default ``$CARTPATH_DATA_DIR/simulations``; never the event store)."""
    merged = _merged(env)
    out: dict[str, Any] = {}
    for key, variable, default in (("workers", "CARTPATH_SIMULATION_WORKERS", 2),
                                   ("max_running", "CARTPATH_SIMULATION_MAX_RUNNING", 2)):
        raw = (merged.get(variable) or "").strip()
        if raw and (not raw.isdigit() or not 0 < int(raw) <= 64):
            raise BadSetting(f"{variable}={raw!r} is not a whole number between 1 and 64")
        out[key] = int(raw) if raw else default
    raw_dir = (merged.get("CARTPATH_SIMULATION_DIR") or "").strip()
    out["dir"] = Path(raw_dir) if raw_dir else data_dir(env) / "simulations"
    return out
