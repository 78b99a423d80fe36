"""The clinical rules of PATHWAY.md v2 that a form cannot express on its own.

A form checks one task's fields in isolation; these rules read them against the
pathway's recorded facts and the recorded clock: "Time and order of clinical facts"
(nothing that happened lies in the future; the milestones keep their order), the
thaw-to-infusion limit, the tocilizumab 24-hour limit, the discharge checklist,
the out-of-specification acceptance and the reason for stopping.

Every function here is pure (facts, task, data, now in; a refusal or the deviations
to record out), so the application service calls them once before a completion and
``verify`` re-derives the deviations a recorded completion carried. A refusal records
nothing, so replay never meets one. A rule that needs a field of contract version 2
applies only when the task's form declares that field: pathways on the version-1
model keep running as they did.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .errors import ClinicalRuleViolation

FUTURE_TOLERANCE = timedelta(minutes=5)
# Fields that record something that has happened (PATHWAY.md); planned dates are not among them.
HAPPENED = ("rcp_date", "collection_date", "pickup_at", "received_at", "start_date", "end_date",
            "thaw_started_at", "thaw_ended_at", "infused_at", "infusion_ended_at", "assessed_at", "given_at",
            "admitted_at", "reviewed_at", "discharged_at", "visit_date", "death_date", "submitted_at", "at")
# The milestones, in the order they must keep (each no earlier than every one before it).
MILESTONES = (("rcp_eligibility", "rcp_date"), ("apheresis", "collection_date"), ("product_receipt", "received_at"),
              ("thaw_product", "thaw_started_at"), ("thaw_product", "thaw_ended_at"), ("infusion", "infused_at"),
              ("discharge", "discharged_at"))
_INFUSED = ("infusion", "infused_at")
# Facts that follow from the steps' meaning: a stay ends after it began, monitoring follows the infusion.
AFTER: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    **{m: MILESTONES[:i] for i, m in enumerate(MILESTONES)},
    ("infusion", "infusion_ended_at"): (_INFUSED,),
    ("lymphodepletion_end", "end_date"): (("lymphodepletion_start", "start_date"),),
    ("daily_assessment", "assessed_at"): (_INFUSED,),
    ("icu_assessment", "assessed_at"): (_INFUSED,),
    ("toxicity_treatment", "given_at"): (_INFUSED,),
    ("icu_review", "reviewed_at"): (_INFUSED,),
    ("icu_transfer", "admitted_at"): (_INFUSED,),
    ("icu_discharge", "discharged_at"): (("icu_transfer", "admitted_at"), _INFUSED),
    ("post_discharge_visit", "visit_date"): (("discharge", "discharged_at"),),
    ("follow_up_visit", "death_date"): (_INFUSED,),
}
# PATHWAY.md product_rules defaults, used when the pathway's model recorded no product_rules result.
THAW_TO_INFUSION_MAX_MINUTES = {"axi-cel": 180, "brexu-cel": 180, "tisa-cel": 30, "liso-cel": 120, "ide-cel": 60,
                                "cilta-cel": 150}
DEFAULT_THAW_TO_INFUSION_MAX_MINUTES = 30
TOCILIZUMAB_MAX_DOSES_24H = 3
DISCHARGE_CHECKLIST = ("caregiver_24h", "lodging_within_2h", "driving_advice_given", "alert_card_given")
DEATH_CAUSES = ("progression", "crs", "icans", "infection", "hlh", "secondary_malignancy", "other")


@dataclass(frozen=True)
class Facts:
    """What the rules read of a pathway: each task's latest recorded data, the product,
    the recorded decision results, and when tocilizumab was given."""

    recorded: Mapping[str, Any]
    product: str
    tocilizumab_given_at: tuple[str, ...] = ()
    decisions: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, pathway: Any) -> Facts:
        data = pathway.data
        return cls(recorded=data, product=pathway.product, tocilizumab_given_at=tuple(pathway.tocilizumab_given_at),
                   decisions=data.get("decisions") or {})

    def value(self, task: str, name: str) -> Any:
        recorded = self.recorded.get(task)
        return recorded.get(name) if isinstance(recorded, dict) else None


@dataclass(frozen=True)
class Deviation:
    """A completion recorded outside a limit, with the reason a person gave."""

    kind: str
    task: str
    reason: str
    limit_minutes: int | None = None
    actual_minutes: int | None = None
    limit_doses: int | None = None
    actual_doses: int | None = None

    def as_event(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def check_completion(facts: Facts, task: str, data: Mapping[str, Any], now: datetime,
                     declared: Iterable[str]) -> list[Deviation]:
    """Refuse a completion that breaks a rule (ClinicalRuleViolation, naming both fields);
    otherwise return the deviations to record with it."""
    declared = frozenset(declared)
    errors: dict[str, list[str]] = {}
    _check_not_future(data, now, errors)
    _check_order(facts, task, data, errors)
    _check_checklists(task, data, declared, errors)
    found = _limits(facts, task, data, declared)
    for name, message, deviation in found:
        if deviation is None:
            errors.setdefault(name, []).append(message)
    _refuse_if(errors, task)
    return [d for _, _, d in found if d is not None]


def deviations(facts: Facts, task: str, data: Mapping[str, Any], declared: Iterable[str]) -> list[Deviation]:
    """The deviations a recorded completion carried (what ``verify`` expects to find)."""
    return [d for _, _, d in _limits(facts, task, data, frozenset(declared)) if d is not None]


def check_death(facts: Facts, death_date: Any, now: datetime) -> None:
    """A death cancel's date: not in the future, not before the infusion."""
    errors: dict[str, list[str]] = {}
    _check_not_future({"death_date": death_date}, now, errors)
    for pred in ((_INFUSED,) if facts.value(*_INFUSED) is not None else ()):
        _check_after("death_date", death_date, pred, facts.value(*pred), errors)
    _refuse_if(errors, "cancel")


