"""Charts (PNG, SVG) and CSV of what-if simulation results, scenarios side by side.

matplotlib's object API on the Agg canvas (no pyplot, no display, no global figure state:
safe in a server's threads).
"""
from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402

CHARTS = ("occupancy", "staff")
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
CSV_COLUMNS = ("scenario", "date", "day", "ward_p10", "ward_p50", "ward_p90", "beds", "p_ward_over_capacity",
               "ward_demand_p50", "ward_demand_p90", "p_ward_demand_over_capacity",
               "icu_p10", "icu_p50", "icu_p90", "icu_beds", "p_icu_over_capacity")


def render(chart: str, results: list[dict[str, Any]], fmt: str) -> bytes:
    figure = occupancy(results) if chart == "occupancy" else staff(results)
    FigureCanvasAgg(figure)
    out = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    figure.savefig(out, format=fmt, metadata=metadata)
    return out.getvalue()


def occupancy(results: list[dict[str, Any]]) -> Figure:
    """Ward (top) and ICU (bottom) occupancy per day: the p10-p90 band, the median, and capacity; on the
    ward, dotted, the p90 of the beds the stays would need if none waited."""
    figure = Figure(figsize=(5.5 * len(results), 6.5), layout="constrained")
    axes = figure.subplots(2, len(results), squeeze=False, sharey="row")
    for col, result in enumerate(results):
        days = [date.fromisoformat(d["date"]) for d in result["daily"]]
        for row, (unit, capacity_key) in enumerate((("ward", "beds"), ("icu", "icu_beds"))):
            ax = axes[row][col]
            daily = result["daily"]
            ax.fill_between(days, [d[f"{unit}_p10"] for d in daily], [d[f"{unit}_p90"] for d in daily],
                            alpha=0.3, label="p10-p90")
            ax.plot(days, [d[f"{unit}_p50"] for d in daily], label="median")
            if unit == "ward":
                ax.plot(days, [d["ward_demand_p90"] for d in daily], linestyle=":", color="grey",
                        label="p90 needed on unlimited beds")
            capacity = result["inputs"].get(capacity_key) if "inputs" in result else daily[0].get(capacity_key)
            if capacity is not None:
                ax.axhline(capacity, color="red", linestyle="--", label=f"{capacity_key} ({capacity})")
            _label(ax, f"{result['scenario']}: {'ward' if unit == 'ward' else 'ICU'} beds occupied", "patients")
    return figure


def _label(ax: Any, title: str, ylabel: str) -> None:
    """Title, y label, legend and slanted dates: the same on every time-series panel."""
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize="small")
    ax.tick_params(axis="x", labelrotation=30)


def staff(results: list[dict[str, Any]]) -> Figure:
    """Hours per lane per week (mean over replications), with each lane's configured hours dashed."""
    figure = Figure(figsize=(5.5 * len(results), 4.5), layout="constrained")
    axes = figure.subplots(1, len(results), squeeze=False, sharey="row")[0]
    for col, result in enumerate(results):
        ax = axes[col]
        weeks = [date.fromisoformat(w["week_start"]) for w in result["staff_weekly"]]
        lanes = sorted(result["staff_weekly"][0]["lanes"]) if result["staff_weekly"] else []
        for lane in lanes:
            line = ax.plot(weeks, [w["lanes"][lane]["hours"] for w in result["staff_weekly"]], label=lane)[0]
            configured = result["staff_weekly"][0]["lanes"][lane]["configured"]
            if configured is not None:
                ax.axhline(configured, color=line.get_color(), linestyle="--", linewidth=1)
        _label(ax, f"{result['scenario']}: staff hours per week (dashed: configured)", "hours")
    return figure


def series_csv(results: list[dict[str, Any]]) -> str:
    """One row per scenario and day: the occupancy bands, capacity and probability of exceeding it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        for d in result["daily"]:
            writer.writerow([result["scenario"], *(d[c] for c in CSV_COLUMNS[1:])])
    return out.getvalue()
