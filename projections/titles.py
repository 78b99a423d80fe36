"""Human titles for timeline steps, given at read time.

Tasks carry the title of their BPMN node (the process owners' wording); this
module names what the model does not: messages, decisions, timers, the
cancellation and the end, a task whose node has no name, and the registry
report's timepoint (known once the report is recorded). Pure functions: old
rows get the same titles as new ones without rebuilding the view.
"""
from __future__ import annotations

from typing import Any

#: Task ids of PATHWAY.md (v1 and v2) -> a title for when the model gives none.
TASKS = {
    "rcp_eligibility": "RCP eligibility decision", "patient_consent": "Patient consent",
    "place_order": "Place manufacturing order", "chase_slot": "Chase manufacturer for a slot",
    "apheresis": "Apheresis collection", "ship_apheresis": "Ship apheresis to manufacturer",
    "bridging_decision": "Bridging therapy decision", "chase_manufacturer": "Chase manufacturer for status",
    "failure_decision": "Decide after product failure", "oos_acceptance": "Accept out-of-specification product",
    "product_receipt": "Product receipt", "lymphodepletion_start": "Start lymphodepletion",
    "lymphodepletion_end": "End of lymphodepletion", "tocilizumab_reservation": "Reserve tocilizumab doses",
    "pre_infusion_check": "Pre-infusion check", "deferral_decision": "Decide after infusion deferral",
    "product_disposition": "Product disposition", "thaw_product": "Thaw and dispense product",
    "infusion": "CAR-T infusion", "daily_assessment": "Daily toxicity assessment",
    "toxicity_treatment": "Toxicity treatment", "icu_review": "ICU review", "icu_transfer": "ICU admission",
    "icu_assessment": "ICU toxicity assessment", "icu_discharge": "ICU discharge to the ward",
    "discharge": "Hospital discharge", "post_discharge_visit": "Post-discharge visit",
    "follow_up_visit": "Follow-up visit", "registry_report": "Registry report",
}
MESSAGES = {
    "order_placed": "Order placed with the manufacturer", "slot_confirmed": "Manufacturing slot confirmed",
    "apheresis_shipped": "Apheresis shipped to the manufacturer",
    "apheresis_received": "Apheresis received by the manufacturer", "manufacturing_status": "Manufacturing status",
    "manufacturing_failed": "Manufacturing failed", "product_released": "Product released",
    "product_shipped": "Product shipped to the centre", "product_received": "Product received at the centre",
    "product_quarantined": "Product put in quarantine", "quarantine_decision": "Quarantine decision",
    "infusion_done": "Infusion reported to the manufacturer",
}
TIMEPOINTS = {"day0": "day 0", "day100": "day 100", "month6": "month 6", "month12": "month 12",
              "end": "end of pathway"}
CANCEL_REASONS = {"death": "death", "progression": "progression", "patient_decision": "patient decision",
                  "physician_decision": "physician decision", "other": "other reason",
                  "lost_to_follow_up": "lost to follow-up", "transferred": "transferred to another centre"}
DEVIATIONS = {"thaw_to_infusion": "infused outside the thaw window",
              "tocilizumab_24h_limit": "tocilizumab over the 24-hour limit"}
OUTCOMES = {"not_eligible": "not eligible", "declined": "consent declined", "not_infused": "not infused",
            "cancelled": "cancelled", "deceased": "deceased",
            "follow_up_handover": "handed over to long-term follow-up"}


def _words(name: str | None) -> str:
    return (name or "").replace("_", " ").strip().capitalize()


def _decision(result: dict[str, Any]) -> str | None:
    parts = []
    if "crs_grade" in result:
        parts.append(f"CRS grade {result['crs_grade']}")
    if "icans_grade" in result:
        parts.append(f"ICANS grade {result['icans_grade']}")
    if "defer" in result:
        parts.append("Infusion deferred" if result["defer"] else "Fit for infusion")
    if "ready" in result:
        parts.append("Ready for discharge" if result["ready"] else "Not yet ready for discharge")
    if "thaw_to_infusion_max_minutes" in result or "infusion_window_min_days" in result:
        parts.append("Product rules")
    return ", ".join(parts) or None


def title(kind: str, name: str | None, stored: str | None, data: Any) -> str:
    """The title a timeline step shows (``stored``: the model's, for tasks)."""
    data = data if isinstance(data, dict) else {}
    if kind == "task":
        base = stored if stored and stored != name else TASKS.get(name or "", _words(name))
        if name == "registry_report" and data.get("timepoint"):
            point = TIMEPOINTS.get(data["timepoint"], data["timepoint"])
            return f"{base} ({point}{', ' + data['registry'] if data.get('registry') else ''})"
        return base
    if kind in ("message_in", "message_out", "wait"):
        text = MESSAGES.get(name or "", _words(name))
        return f"Waiting: {text[0].lower()}{text[1:]}" if kind == "wait" else text
    if kind == "decision":
        return _decision(data) or _words(name)
    if kind == "timer":  # the BPMN event's own wording, recorded with TimerArmed; older events have none
        return stored if stored and stored != name else f"Timer: {_words(name).lower()}"
    if kind == "cancelled":
        reason = CANCEL_REASONS.get(name or "", _words(name).lower())
        if name == "death":
            details = ", ".join(str(data[k]) for k in ("death_date", "death_cause") if data.get(k))
            return f"Cancelled: death ({details})" if details else "Cancelled: death"
        return f"Cancelled: {reason}"
    if kind == "deviation":
        text = DEVIATIONS.get(name or "", _words(name).lower())
        return f"Deviation: {text}" + (f" ({data['reason']})" if data.get("reason") else "")
    if kind == "ended":
        return f"Ended: {OUTCOMES.get(name or '', _words(name).lower())}"
    if kind == "started":
        return "Pathway started"
    if kind == "migrated":
        versions = f"version {(data.get('from') or {}).get('version')} to {(data.get('to') or {}).get('version')}"
        return f"Moved from {versions}" + (f" ({data['reason']})" if data.get("reason") else "")
    return stored or _words(name)
