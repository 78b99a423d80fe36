"""Opening the application from the environment, the same way for CLI, server and tests."""
from __future__ import annotations

import os
from collections.abc import Mapping

from .application import CartPath
from .clock import check_clock_kind
from .reachability import check_reachable
from .settings import (
    capacity_settings,
    check_store_driver,
    clock_kind,
    clock_start,
    require_data_dir,
    script_limits,
    uses_data_dir,
)

ENV_KEYS_DOC = {
    "CARTPATH_DATA_DIR": "directory of the SQLite store (default ./var)",
    "CARTPATH_CLOCK": "'system' (default) or 'manual'",
    "CARTPATH_CLOCK_START": "ISO 8601 start of the manual clock",
    "CARTPATH_EXTRA_LANES": "comma-separated lanes a centre adds to PATHWAY.md's",
    "CARTPATH_SCRIPT_CPU_MS": "CPU budget of the scripts, conditions and DMN cells of one engine step (200)",
    "CARTPATH_SCRIPT_MEMORY_MB": "memory the sandbox may allocate in one engine step (64)",
    "CARTPATH_SCRIPT_RESULT_KB": "largest value a script or expression may produce (1024)",
    "CARTPATH_BEDS": "ward beds: a number for every centre, or per centre (FR-01=6,FR-02=4), or both (4,FR-01=6)",
    "CARTPATH_BEDS_DEFAULT": "ward beds of the centres CARTPATH_BEDS does not name (4)",
    "CARTPATH_ICU_BEDS": "ICU beds, in CARTPATH_BEDS's form (2)",
    "CARTPATH_LD_INPATIENT_DAYS": "days in hospital before infusion (lymphodepletion), in CARTPATH_BEDS's form (5)",
    "CARTPATH_TASK_HOURS": "staff hours per task (apheresis=5,thaw_product=1,daily_assessment=0.5); defaults in "
                           "engine/settings.py TASK_EFFORT",
    "CARTPATH_DEV_USERS": "development only: JSON file of users the web app's sign-in offers (unset: none)",
    "CARTPATH_OIDC_ISSUER": "the web app signs in with this OpenID Connect issuer (production)",
    "CARTPATH_OIDC_CLIENT_ID": "the web app's client id at the OIDC issuer (a public client, PKCE)",
    "CARTPATH_OIDC_SCOPE": "scopes the web app asks the OIDC issuer for (default 'openid profile')",
    "CARTPATH_SIMULATION_WORKERS": "processes per what-if simulation run (2)",
    "CARTPATH_SIMULATION_MAX_RUNNING": "simultaneous what-if simulation runs of the API (2)",
    "CARTPATH_SIMULATION_DIR": "where simulation runs keep progress and results ($CARTPATH_DATA_DIR/simulations)",
    "CARTPATH_COMPRESSOR": "'on' (default): new events stored compressed; 'off': as plain JSON (both read either)",
    "PERSISTENCE_MODULE": "eventsourcing store: eventsourcing.sqlite (default) or eventsourcing.postgres",
}


def open_app(overrides: Mapping[str, str] | None = None, *, deploy_bundled: bool = False,
             writes: bool = False, probe: bool = True, check_clock: bool = True) -> CartPath:
    """A CartPath on the store the environment names, its settings checked first; optionally with
    the bundled processes deployed. The store's clock kind is checked against CARTPATH_CLOCK, and
    recorded when ``writes`` (or ``deploy_bundled``) and the store has none yet. ``probe`` connects to
    PostgreSQL once first, to refuse an unreachable server at once with its reason (long-running
    processes that ride out a database restart pass False)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_",
                                                                "CREATE_TABLE"))}
    env.update(overrides or {})
    clock_kind(env)
    clock_start(env)
    script_limits(env)
    capacity_settings(env)
    check_store_driver(env)
    if probe:
        check_reachable(env)
    if uses_data_dir(env):
        require_data_dir(env)
    app = CartPath(env=env)
    try:
        if check_clock:
            check_clock_kind(app, record=writes or deploy_bundled)
        if deploy_bundled:
            app.deploy_bundled()
    except BaseException:
        app.close()
        raise
    return app