# -- time and order ------------------------------------------------------------------------------
def _moment(value: Any) -> date | datetime | None:
    """A recorded value as a date or an aware datetime (None when it is neither)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(moment: date | datetime) -> date:
    return moment.astimezone(UTC).date() if isinstance(moment, datetime) else moment


def _compare(a: date | datetime, b: date | datetime) -> int:
    """-1, 0, 1; a date against a datetime compares by (UTC) day."""
    if isinstance(a, datetime) and isinstance(b, datetime):
        return (a > b) - (a < b)
    da, db = _day(a), _day(b)
    return (da > db) - (da < db)


def _check_not_future(data: Mapping[str, Any], now: datetime, errors: dict[str, list[str]]) -> None:
    limit = now + FUTURE_TOLERANCE
    for name in HAPPENED:
        moment = _moment(data.get(name))
        if moment is None:
            continue
        late = moment > limit if isinstance(moment, datetime) else moment > limit.date()
        if late:
            errors.setdefault(name, []).append(f"in the future: {_text(moment)} is after the recorded clock "
                                               f"{now.isoformat()}")


def _check_order(facts: Facts, task: str, data: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    for name in data:
        for pred in AFTER.get((task, name), ()):
            earlier = data.get(pred[1]) if pred[0] == task else facts.value(*pred)
            _check_after(name, data[name], pred, earlier, errors)


def _check_after(name: str, value: Any, pred: tuple[str, str], earlier: Any, errors: dict[str, list[str]]) -> None:
    later, before = _moment(value), _moment(earlier)
    if later is None or before is None or _compare(later, before) >= 0:
        return
    errors.setdefault(name, []).append(f"before {pred[0]}.{pred[1]} {_text(before)}")


def _text(moment: date | datetime) -> str:
    return moment.isoformat()


# -- checklists --------------------------------------------------------------------------------------
def _check_checklists(task: str, data: Mapping[str, Any], declared: frozenset[str],
                      errors: dict[str, list[str]]) -> None:
    if task == "discharge":
        for name in DISCHARGE_CHECKLIST:
            if name in declared and data.get(name) is not True:
                errors.setdefault(name, []).append("must be true to discharge")
    elif task == "oos_acceptance":
        if "patient_informed" in declared and data.get("accept") is True and data.get("patient_informed") is not True:
            errors.setdefault("patient_informed", []).append(
                "must be true to accept an out-of-specification product (accept is true)")
    elif task == "failure_decision":
        if "reason" in declared and data.get("option") == "stop" and not str(data.get("reason") or "").strip():
            errors.setdefault("reason", []).append("required when option is stop")


# -- limits that a reason may override -------------------------------------------------------------
def _limits(facts: Facts, task: str, data: Mapping[str, Any],
            declared: frozenset[str]) -> list[tuple[str, str, Deviation | None]]:
    """(field, refusal message, deviation or None when no reason was given) per limit exceeded."""
    if task == "infusion" and "deviation_reason" in declared:
        return _thaw_window(facts, data)
    if task == "toxicity_treatment" and "override_reason" in declared and data.get("drug") == "tocilizumab":
        return _tocilizumab_24h(facts, data)
    return []


def thaw_to_infusion_max_minutes(facts: Facts) -> int:
    """From the pathway's product_rules result when its model recorded one, else PATHWAY.md's default."""
    for result in facts.decisions.values():
        if isinstance(result, dict) and isinstance(result.get("thaw_to_infusion_max_minutes"), (int, float)):
            return int(result["thaw_to_infusion_max_minutes"])
    return THAW_TO_INFUSION_MAX_MINUTES.get(facts.product, DEFAULT_THAW_TO_INFUSION_MAX_MINUTES)


def _thaw_window(facts: Facts, data: Mapping[str, Any]) -> list[tuple[str, str, Deviation | None]]:
    infused, thawed = _moment(data.get("infused_at")), _moment(facts.value("thaw_product", "thaw_ended_at"))
    if not isinstance(infused, datetime) or not isinstance(thawed, datetime):
        return []
    limit = thaw_to_infusion_max_minutes(facts)
    actual = (infused - thawed).total_seconds() / 60
    if actual <= limit:
        return []
    # started minutes, never rounded down to the limit
    minutes = int(actual) if actual.is_integer() else int(actual) + 1
    message = (f"{minutes} minutes after thaw_product.thaw_ended_at {thawed.isoformat()}, over the "
               f"{facts.product} limit of {limit} minutes; give deviation_reason to record a deviation")
    reason = str(data.get("deviation_reason") or "").strip()
    deviation = Deviation("thaw_to_infusion", "infusion", reason, limit_minutes=limit,
                          actual_minutes=minutes) if reason else None
    return [("infused_at", message, deviation)]


def _tocilizumab_24h(facts: Facts, data: Mapping[str, Any]) -> list[tuple[str, str, Deviation | None]]:
    given = _moment(data.get("given_at"))
    if not isinstance(given, datetime):
        return []
    doses = sorted(m for m in (_moment(g) for g in facts.tocilizumab_given_at) if isinstance(m, datetime))
    window = timedelta(hours=24)
    # the most doses in any 24-hour window that holds this one
    starts = [given, *(d for d in doses if given - window < d <= given)]
    most = max(sum(1 for d in doses if start <= d < start + window) + 1 for start in starts)
    if most <= TOCILIZUMAB_MAX_DOSES_24H:
        return []
    message = (f"dose {most} of tocilizumab within 24 hours (toxicity_treatment.given_at of the doses recorded); "
               f"at most {TOCILIZUMAB_MAX_DOSES_24H} unless override_reason is given")
    reason = str(data.get("override_reason") or "").strip()
    deviation = Deviation("tocilizumab_24h_limit", "toxicity_treatment", reason, limit_doses=TOCILIZUMAB_MAX_DOSES_24H,
                          actual_doses=most) if reason else None
    return [("given_at", message, deviation)]


def _refuse_if(errors: dict[str, list[str]], task: str) -> None:
    if errors:
        listed = "; ".join(f"{k} {', '.join(v)}" for k, v in sorted(errors.items()))
        raise ClinicalRuleViolation(f"{task} refused: {listed}", errors)
