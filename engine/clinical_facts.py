"""Decision inputs the engine fills from the pathway's own history (PATHWAY.md v2).

Some inputs of the decision tables are not typed by anyone: whether a fever is
masked, how many tocilizumab doses are reserved for the patient, the monitoring
day, how many days in a row graded 0. A value typed for the purpose can be wrong
(two grade-0 assessments typed as day 14 and 15 on day 2 opened discharge), so
the engine derives them from facts the pathway recorded and from the recorded
clock, never from a date entered to count days.

The facts live in the engine state itself (``workflow.data``), appended as each
recorded input runs: a replay of the same inputs (``verify``, or a load from a
checkpoint) rebuilds the same facts and so fills the same values. Right before a
business rule task evaluates one of the decisions below, the engine puts the
derived values into its data, as top-level names.

Days are UTC calendar days, day 0 being the UTC date of ``infusion.infused_at``
(the engine stores every date-time in UTC).
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from .determinism import current_time

FACTS_KEY = "cartpath_clinical_facts"
ASSESSMENTS = ("daily_assessment", "icu_assessment")
# decision id -> the derived names it reads
FILLED_INPUTS = {
    "crs_grade": ("fever_masked", "monitoring_day"),
    "infusion_deferral": ("tocilizumab_doses_on_site", "days_since_lymphodepletion_start"),
    "discharge_readiness": ("days_since_infusion", "days_grade0"),
}
GRADES = {"crs_grade": "crs", "icans_grade": "icans"}


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


class ClinicalFacts:
    """The facts one pathway's decisions are derived from, kept in a plain JSON dict."""

    def __init__(self, store: dict[str, Any]):
        self.store = store
        store.setdefault("infused_at", None)
        store.setdefault("lymphodepletion_start", None)
        store.setdefault("events", [])

    @classmethod
    def of(cls, workflow) -> ClinicalFacts:
        return cls(workflow.data.setdefault(FACTS_KEY, {}))

    # -- recording (each recorded input, in order) -------------------------------------
    def task_completed(self, name: str, data: dict[str, Any]) -> None:
        now = current_time()
        events = self.store["events"]
        if name in ASSESSMENTS:
            at = _moment(data["assessed_at"]) if data.get("assessed_at") else now
            events.append({"kind": "assessment", "at": at.isoformat(), "crs": None, "icans": None})
        elif name == "toxicity_treatment":
            events.append({"kind": "treatment", "drug": data.get("drug"), "at": str(data.get("given_at") or now)})
        elif name == "tocilizumab_reservation":
            events.append({"kind": "reservation", "doses": int(data.get("doses") or 0)})
        elif name == "infusion":
            self.store["infused_at"] = _moment(data["infused_at"]).isoformat()
        elif name == "lymphodepletion_start":
            self.store["lymphodepletion_start"] = str(data["start_date"])

    def graded(self, decision: str, value: Any) -> None:
        """A grading decision ran: its grade belongs to the assessment recorded last."""
        for event in reversed(self.store["events"]):
            if event["kind"] == "assessment":
                event[GRADES[decision]] = value
                return

    # -- derived values ------------------------------------------------------------------------
    def inputs_for(self, decision: str) -> dict[str, Any]:
        return {name: getattr(self, name)() for name in FILLED_INPUTS.get(decision, ())}

    def fever_masked(self) -> bool:
        """CRS (grade >= 1) was graded earlier and a toxicity treatment was recorded since."""
        had_crs = False
        for event in self.store["events"]:
            if event["kind"] == "assessment" and (event["crs"] or 0) >= 1:
                had_crs = True
            elif event["kind"] == "treatment" and had_crs:
                return True
        return False

    def tocilizumab_doses_on_site(self) -> int:
        """Doses reserved for this patient minus the tocilizumab treatments recorded since."""
        reserved = sum(e["doses"] for e in self.store["events"] if e["kind"] == "reservation")
        used = sum(1 for e in self.store["events"] if e["kind"] == "treatment" and e["drug"] == "tocilizumab")
        return max(reserved - used, 0)

    def days_since_lymphodepletion_start(self) -> int:
        start = self.store["lymphodepletion_start"]
        if start is None:
            return 0
        return (current_time().date() - date.fromisoformat(start[:10])).days

    def _day(self, moment: datetime) -> int:
        infused = self.store["infused_at"]
        if infused is None:
            return 0
        return (moment.date() - _moment(infused).date()).days

    def _latest_assessment_at(self) -> datetime:
        times = [_moment(e["at"]) for e in self.store["events"] if e["kind"] == "assessment"]
        return times[-1] if times else current_time()

    def monitoring_day(self) -> int:
        """The day (0 = infusion) of the assessment being graded."""
        return self._day(self._latest_assessment_at())

    def days_since_infusion(self) -> int:
        return self.monitoring_day()

    def days_grade0(self) -> int:
        """Consecutive days, back from the day of the latest assessment, whose assessments
        all graded 0 for CRS and ICANS. A day without an assessment breaks the run."""
        by_day: dict[int, bool] = {}
        for event in self.store["events"]:
            if event["kind"] != "assessment":
                continue
            zero = (event["crs"] or 0) == 0 and (event["icans"] or 0) == 0
            day = self._day(_moment(event["at"]))
            by_day[day] = by_day.get(day, True) and zero
        day, count = self.monitoring_day(), 0
        while by_day.get(day):
            count += 1
            day -= 1
        return count
