"""Migration of running pathways on a real store (issue 13): concurrency, re-checks, refusals,
and 200 demo patients moved mid-flight then finished."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.demo import Simulation
from cartpath.engine.errors import InvalidMigration, UnknownDefinition
from cartpath.engine.records import history_items
from tests.scenarios.conftest import PROCESSES
from tests.scenarios.journey import Journey
from tests.scenarios.migration import CHASE_RENAMED, CRS_37_5, KEY, SLOT_3D, deploy_changed


@pytest.fixture
def cart(env) -> CartPath:
    app = CartPath(env=env)
    app.deploy_bundled(PROCESSES)
    return app


def types(app: CartPath, pathway_id) -> list[str]:
    return [type(ev).__name__ for ev in app.events.get(pathway_id)]


def test_a_completion_that_lands_first_is_kept_and_the_move_runs_on_top_of_it(cart, env):
    j = Journey(cart, 1)
    j.eligible()  # this process now holds the pathway in its cache
    other = CartPath(env=env)  # another server process on the same store
    other.complete_task(j.id, j.task_id("patient_consent"), {"consent_signed": True},
                        actor={"sub": "nurse", "roles": ["coordination"]})
    v2 = deploy_changed(cart, CRS_37_5)
    [item] = cart.migrate_pathways(KEY, 1, v2)["pathways"]  # decided on a stale copy first, then on the store
    assert item["status"] == "migrated" and item["tasks_after"]["ready"] == ["place_order"], item
    names = types(cart, j.id)
    assert names.count("TaskCompleted") == 2 and names.index("Migrated") > names.index("TaskCompleted")
    assert cart.verify(j.id)["ok"]


def test_a_completion_on_a_stale_copy_after_the_move_runs_on_the_new_version(cart, env):
    j = Journey(cart, 1)
    other = CartPath(env=env)
    other.complete_task(j.id, j.task_id("rcp_eligibility"), {"eligible": True, "rcp_date": j.today()},
                        actor={"sub": "dr", "roles": ["hematology"]})  # `other` caches the pathway on version 1
    v2 = deploy_changed(cart, CRS_37_5)
    assert cart.migrate_pathways(KEY, 1, v2)["counts"] == {"migrated": 1}
    other.complete_task(j.id, j.task_id("patient_consent"), {"consent_signed": True},
                        actor={"sub": "nurse", "roles": ["coordination"]})
    items = history_items(cart.events.get(j.id))
    [consent] = [h for h in items if h["type"] == "TaskCompleted" and h["data"]["name"] == "patient_consent"]
    assert consent["definition_version"] == v2 and j.ready() == ["place_order"]
    assert cart.verify(j.id)["ok"]


def test_moves_racing_completions_lose_nothing(cart, env):
    """Two processes at once: one moves every pathway, the other completes a task in each. Each
    completion is recorded once, each move at most once, and every pathway verifies."""
    journeys = [Journey(cart, n) for n in range(1, 7)]
    v2 = deploy_changed(cart, CRS_37_5)
    other = CartPath(env=env)
    barrier = threading.Barrier(2)
    answers: dict[str, dict] = {}

    def complete_all():
        barrier.wait()
        for j in journeys:
            other.complete_task(j.id, j.task_id("rcp_eligibility"), {"eligible": True, "rcp_date": j.today()},
                                actor={"sub": "dr", "roles": ["hematology"]})

    def move_all():
        barrier.wait()
        answers["move"] = cart.migrate_pathways(KEY, 1, v2, reason="race")

    threads = [threading.Thread(target=complete_all), threading.Thread(target=move_all)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    statuses = {p["pathway_id"]: p["status"] for p in answers["move"]["pathways"]}
    for j in journeys:
        names = types(cart, j.id)
        assert names.count("TaskCompleted") == 1, names
        assert names.count("Migrated") == (1 if statuses[str(j.id)] == "migrated" else 0), (statuses, names)
        assert j.ready() == ["patient_consent"]
        assert cart.verify(j.id)["ok"]
    assert set(statuses.values()) <= {"migrated", "conflict"}


def test_a_pathway_that_changed_since_the_plan_is_checked_again(cart):
    j = Journey(cart, 1)
    j.eligible()
    j.consent()
    j.order()  # waiting for the slot: its wait is unchanged by the new version
    v2 = deploy_changed(cart, CHASE_RENAMED)
    [planned] = cart.migrate_pathways(KEY, 1, v2, dry_run=True)["pathways"]
    assert planned["status"] == "movable", planned
    j.wait(days=5)  # meanwhile chase_slot became ready: a node version 2 no longer has
    [done] = cart.migrate_pathways(KEY, 1, v2, pathways=[str(j.id)])["pathways"]
    assert done["status"] == "blocked" and "chase_slot" in done["reasons"][0], done
    assert "Migrated" not in types(cart, j.id)


def test_a_form_it_filled_that_lost_a_required_field_blocks(cart):
    j = Journey(cart, 1)
    j.eligible()
    v2 = deploy_changed(cart, ("cart_pathway.bpmn", b'<cartpath:field name="rcp_date"',
                               b'<cartpath:field name="rcp_meeting_date"'))
    [item] = cart.migrate_pathways(KEY, 1, v2, dry_run=True)["pathways"]
    assert item["status"] == "blocked", item
    assert any("rcp_eligibility" in r and "rcp_date" in r for r in item["reasons"]), item
    assert any("rcp_meeting_date" in r for r in item["reasons"]), item


@pytest.mark.parametrize("args, field", [
    ((1, 1), "to_version"),
    ((1, 9), "to_version"),
    ((0, 1), "from_version"),
])
def test_requests_that_cannot_be_planned_are_refused_and_record_nothing(cart, args, field):
    Journey(cart, 1)
    deploy_changed(cart, CRS_37_5)
    before = cart.recorder.max_notification_id()
    with pytest.raises(InvalidMigration) as refused:
        cart.migrate_pathways(KEY, *args)
    assert field in refused.value.errors
    with pytest.raises(InvalidMigration) as refused:
        cart.migrate_pathways(KEY, 1, 2, pathways=["x"], center="FR-01")
    with pytest.raises(InvalidMigration) as refused:
        cart.migrate_pathways(KEY, 1, 2, task_mapping={"nowhere": "rcp_eligibility"})
    assert "task_mapping.nowhere" in refused.value.errors
    with pytest.raises(UnknownDefinition):
        cart.migrate_pathways("no_such_process", 1, 2)
    assert cart.recorder.max_notification_id() == before


def test_selection_by_centre_and_by_id(cart):
    here, there = Journey(cart, 1), Journey(cart, 2, center="FR-013-02")
    v2 = deploy_changed(cart, CRS_37_5)
    plan = cart.migrate_pathways(KEY, 1, v2, center="FR-013-02", dry_run=True)
    assert [p["pathway_id"] for p in plan["pathways"]] == [str(there.id)]
    picked = cart.migrate_pathways(KEY, 1, v2, pathways=[str(here.id), "not-a-pathway"], dry_run=True)
    assert [p["status"] for p in picked["pathways"]] == ["movable", "skipped"]


def test_200_demo_pathways_moved_mid_flight_then_finished(cart):
    sim = Simulation(cart, seed=7)
    sim.begin(200)
    sim.resume(until=cart.clock.now() + timedelta(days=75))
    running = [pid for pid in cart.pathway_ids() if cart.get_pathway(pid).status == "active"]
    assert len(running) > 100  # mid-flight: most patients are somewhere on their pathway
    v2 = deploy_changed(cart, CRS_37_5, SLOT_3D)
    moved = cart.migrate_pathways(KEY, 1, v2, reason="fever threshold 37.5 °C; chase after 3 days")
    assert moved["counts"] == {"migrated": len(running)}, moved["counts"]
    sim.resume()  # every patient carries on, on version 2, to the end of the pathway
    for pid in cart.pathway_ids():
        pathway = cart.get_pathway(pid)
        assert pathway.status == "ended", (pid, pathway.ready, pathway.waiting)
        assert cart.verify(pid)["ok"], cart.verify(pid)
    assert all(cart.get_pathway(pid).definition["version"] == v2 for pid in running)
