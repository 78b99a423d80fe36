"""``cartpath simulate --scenario a.json [--scenario b.json] [--out DIR]``: what-if runs from the shell.

Each scenario file is what ``POST /api/v1/simulations`` takes (the same schema checks it);
several run side by side. A progress bar goes to stderr, a summary table to stdout, and
``--out`` receives the charts (PNG, SVG), the series (CSV) and the whole results (JSON).
Nothing is written to the store.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from marshmallow import ValidationError

from cartpath.engine.console import refusals
from cartpath.engine.errors import CartpathError


class BadScenario(CartpathError):
    code = "bad-scenario"


def _load(path: str) -> dict[str, Any]:
    from .errors import flatten_errors
    from .simulations import SimulationRequestSchema
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise BadScenario(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    try:
        return SimulationRequestSchema().load(raw)
    except ValidationError as err:
        found = flatten_errors(err.messages)
        raise BadScenario(f"{path}: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(found.items()))) from None


def _bar(fraction: float, message: str) -> None:
    width = 30
    filled = int(width * min(max(fraction, 0.0), 1.0))
    sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {fraction:4.0%} {message[:60]:<60}")
    sys.stderr.flush()


def summary_table(results: list[dict[str, Any]]) -> str:
    rows = [("scenario", "patients/rep", "ward p90 peak", "needed p90 peak", "days needed > beds", "icu p90 peak",
             "delayed", "mean delay d", "v2v median d")]
    for r in results:
        reps = r["replications"]
        arrived = sum(o["patients_per_replication"] for o in r["outcomes"].values())
        delay = r["bed_delay"]
        rows.append((r["scenario"], f"{arrived:.0f}", f"{r['peak']['ward_p90']:.1f}",
                     f"{r['peak']['ward_demand_p90']:.1f}", str(r["peak"]["days_demand_over_capacity_p50"]),
                     f"{r['peak']['icu_p90']:.1f}",
                     f"{delay['delayed']}/{delay['infused_admissions']} ({reps} reps)", f"{delay['mean_days']:.2f}",
                     str(r["vein_to_vein_days"]["median"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


@click.command("simulate")
@click.option("--scenario", "scenarios", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="a scenario JSON file (as POST /api/v1/simulations takes); repeat to compare")
@click.option("--out", type=click.Path(file_okay=False), help="directory for charts, CSV and results.json")
@click.option("--workers", type=click.IntRange(1, 64), help="processes (default CARTPATH_SIMULATION_WORKERS, 2)")
@refusals
def simulate_cmd(scenarios: tuple[str, ...], out: str | None, workers: int | None) -> None:
    """What-if simulation of a centre's beds and staff on the deployed cart_pathway (in memory)."""
    from cartpath.engine.config import open_app
    from cartpath.engine.settings import simulation_settings
    from cartpath.projections import simulation_charts
    from cartpath.projections.simulations import prepare, run_prepared
    from cartpath.projections.store import ViewStore
    specs = [_load(path) for path in scenarios]
    app = open_app()
    prepared = prepare(app, ViewStore.for_app(app), specs, now=app.clock.now())
    results = run_prepared(prepared, workers=workers or simulation_settings()["workers"], progress=_bar)
    _bar(1.0, "done")
    sys.stderr.write("\n")
    click.echo(summary_table(results))
    if out:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        for chart in simulation_charts.CHARTS:
            for fmt in simulation_charts.FORMATS:
                (folder / f"{chart}.{fmt}").write_bytes(simulation_charts.render(chart, results, fmt))
        (folder / "series.csv").write_text(simulation_charts.series_csv(results))
        (folder / "results.json").write_text(json.dumps(results, indent=1, default=str))
        click.echo(f"charts, series.csv and results.json in {folder}", err=True)


COMMANDS = [simulate_cmd]
