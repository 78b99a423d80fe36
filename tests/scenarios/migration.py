"""Process owners change a running system (issue 13): pathways moved to a new version mid-flight.

Each scenario deploys a changed copy of the bundled model as version 2, plans the move
(dry run: nothing recorded), applies it, and carries on with the patient on the new
version; ``run_and_record`` then verifies every pathway, segment by segment.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from cartpath.engine.errors import CartpathError, InvalidMigration
from cartpath.engine.lint import read_paths

from . import scenario
from .conftest import PROCESSES
from .journey import Journey, iso

KEY = "cart_pathway"
# The ASTCT fever threshold lowered to 37.5 °C (a centre's protocol, say): every row of crs_grade.
CRS_37_5 = ("crs_grade.dmn", b"38.0", b"37.5")
# "5 days without answer" from the manufacturer shortened to 3 days.
SLOT_3D = ("cart_pathway.bpmn", b'"P5D"', b'"P3D"')
# chase_slot replaced by a task of another id (same place, same form).
CHASE_RENAMED = ("cart_pathway.bpmn", b"chase_slot", b"call_manufacturer")


def deploy_changed(app, *edits: tuple[str, bytes, bytes]) -> int:
    """Deploy the bundled files with ``edits`` (file, old bytes, new bytes) as a new version."""
    files = read_paths([PROCESSES])
    for name, old, new in edits:
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new)
    [deployed] = app.deploy(files)
    assert deployed["created"], deployed
    return deployed["version"]


def plan_and_apply(app, to_version: int, from_version: int = 1, **options) -> dict:
    """The dry run first (it records nothing), then the move; returns the move's answer."""
    before = app.recorder.max_notification_id()
    plan = app.migrate_pathways(KEY, from_version, to_version, dry_run=True, **options)
    assert app.recorder.max_notification_id() == before, "a dry run recorded something"
    assert all(p["status"] == "movable" for p in plan["pathways"]), plan
    moved = app.migrate_pathways(KEY, from_version, to_version, **options)
    assert moved["counts"] == {"migrated": len(plan["pathways"])}, moved
    for planned, done in zip(plan["pathways"], moved["pathways"], strict=True):
        assert planned["tasks_after"] == done["tasks_after"], (planned, done)  # the plan said what the move did
    return moved


def history_of(j: Journey) -> list[dict]:
    from cartpath.engine.records import history_items
    return history_items(j.app.events.get(j.id))


@scenario()
def migration_new_crs_threshold_reaches_patient_in_monitoring(app):
    j = Journey(app, 1)
    j.to_infused()
    j.assess(1, temperature_c=37.8)
    assert j.pathway.data["decisions"]["crs_grading"] == {"crs_grade": 0}  # no fever under version 1
    referred = Journey(app, 2)  # not yet in monitoring: its inpatient stay starts after the move
    v2 = deploy_changed(app, CRS_37_5)
    moved = plan_and_apply(app, v2, reason="fever threshold 37.5 °C (local protocol)")
    assert "daily_assessment" in moved["pathways"][0]["tasks_after"]["ready"]
    referred.to_infused()
    referred.assess(1, temperature_c=37.8)
    assert referred.pathway.data["decisions"]["crs_grading"] == {"crs_grade": 1}
    referred.assert_verified()
    assert j.pathway.definition["version"] == v2
    j.assess(2, temperature_c=37.8)
    assert j.pathway.data["decisions"]["crs_grading"] == {"crs_grade": 1}  # the new table decided
    items = history_of(j)
    [move] = [h for h in items if h["type"] == "Migrated"]
    assert move["kind"] == "input" and move["data"]["from"]["version"] == 1 and move["data"]["to"]["version"] == v2
    assert move["data"]["reason"] == "fever threshold 37.5 °C (local protocol)"
    gradings = [h for h in items if h["type"] == "NodeCompleted" and h["data"]["node_id"] == "crs_grading"]
    assert [g["definition_version"] for g in gradings] == [1, v2]
    j.assert_verified()
    again = app.migrate_pathways(KEY, 1, v2)
    assert again["counts"] == {"already_migrated": 2}  # a repeated request moves nothing twice


@scenario()
def migration_removed_task_blocks_unless_mapped(app):
    j = Journey(app, 1)
    j.eligible()
    j.consent()
    j.order()
    j.wait(days=5)
    assert j.ready() == ["chase_slot"], j.ready()
    v2 = deploy_changed(app, CHASE_RENAMED)
    events = j.count_events()
    for dry_run in (True, False):
        [item] = app.migrate_pathways(KEY, 1, v2, dry_run=dry_run)["pathways"]
        assert item["status"] == "blocked" and any("chase_slot" in r for r in item["reasons"]), item
    assert j.count_events() == events and j.pathway.definition["version"] == 1  # blocked: nothing recorded
    with pytest.raises(InvalidMigration):
        app.migrate_pathways(KEY, 1, v2, task_mapping={"chase_slot": "no_such_node"})
    plan_and_apply(app, v2, task_mapping={"chase_slot": "call_manufacturer"})
    assert j.ready() == ["call_manufacturer"], j.ready()
    j.complete("call_manufacturer", {"contacted_at": j.now().isoformat(), "note": "phoned the manufacturer"})
    j.slot()
    j.assert_verified()


