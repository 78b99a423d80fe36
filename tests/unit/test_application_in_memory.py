"""The application service on eventsourcing's in-memory store (``eventsourcing.popo``) as the fake
store: the use cases, the unit of work and the correlation rules, with no file and no database."""
from __future__ import annotations

from datetime import timedelta

import pytest

from cartpath.engine import errors
from cartpath.engine.application import CartPath
from cartpath.engine.lint import read_paths
from cartpath.engine.store import StoreAdapter
from cartpath.engine.unit_of_work import SNAPSHOT_INTERVAL
from tests.support.store import FIXTURES, T0, ready_named, start_mini

SLOT = {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}
SHIPPED = {"shipper_id": "SH-1", "tracking": "TR-1", "shipped_at": "2026-02-20T10:00:00Z"}


@pytest.fixture
def app() -> CartPath:
    cp = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "CARTPATH_CLOCK": "manual",
                       "CARTPATH_CLOCK_START": T0.isoformat()})
    cp.deploy(read_paths([FIXTURES / "mini_pathway.bpmn", FIXTURES / "loop_pathway.bpmn"]))
    return cp


def test_start_complete_message_timer_to_the_end(app):
    p = start_mini(app)
    [task] = app.ready_tasks(p.id)
    assert task["name"] == "intake" and task["due_at"] == (T0 + timedelta(days=2)).isoformat()
    p = app.complete_task(p.id, task["task_id"], {"ok": True, "order_id": "ORD-1"})
    answer = app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-1", "coi": "COI-1"}, SLOT)
    assert answer["accepted"] and not answer["duplicate"] and answer["pathway_id"] == str(p.id)
    assert app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-1", "coi": "COI-1"}, SLOT)["duplicate"]
    assert app.fire_due_timers(T0 + timedelta(hours=23)) == 0
    assert app.fire_due_timers(T0 + timedelta(days=2)) == 1
    assert app.clock.now() == T0 + timedelta(days=2)  # the manual clock moved with the tick
    p = app.get_pathway(p.id)
    p = app.complete_task(p.id, ready_named(p, "check"), {"coi_scanned": "COI-1", "n": 2})
    assert (p.status, p.outcome) == ("ended", "follow_up_handover")
    assert app.verify(p.id)["ok"]
    assert [h["type"] for h in app.history(p.id)][:3] == ["Started", "NodeCompleted", "TaskBecameReady"]


@pytest.mark.parametrize("name, correlation, error", [
    ("slot_confirmed", {"order_id": "ORD-1"}, errors.InvalidMessage),                  # every message carries a coi
    ("product_shipped", {"order_id": "ORD-1", "coi": "COI-1"}, errors.MessageNotCorrelated),  # no coi assigned yet
    ("slot_confirmed", {"order_id": "ORD-9", "coi": "COI-1"}, errors.MessageNotCorrelated),   # unknown order
    ("slot_confirmed", {"order_id": "ORD-1", "coi": "COI-1", "x": 1}, errors.InvalidMessage),
    ("no_such_message", {"order_id": "ORD-1", "coi": "COI-1"}, errors.InvalidMessage),
])
def test_correlation_rules_refuse_and_record_nothing(app, name, correlation, error):
    p = start_mini(app)
    p = app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-1"})
    with pytest.raises(error):
        app.deliver_message(name, "m-x", correlation, SHIPPED if name == "product_shipped" else SLOT)
    assert app.get_pathway(p.id).version == p.version


def test_a_second_coi_for_the_same_order_is_refused(app):
    p = start_mini(app)
    app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-1"})
    app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-1", "coi": "COI-1"}, SLOT)
    with pytest.raises(errors.MessageNotCorrelated):
        app.deliver_message("slot_confirmed", "m-2", {"order_id": "ORD-1", "coi": "COI-2"}, SLOT)


def test_stale_expected_version_and_unknown_pathway_are_refused(app):
    p = start_mini(app)
    with pytest.raises(errors.ConcurrentUpdate):
        app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "O"}, expected_version=1)
    with pytest.raises(errors.UnknownPathway):
        app.get_pathway("not-a-uuid")


def test_unit_of_work_snapshots_and_the_in_memory_store_prunes_nothing(app):
    assert type(app.unit_of_work.store) is StoreAdapter and app.unit_of_work.store.kind == "memory"
    p = app.start_pathway("P-1", "FR-01", "MM", "cilta-cel", process_key="loop_pathway").pathway
    for day in range(1, 13):
        p = app.complete_task(p.id, ready_named(app.get_pathway(p.id), "assess"), {"value": day})
        app.fire_due_timers(T0 + timedelta(days=day, hours=1))
    p = app.get_pathway(p.id)
    assert p.version > SNAPSHOT_INTERVAL
    snapshots = list(app.snapshots.get(p.id))
    assert len(snapshots) > 1  # a prune would have left one: on the in-memory store it does nothing
    cold = CartPath(env=app.env)  # no shared memory with `app`: it reads nothing of it
    with pytest.raises(errors.UnknownPathway):
        cold.get_pathway(p.id)
    assert app.get_pathway(p.id).engine_checkpoint is not None and app.verify(p.id)["ok"]
