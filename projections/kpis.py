"""The KPIs of PATHWAY.md, computed over the pathway facts view at query time.

The cohort is the set of pathways *started* in [from, to) (and of the centre and
product asked for): every KPI of one report then speaks about the same patients.
A KPI only counts pathways where its question has an answer (a duration needs
both ends; a rate needs the outcome to be known), and says so in its definition.
"""
from __future__ import annotations

from typing import Any, Iterable

from .stats import distribution, durations, rate
from .times import days_between

DEFINITIONS = {
    "vein_to_vein": "first adequate apheresis.collection_date -> infusion.infused_at (days), infused pathways",
    "order_to_infusion": "place_order completion -> infusion.infused_at (days), infused pathways",
    "manufacturing_turnaround": "apheresis used for the first release -> product_released.released_at (days)",
    "first_pass_success": "orders whose first manufacturing outcome was a release used (not manufacturing_failed, "
                          "not an out-of-spec release refused) / orders with a manufacturing outcome",
    "delivery_success": "pathways with an adequate apheresis whose product was received by the pharmacy / those of "
                        "them received or ended (still in flight: not counted)",
    "drop_out": "ordered pathways that ended without infusion / ordered pathways infused or ended; by reason "
                "(the cancellation reason, else the outcome)",
    "bridging_rate": "bridging_decision.bridging true / bridging decisions recorded",
    "crs_max_grade": "distribution of the highest CRS grade (DMN crs_grade) per infused pathway assessed",
    "icans_max_grade": "distribution of the highest ICANS grade (DMN icans_grade) per infused pathway assessed",
    "icu_transfer_rate": "infused pathways with at least one icu_transfer / infused pathways",
    "length_of_stay": "infusion.infused_at -> discharge.discharged_at (days), discharged pathways",
}
KPI_COLUMNS = ("pathway_id", "center", "product", "started_at", "status", "outcome", "cancel_reason",
               "ordered_at", "first_apheresis_at", "release_apheresis_at", "first_released_at", "release_count",
               "failure_count", "failed_before_release", "oos_refused", "product_received_at", "infused_at", "bridging",
               "crs_max", "icans_max", "icu_transfers", "discharged_at")


def compute(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every KPI over the given pathway fact rows."""
    infused = [r for r in rows if r["infused_at"]]
    made = [r for r in rows if r["release_count"] or r["failure_count"]]
    collected = [r for r in rows if r["first_apheresis_at"] and (r["product_received_at"] or r["status"] == "ended")]
    ordered_done = [r for r in rows if r["ordered_at"] and (r["infused_at"] or r["status"] == "ended")]
    dropped = [r for r in ordered_done if not r["infused_at"]]
    reasons: dict[str, int] = {}
    for r in dropped:
        reason = r["cancel_reason"] or r["outcome"] or "unknown"
        reasons[reason] = reasons.get(reason, 0) + 1
    drop_out = rate(len(dropped), len(ordered_done))
    drop_out["by_reason"] = {k: {"count": n, "rate": round(n / len(ordered_done), 4)}
                             for k, n in sorted(reasons.items())}
    decided = [r for r in rows if r["bridging"] is not None]
    return {
        "vein_to_vein": durations(days_between(r["first_apheresis_at"], r["infused_at"]) for r in infused),
        "order_to_infusion": durations(days_between(r["ordered_at"], r["infused_at"]) for r in infused),
        "manufacturing_turnaround": durations(days_between(r["release_apheresis_at"], r["first_released_at"])
                                              for r in rows if r["first_released_at"]),
        "first_pass_success": rate(sum(1 for r in made if r["release_count"] and not r["failed_before_release"]),
                                   len(made)),
        "delivery_success": rate(sum(1 for r in collected if r["product_received_at"]), len(collected)),
        "drop_out": drop_out,
        "bridging_rate": rate(sum(1 for r in decided if r["bridging"]), len(decided)),
        "crs_max_grade": distribution(r["crs_max"] for r in infused),
        "icans_max_grade": distribution(r["icans_max"] for r in infused),
        "icu_transfer_rate": rate(sum(1 for r in infused if r["icu_transfers"]), len(infused)),
        "length_of_stay": durations(days_between(r["infused_at"], r["discharged_at"])
                                    for r in infused if r["discharged_at"]),
    }


def report(rows: Iterable[dict[str, Any]], filters: dict[str, Any]) -> dict[str, Any]:
    rows = list(rows)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["center"], r["product"]), []).append(r)
    return {
        "filters": filters,
        "cohort": "pathways started in [from, to)" if filters.get("from") or filters.get("to") else "all pathways",
        "pathways": len(rows),
        "kpis": compute(rows),
        "by_center_product": [{"center": c, "product": p, "pathways": len(g), "kpis": compute(g)}
                              for (c, p), g in sorted(groups.items())],
        "definitions": DEFINITIONS,
    }