@scenario()
def migration_moves_a_timer_and_keeps_the_unchanged_ones(app):
    waiting_slot = Journey(app, 1)
    waiting_slot.eligible()
    waiting_slot.consent()
    waiting_slot.order()
    in_manufacturing = Journey(app, 2)
    in_manufacturing.to_apheresis()
    in_manufacturing.collect()
    in_manufacturing.ship()
    manufacturing_due = in_manufacturing.pathway.next_due()
    waiting_slot.wait(days=1)
    moved_at = waiting_slot.now()
    v2 = deploy_changed(app, SLOT_3D)
    plan_and_apply(app, v2, reason="chase after 3 days")
    assert waiting_slot.pathway.next_due() == iso(moved_at + timedelta(days=3))  # counted from the move
    assert in_manufacturing.pathway.next_due() == manufacturing_due  # its 35-day timer did not change
    waiting_slot.wait(days=2, hours=23)
    assert waiting_slot.ready() == []
    waiting_slot.wait(hours=1)
    assert waiting_slot.ready() == ["chase_slot"], waiting_slot.ready()  # before the 5 days of version 1


@scenario()
def migration_keeps_the_manufacturer_correlation(app):
    j = Journey(app, 1)
    j.to_apheresis()
    j.collect()
    j.ship()
    j.bridge()
    j.wait(days=20)
    j.release()
    assert j.waiting_for() == {"product_shipped"}, j.pathway.waiting
    v2 = deploy_changed(app, CRS_37_5, SLOT_3D)
    plan_and_apply(app, v2)
    assert j.waiting_for() == {"product_shipped"} and j.pathway.coi == j.coi
    with pytest.raises(CartpathError):  # another COI is still no match for this patient
        j.tell("product_shipped", {"shipper_id": "SHP-9", "tracking": "T", "shipped_at": iso(j.now())},
               coi="W0000 26 999999 F")
    j.wait(days=2)
    j.product_shipped()
    j.wait(days=1)
    j.receive()
    assert j.ready() == ["tocilizumab_reservation"], j.ready()
    j.assert_verified()


# A release whose infusion-day timer reads a field that does not exist: the pathway stops there.
INFUSION_DAY_BUG = ("cart_pathway.bpmn", b'lymphodepletion_start["start_date"], infusion_window_min_days',
                    b'lymphodepletion_start["start_day"], infusion_window_min_days')
# The fix, released as a new version (its label says so; the timer is version 1's again).
INFUSION_DAY_FIXED = ("cart_pathway.bpmn", b'name="Chase manufacturer for a slot"',
                      b'name="Chase the manufacturer for a slot"')


@scenario()
def migration_moves_a_pathway_stopped_by_an_incident_to_the_fixed_version_then_retries(app):
    j = Journey(app, 1)
    buggy = deploy_changed(app, INFUSION_DAY_BUG)
    j.eligible()
    plan_and_apply(app, buggy)
    j.consent()
    j.order()
    j.slot()
    j.collect()
    j.ship()
    j.manufacture()
    start = j.now()
    j.complete("lymphodepletion_start", {"start_date": j.today()})
    j.wait(days=2)
    j.complete("lymphodepletion_end", {"end_date": j.today(), "completed": True})  # the infusion day timer fails
    incident = j.pathway.incident
    assert incident is not None and incident["node"] is not None, j.pathway.incident
    fixed = deploy_changed(app, INFUSION_DAY_FIXED)
    before = app.recorder.max_notification_id()
    [planned] = app.migrate_pathways(KEY, buggy, fixed, dry_run=True)["pathways"]
    assert planned["status"] == "movable", planned
    assert app.recorder.max_notification_id() == before
    [moved] = app.migrate_pathways(KEY, buggy, fixed, reason="infusion day timer fixed")["pathways"]
    assert moved["status"] == "migrated", moved
    assert j.pathway.incident is not None  # moving does not pretend the step ran: the retry does
    app.retry_incident(j.id, incident["incident_id"], actor={"sub": "po-1", "roles": ["process_owner"]})
    assert j.pathway.incident is None and j.ready() == [], j.ready()
    infusion_day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=5)
    assert j.pathway.next_due() == iso(infusion_day)  # the fixed timer: start date + 5 days (axi-cel)
    j.wait_until(infusion_day + timedelta(hours=8))
    assert j.ready() == ["pre_infusion_check"], j.ready()
    j.assert_verified()
