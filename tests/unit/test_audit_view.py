"""The auditor's reads without a store file: time travel on the in-memory store (the state at every
version equals the state the aggregate had then), the words an event says (summary, why, who), the
CSV export's quoting, and the PDF read back with pypdf."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from cartpath.engine.application import CartPath
from cartpath.engine.as_of import InvalidAsOf, parse_point
from cartpath.engine.lint import read_paths
from cartpath.projections import audit_events, audit_pdf, audit_report, event_text
from tests.support.store import FIXTURES, T0, ready_named, start_mini

SLOT = {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}


@pytest.fixture
def app() -> CartPath:
    cp = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CARTPATH_CLOCK": "manual",
                       "CARTPATH_CLOCK_START": T0.isoformat()})
    cp.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
    return cp


def ended_pathway(app: CartPath):
    """The mini pathway to its end, with a day between the slot and the check."""
    p = start_mini(app)
    p = app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-1"},
                          actor={"sub": "nurse-1", "roles": ["coordination"]})
    app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-1", "coi": "COI-1"}, SLOT)
    app.fire_due_timers(T0 + timedelta(days=2))
    p = app.get_pathway(p.id)
    return app.complete_task(p.id, ready_named(p, "check"), {"coi_scanned": "COI-1", "n": 2})


def test_as_of_every_version_is_the_aggregate_as_it_was_then(app):
    p = ended_pathway(app)
    for version in range(1, p.version + 1):
        past, point = app.pathway_as_of(p.id, str(version))
        then = app.repository.get(p.id, version=version)
        assert (past.version, point.version) == (version, version)
        assert (past.status, past.ready, past.waiting, past.data) == (then.status, then.ready, then.waiting, then.data)
    assert app.pathway_as_of(p.id, "1")[0].ready == {} and app.pathway_as_of(p.id, "1")[0].status == "active"


def test_as_of_a_moment_is_the_last_event_recorded_at_or_before_it(app):
    p = ended_pathway(app)
    events = list(app.events.get(p.id))
    before_timer = max(e.originator_version for e in events if e.at <= T0 + timedelta(hours=1))
    past, point = app.pathway_as_of(p.id, "2026-01-05T09:00:00+00:00")
    assert point.version == before_timer and past.status == "active"
    assert point.moment == T0 + timedelta(hours=1) and point.at <= point.moment
    assert app.pathway_as_of(p.id, "2026-01-07T08:00:00Z")[1].version == p.version  # the clock's now: all of it
    # at the very moment of the first commands: every event they recorded, the timer's wait included
    assert app.pathway_as_of(p.id, "2026-01-05T08:00:00Z")[1].version == before_timer
    assert [w["kind"] for w in past.waiting.values()] == ["timer"]


@pytest.mark.parametrize("as_of, says", [
    ("0", "versions are 1 to"), ("99999", "versions are 1 to"), ("2026-01-05", "a version (an integer"),
    ("2026-01-05T07:59:59Z", "before the pathway started"), ("2026-01-08T08:00:00Z", "ahead of the store's clock"),
    ("2026-01-05T09:00:00", "not an ISO 8601 date-time with an offset"), ("-1", "a version (an integer"),
    ("", "a version (an integer"), ("1.5", "a version (an integer"), ("T", "not an ISO 8601"),
])
def test_a_point_the_pathway_never_had_is_refused_naming_why(app, as_of, says):
    p = ended_pathway(app)
    with pytest.raises(InvalidAsOf) as refused:
        app.pathway_as_of(p.id, as_of)
    assert says in refused.value.detail and refused.value.errors == {"as_of": [refused.value.detail]}


def test_an_integer_is_a_version_and_a_date_time_a_moment():
    assert parse_point(" 12 ") == 12
    assert parse_point("2026-03-05T12:00:00Z").isoformat() == "2026-03-05T12:00:00+00:00"


def test_what_an_event_says():
    completed = {"name": "infusion", "lane": "ward", "data": {"deviation_reason": "bed not ready"},
                 "actor": {"sub": "nurse-2", "roles": ["ward"], "centers": ["FR-01"], "name": "never kept"},
                 "signatures": [{"role": "signer", "sub": "nurse-2", "meaning": "performed"},
                                {"role": "witness", "sub": "nurse-3", "meaning": "verified"}]}
    assert event_text.summary("TaskCompleted", completed) == (
        "completed infusion (ward); performed by nurse-2 (signer); verified by nurse-3 (witness)")
    assert event_text.why("TaskCompleted", completed) == "bed not ready"
    assert event_text.actor(completed) == {"sub": "nurse-2", "roles": ["ward"]}  # never a name
    portal = {"actor": {"sub": "acme-portal", "roles": ["manufacturer"], "org": "ACME"}}
    assert event_text.actor(portal)["org"] == "ACME"
    assert event_text.actor({"task_id": "t"}) is None
    assert event_text.why("Cancelled", {"reason": "death", "comment": "at home"}) == "death; at home"
    assert event_text.summary("DeviationRecorded", {"kind": "thaw_to_infusion", "task": "infusion",
                                                    "limit_minutes": 180, "actual_minutes": 240}) == (
        "deviation thaw_to_infusion at infusion: 240 minutes against a limit of 180")
    assert event_text.summary("TaskCorrected", {"task": "apheresis", "field": "cd3_cells_e9", "original": 3.2,
                                                "value": 2.3, "decided_on_corrected_data": True}) == (
        "corrected apheresis.cd3_cells_e9: 3.2 -> 2.3 (a decision was taken on the original value)")
    assert event_text.summary("IncidentRaised", {"incident_id": "i-1", "node": "grade", "error_class": "ScriptError",
                                                 "message": "budget exceeded"}) == (
        "incident i-1 at grade: ScriptError: budget exceeded; the pathway waits for a retry")
    # a type this module was never taught still says what names it
    assert event_text.summary("PathwayMigrated", {"task": "daily_assessment", "error": "x"}) == (
        "PathwayMigrated: task daily_assessment")


def test_csv_quotes_what_needs_quoting_and_keeps_every_value_exact():
    item = {"position": 7, "pathway_id": "p-1", "version": 4, "patient_ref": "P-1", "center": "FR-01",
            "type": "Cancelled", "at": "2026-01-05T08:00:00.000000+00:00",
            "actor": {"sub": "dr-h", "roles": ["hematology", "coordination"]},
            "why": 'patient said "no", firmly\nthen left', "summary": "cancelled: patient_decision"}
    text = "".join(audit_events.csv_text([item, {**item, "position": 8, "actor": None, "why": None}]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(audit_events.CSV_COLUMNS)
    assert rows[1][audit_events.CSV_COLUMNS.index("why")] == item["why"]
    assert rows[1][audit_events.CSV_COLUMNS.index("actor_roles")] == "hematology;coordination"
    assert rows[2][audit_events.CSV_COLUMNS.index("actor_sub")] == "" and len(rows) == 3


def test_the_pdf_reads_back_with_what_it_must_show(app):
    p = ended_pathway(app)
    # the in-memory store keeps no hash chain: a report by default says so, as a failed check
    default = audit_report.build(app, p.id, printed_by="auditor-1", checks=audit_report.default_checks())
    assert default["integrity"]["chain"]["ok"] is False and "could not run" in default["integrity"]["chain"]["reason"]
    assert default["integrity_ok"] is False and default["integrity"]["verify"]["ok"] is True
    report = audit_report.build(app, p.id, printed_by="auditor-1", checks={"verify": audit_report.verify_check})
    report["signatures"] = [{"position": 4, "task": "intake", "role": "signer", "sub": "nurse-1",
                             "name": "Dr \u0141ukasz Test", "roles": ["coordination"], "at": "2026-01-05T08:00:00Z",
                             "meaning": "performed", "sha256": "ab" * 32}]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(audit_pdf.render(report))).pages)
    for expected in ("P-0001", "FR-01", "mini_pathway version 1", "verify: PASSED", "nurse-1", "TaskCompleted",
                     "Started", "PathwayEnded", "Dr \\u0141ukasz Test", "performed", str(p.id)):
        assert expected in text, expected
    assert report["integrity_ok"] and report["integrity"]["verify"]["ok"]
    assert [e["position"] for e in report["events"]] == list(range(1, p.version + 1))
