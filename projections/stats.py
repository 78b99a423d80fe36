"""Small, exact statistics for reports: counts, medians and p90s of durations; rates with their parts."""
from __future__ import annotations

from collections.abc import Iterable


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def durations(values: Iterable[float | None], *, reason: str = "end before start",
              bin_days: int | None = None) -> dict[str, object]:
    """count, median and p90 of durations in days (decimal, 3 places).

    A negative duration means the two facts were recorded out of order (stores written
    before the engine refused that hold some): it is never averaged in, but counted as
    ``excluded`` with ``reason`` (which names both facts), so a KPI cannot go negative
    and the reader sees how many pathways it left out and why. With ``bin_days``, the
    distribution too: ``histogram``, a count per bin of that width from day 0 to the
    longest duration (every bin listed, empty ones as 0), ``[from, to)`` in days."""
    clean: list[float] = []
    excluded = 0
    for v in values:
        if v is None:
            continue
        if v < 0:
            excluded += 1
        else:
            clean.append(v)
    clean.sort()
    med, p90 = quantile(clean, 0.5), quantile(clean, 0.9)
    out: dict[str, object] = {"count": len(clean), "median": None if med is None else round(med, 3),
                              "p90": None if p90 is None else round(p90, 3), "unit": "days", "excluded": excluded,
                              "excluded_reasons": {reason: excluded} if excluded else {}}
    if bin_days is not None:
        out["histogram"] = histogram(clean, bin_days)
    return out


def histogram(sorted_values: list[float], width: int) -> list[dict[str, int]]:
    """Counts per ``[from, to)`` bin of ``width`` days, from 0 through the bin of the largest value."""
    if not sorted_values:
        return []
    counts = [0] * (int(sorted_values[-1] // width) + 1)
    for v in sorted_values:
        counts[int(v // width)] += 1
    return [{"from": i * width, "to": (i + 1) * width, "count": n} for i, n in enumerate(counts)]


def rate(numerator: int, denominator: int) -> dict[str, float | int | None]:
    return {"rate": round(numerator / denominator, 4) if denominator else None,
            "numerator": numerator, "denominator": denominator}


def distribution(values: Iterable[int | None]) -> dict[str, object]:
    clean = [int(v) for v in values if v is not None]
    counts: dict[str, int] = {}
    for grade in sorted(set(clean)):
        counts[str(grade)] = clean.count(grade)
    return {"count": len(clean), "distribution": counts,
            "share": {g: round(n / len(clean), 4) for g, n in counts.items()} if clean else {}}
