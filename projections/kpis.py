"""The KPIs of PATHWAY.md (contract v2), computed over the pathway facts view at query time.

The cohort is the set of pathways *started* in [from, to) (and of the centre and
product asked for): every KPI of one report then speaks about the same patients.
A KPI only counts pathways where its question has an answer (a duration needs
both ends; a rate needs the outcome to be known), and says so in its definition.
Durations keep count, median and p90; a duration whose facts are out of order
(old stores) is never counted in but reported as ``excluded`` with its reason.
Rates keep their numerator and denominator. Each KPI is a pure function of the
rows (tests/unit checks each rule by hand).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from .stats import distribution, durations, rate
from .times import days_between, parse, utc

#: Drop-out is only judged for pathways ordered at least this long before the period's end
#: (or ended): a pathway still in progress would bias the rate down.
DROP_OUT_MATURITY_DAYS = 90
READMISSION_DAYS = 28
DROP_OUT_CATEGORIES = ("death", "progression", "manufacturing_failure", "no_apheresis", "patient_decision",
                       "physician_decision", "other")
DEVIATION_KINDS = {"thaw_to_infusion": "thaw_deviations", "tocilizumab_24h_limit": "tocilizumab_overrides"}

DEFINITIONS = {
    "vein_to_vein": "first adequate apheresis.collection_date -> infusion.infused_at (days), infused pathways",
    "order_to_infusion": "place_order completion -> infusion.infused_at (days), infused pathways",
    "manufacturing_turnaround": "apheresis used for the first release -> product_released.released_at (days)",
    "first_pass_success": "orders whose first manufacturing outcome was a release within specification / orders with "
                          "a manufacturing outcome (a failure, or an out-of-spec release even if accepted, is not a "
                          "success)",
    "oos_rate": "product_released messages with out_of_spec true / product_released messages",
    "delivery_success": "released products received at the centre (product_receipt) / released products whose fate is "
                        "known: received, or the pathway ended without receipt; a patient who died or progressed "
                        "before receipt, and a refused out-of-spec product, are not delivery failures (excluded)",
    "drop_out": f"ordered pathways that ended without infusion / ordered pathways that ended or were ordered at least "
                f"{DROP_OUT_MATURITY_DAYS} days before the end of the period (the 'to' bound, or now); by category "
                f"{', '.join(DROP_OUT_CATEGORIES)}",
    "bridging_rate": "bridging_decision.bridging true / bridging decisions recorded",
    "crs_max_grade": "distribution of the highest CRS grade (DMN crs_grade over daily_assessment and icu_assessment) "
                     "per infused pathway assessed",
    "icans_max_grade": "distribution of the highest ICANS grade (DMN icans_grade over daily_assessment and "
                       "icu_assessment) per infused pathway assessed",
    "icu_transfer_rate": "infused pathways with at least one icu_transfer / infused pathways",
    "icu_length_of_stay": "days in ICU per pathway: icu_transfer.admitted_at -> icu_discharge.discharged_at (or the "
                          "death), summed over its stays; pathways still in ICU not counted",
    "length_of_stay": "inpatient stay: infusion.infused_at -> first discharge.discharged_at, or the death if the "
                      "patient died in hospital (days)",
    "readmission_rate": f"discharged pathways readmitted (post_discharge_visit.readmit) before day "
                        f"{READMISSION_DAYS} after infusion / discharged pathways readmitted or whose day "
                        f"{READMISSION_DAYS} lies before the end of the period",
    "deviations": "infused pathways with at least one recorded deviation / infused pathways; by kind: "
                  "thaw_to_infusion (infusion outside the product's thaw window, with deviation_reason), "
                  "tocilizumab_24h_limit (a tocilizumab dose over the 24-hour limit, with override_reason)",
}
KPI_COLUMNS = ("pathway_id", "center", "product", "started_at", "status", "outcome", "cancel_reason",
               "ordered_at", "first_apheresis_at", "adequate_apheresis_count", "release_apheresis_at",
               "first_released_at", "release_count", "failure_count", "failed_before_release", "oos_refused",
               "product_received_at", "infused_at", "bridging", "crs_max", "icans_max", "icu_transfers",
               "discharged_at", "first_round", "oos_releases", "failure_stopped", "deferral_stopped", "died_at",
               "icu_admitted_at", "icu_stays", "icu_days", "icu_excluded", "first_discharged_at", "readmissions",
               "thaw_deviations", "tocilizumab_overrides")


# -- one rule per KPI (pure functions of the fact rows) ---------------------------------------------
def first_pass_success(rows: list[dict[str, Any]]) -> dict[str, Any]:
    made = [r for r in rows if r["first_round"] is not None]
    return rate(sum(1 for r in made if r["first_round"] == "in_spec"), len(made))


def oos_rate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return rate(sum(r["oos_releases"] or 0 for r in rows), sum(r["release_count"] or 0 for r in rows))


def _died_or_progressed_before_receipt(r: dict[str, Any]) -> bool:
    return r["product_received_at"] is None and (r["cancel_reason"] in ("death", "progression")
                                                 or r["died_at"] is not None)


def delivery_success(rows: list[dict[str, Any]]) -> dict[str, Any]:
    released = [r for r in rows if r["release_count"]]
    known = [r for r in released if r["product_received_at"] or r["status"] == "ended"]
    excluded = [r for r in known if _died_or_progressed_before_receipt(r)
                or (r["product_received_at"] is None and (r["oos_refused"] or 0) >= (r["release_count"] or 0))]
    counted = [r for r in known if r not in excluded]
    out = rate(sum(1 for r in counted if r["product_received_at"]), len(counted))
    out["excluded"] = len(excluded)
    return out


def dropout_category(r: dict[str, Any]) -> str:
    """Why an ordered pathway was never infused (PATHWAY.md's categories, first match wins)."""
    reason = r["cancel_reason"]
    if reason == "death" or r["died_at"] is not None:
        return "death"
    if reason in ("progression", "patient_decision", "physician_decision"):
        return reason
    if reason:
        return "other"
    if r["failure_stopped"]:  # failure_decision stop: after manufacturing_failed, a refused OOS or an unusable product
        return "manufacturing_failure"
    if r["deferral_stopped"]:  # deferral_decision stop: the haematologist decided not to infuse
        return "physician_decision"
    if not r["adequate_apheresis_count"]:
        return "no_apheresis"
    return "other"


def drop_out(rows: list[dict[str, Any]], period_end: str) -> dict[str, Any]:
    mature_before = utc(parse(period_end) - timedelta(days=DROP_OUT_MATURITY_DAYS))  # type: ignore[operator]
    judged = [r for r in rows if r["ordered_at"] and (r["status"] == "ended" or r["ordered_at"] <= mature_before)]
    dropped = [r for r in judged if not r["infused_at"] and r["status"] == "ended"]
    counts = dict.fromkeys(DROP_OUT_CATEGORIES, 0)
    for r in dropped:
        counts[dropout_category(r)] += 1
    out: dict[str, Any] = rate(len(dropped), len(judged))
    out["by_category"] = {k: rate(n, len(judged)) for k, n in counts.items()}
    return out


def length_of_stay(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def end(r: dict[str, Any]) -> str | None:
        return r["first_discharged_at"] or r["died_at"]
    return durations((days_between(r["infused_at"], end(r)) for r in rows if r["infused_at"]),
                     reason="discharge.discharged_at (or death) before infusion.infused_at")


def icu_length_of_stay(rows: list[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in rows if r["icu_stays"] and r["icu_admitted_at"] is None]
    # A pathway with a stay out of order is left out whole: its total would be wrong.
    return durations(((-1.0 if r["icu_excluded"] else r["icu_days"] or 0.0) for r in done),
                     reason="icu_discharge.discharged_at before icu_transfer.admitted_at")


def readmission_rate(rows: list[dict[str, Any]], period_end: str) -> dict[str, Any]:
    def window_closed(r: dict[str, Any]) -> bool:
        since = days_between(r["infused_at"], period_end)
        return since is not None and since >= READMISSION_DAYS
    discharged = [r for r in rows if r["infused_at"] and r["first_discharged_at"]]
    judged = [r for r in discharged if r["readmissions"] or window_closed(r)]
    return rate(sum(1 for r in judged if r["readmissions"]), len(judged))


def deviations(rows: list[dict[str, Any]]) -> dict[str, Any]:
    infused = [r for r in rows if r["infused_at"]]
    out: dict[str, Any] = rate(sum(1 for r in infused if any(r[c] for c in DEVIATION_KINDS.values())), len(infused))
    out["by_kind"] = {kind: sum(r[column] or 0 for r in rows) for kind, column in DEVIATION_KINDS.items()}
    return out


def compute(rows: list[dict[str, Any]], period_end: str) -> dict[str, Any]:
    """Every KPI over the given pathway fact rows; ``period_end``: the instant the period ends."""
    infused = [r for r in rows if r["infused_at"]]
    decided = [r for r in rows if r["bridging"] is not None]
    return {
        "vein_to_vein": durations((days_between(r["first_apheresis_at"], r["infused_at"]) for r in infused),
                                  reason="infusion.infused_at before apheresis.collection_date", bin_days=7),
        "order_to_infusion": durations((days_between(r["ordered_at"], r["infused_at"]) for r in infused),
                                       reason="infusion.infused_at before place_order"),
        "manufacturing_turnaround": durations((days_between(r["release_apheresis_at"], r["first_released_at"])
                                               for r in rows if r["first_released_at"]),
                                              reason="product_released.released_at before apheresis.collection_date"),
        "first_pass_success": first_pass_success(rows),
        "oos_rate": oos_rate(rows),
        "delivery_success": delivery_success(rows),
        "drop_out": drop_out(rows, period_end),
        "bridging_rate": rate(sum(1 for r in decided if r["bridging"]), len(decided)),
        "crs_max_grade": distribution(r["crs_max"] for r in infused),
        "icans_max_grade": distribution(r["icans_max"] for r in infused),
        "icu_transfer_rate": rate(sum(1 for r in infused if r["icu_transfers"]), len(infused)),
        "icu_length_of_stay": icu_length_of_stay(rows),
        "length_of_stay": length_of_stay(rows),
        "readmission_rate": readmission_rate(rows, period_end),
        "deviations": deviations(rows),
    }


def report(rows: Iterable[dict[str, Any]], filters: dict[str, Any], *, now: Any) -> dict[str, Any]:
    """``now``: when the report is made; the period ends at ``to`` if that is earlier."""
    rows = list(rows)
    period_end: str = utc(now) if not filters.get("to") else min(utc(filters["to"]), utc(now))  # type: ignore[type-var, assignment]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["center"], r["product"]), []).append(r)
    return {
        "filters": filters,
        "cohort": "pathways started in [from, to)" if filters.get("from") or filters.get("to") else "all pathways",
        "period_end": period_end,
        "pathways": len(rows),
        "kpis": compute(rows, period_end),
        "by_center_product": [{"center": c, "product": p, "pathways": len(g), "kpis": compute(g, period_end)}
                              for (c, p), g in sorted(groups.items())],
        "definitions": DEFINITIONS,
    }
