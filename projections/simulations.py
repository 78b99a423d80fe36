"""Running what-if scenarios for a centre: its history from the views, the deployed model, the engine.

Shared by ``POST /api/v1/simulations`` and ``cartpath simulate``. Nothing here writes to the
event store: the history is read from the pathway view, the deployed ``cart_pathway``
version's files from the definitions, and the engine runs on a private in-memory store.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cartpath.engine.errors import CartpathError
from cartpath.engine.settings import capacity_settings
from cartpath.engine.simulation import Run, run

from .simulation_inputs import HISTORY_COLUMNS, build_scenario
from .store import ProjectionsUnavailable, ViewStore

PROCESS_KEY = "cart_pathway"
#: patients x replications one run may simulate (a bound on the work a request can ask for)
MAX_PATIENT_REPLICATIONS = 400_000


class NothingDeployed(CartpathError):
    code = "nothing-deployed"


class SimulationTooLarge(CartpathError):
    code = "simulation-too-large"


def deployed_model(app: Any) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The latest deployed version of ``cart_pathway`` and its files."""
    versions = [d for d in app.definitions() if d["key"] == PROCESS_KEY]
    if not versions:
        raise NothingDeployed(f"no version of {PROCESS_KEY} is deployed: deploy the processes first")
    latest = max(versions, key=lambda d: d["version"])
    model = app.model(PROCESS_KEY, latest["version"])
    return {"key": PROCESS_KEY, "version": latest["version"], "sha256": latest["sha256"]}, dict(model.files)


def history_rows(store: ViewStore | None, center: str) -> tuple[list[dict[str, Any]], str]:
    """The centre's pathways as the view holds them (empty if the views are not there yet) and a note."""
    if store is None:
        return [], "no view store: reference figures only"
    try:
        found = store.query(f"SELECT {', '.join(HISTORY_COLUMNS)} FROM view_pathways WHERE center = ?", (center,))
    except ProjectionsUnavailable as err:
        return [], f"views unavailable ({err}): reference figures only"
    rows = [dict(zip(HISTORY_COLUMNS, r)) for r in found]
    return rows, f"{len(rows)} pathways of {center} in the pathway view"


def check_size(spec: dict[str, Any], per_month: float) -> None:
    patients = per_month * 12 / 365.25 * (spec["horizon_weeks"] * 7 + 120)
    if patients * spec.get("replications", 10) > MAX_PATIENT_REPLICATIONS:
        raise SimulationTooLarge(f"{spec.get('name') or 'the scenario'} asks for ~{patients:.0f} patients x "
                                 f"{spec.get('replications', 10)} replications; at most {MAX_PATIENT_REPLICATIONS} "
                                 "patient-replications per run")


def prepare(app: Any, store: ViewStore | None, specs: list[dict[str, Any]], *, now: datetime) -> list[tuple]:
    """(scenario, assumptions) per spec; refusals (nothing deployed, too large) before anything runs."""
    definition, files = deployed_model(app)
    capacity = capacity_settings(dict(app.env))
    out = []
    for spec in specs:
        rows, note = history_rows(store, spec["center"])
        scenario, assumptions = build_scenario(spec, rows, now=now, capacity=capacity)
        check_size(spec, scenario.arrivals_per_month)
        assumptions["history"] = note
        assumptions["definition"] = definition
        out.append((scenario, assumptions, files))
    return out


def run_prepared(prepared: list[tuple], *, workers: int,
                 progress: Callable[[float, str], None] | None = None) -> list[dict[str, Any]]:
    """Each scenario's results with its assumptions, one after the other (each uses ``workers``)."""
    results = []
    tell = progress or (lambda _f, _m: None)
    for i, (scenario, assumptions, files) in enumerate(prepared):
        def step(fraction: float, message: str, i: int = i, name: str = scenario.name) -> None:
            tell((i + fraction) / len(prepared), f"{name}: {message}")
        result = run(Run(scenario, files, workers=workers, progress=step))
        result["assumptions"] = assumptions
        result["inputs"] = {"horizon_weeks": scenario.horizon_weeks, "beds": scenario.beds,
                            "icu_beds": scenario.icu_beds, "staff_hours": scenario.staff_hours,
                            "replications": scenario.replications, "seed": scenario.seed,
                            "start": scenario.start.isoformat()}
        results.append(result)
    return results
