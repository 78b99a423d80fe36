"""The engine's use cases on a real store, through the application service."""
import uuid
from datetime import timedelta

import pytest

from cartpath.engine import errors
from cartpath.engine.application import CartPath
from tests.support.store import T0, ready_named, run_mini_to_slot, start_mini


def event_count(app, pathway_id):
    return len(list(app.events.get(pathway_id)))


def test_start_records_input_and_outcomes_in_one_save(app):
    p = start_mini(app)
    types = [h["type"] for h in app.history(p.id)]
    assert types == ["Started", "NodeCompleted", "TaskBecameReady"]
    assert p.status == "active" and [r["name"] for r in p.ready.values()] == ["intake"]
    assert p.ready[ready_named(p, "intake")]["lane"] == "coordination"


def test_full_mini_pathway_ends_with_its_outcome_and_verifies(app):
    p = run_mini_to_slot(app)
    assert p.coi == "COI-1"
    [timer] = [w for w in p.waiting.values() if w["kind"] == "timer"]
    assert timer["due_at"] == (T0 + timedelta(days=1)).isoformat()
    assert app.fire_due_timers(T0 + timedelta(hours=23)) == 0
    assert app.fire_due_timers(T0 + timedelta(days=2)) == 1
    p = app.get_pathway(p.id)
    p = app.complete_task(p.id, ready_named(p, "check"), {"coi_scanned": "COI-1", "n": 2})
    assert (p.status, p.outcome) == ("ended", "follow_up_handover")
    assert app.verify(p.id)["ok"] is True
    sent = [h for h in app.history(p.id) if h["type"] == "MessageSent"]
    assert [s["data"]["name"] for s in sent] == ["order_placed"]
    assert sent[0]["data"]["payload"] == {"order_id": "ORD-1", "patient_ref": "P-0001"}


def test_gateway_branch_to_refusal_end(app):
    p = start_mini(app)
    p = app.complete_task(p.id, ready_named(p, "intake"), {"ok": False, "order_id": "X"})
    assert (p.status, p.outcome) == ("ended", "declined")
    flows = [f for h in app.history(p.id) if h["type"] == "NodeCompleted" for f in h["data"]["flows"]]
    assert "f3" in flows and "f4" not in flows


@pytest.mark.parametrize("data, field", [
    ({"order_id": "X"}, "ok"),                          # missing required
    ({"ok": "yes", "order_id": "X"}, "ok"),             # wrong type
    ({"ok": True, "order_id": 5}, "order_id"),
    ({"ok": True, "order_id": "X", "colour": "red"}, "colour"),  # unknown field
])
def test_invalid_task_data_is_refused_and_nothing_recorded(app, data, field):
    p = start_mini(app)
    before = event_count(app, p.id)
    with pytest.raises(errors.InvalidTaskData) as err:
        app.complete_task(p.id, ready_named(p, "intake"), data)
    assert field in err.value.errors
    assert event_count(app, p.id) == before
    # and the engine state was not touched: the task can still be completed
    assert app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "X"}).version > before


def test_task_not_ready_unknown_task_and_unknown_pathway(app):
    p = run_mini_to_slot(app)
    intake_id = next(h["data"]["task_id"] for h in app.history(p.id) if h["type"] == "TaskCompleted")
    before = event_count(app, p.id)
    with pytest.raises(errors.TaskNotReady):
        app.complete_task(p.id, intake_id, {"ok": True, "order_id": "X"})
    with pytest.raises(errors.UnknownTask):
        app.complete_task(p.id, str(uuid.uuid4()), {})
    with pytest.raises(errors.UnknownTask):
        app.complete_task(p.id, "not-a-uuid", {})
    with pytest.raises(errors.UnknownPathway):
        app.complete_task(uuid.uuid4(), intake_id, {})
    assert event_count(app, p.id) == before


def test_coi_mismatch_names_both_values_and_moves_nothing(app):
    p = run_mini_to_slot(app)
    app.fire_due_timers(T0 + timedelta(days=2))
    p = app.get_pathway(p.id)
    before = event_count(app, p.id)
    with pytest.raises(errors.CoiMismatch, match="COI-WRONG.*COI-1"):
        app.complete_task(p.id, ready_named(p, "check"), {"coi_scanned": "COI-WRONG", "n": 1})
    assert event_count(app, p.id) == before


def test_message_for_no_waiting_pathway_is_refused_never_misdelivered(app):
    a = run_mini_to_slot(app, order_id="ORD-A", coi="COI-A", patient_ref="P-A1")
    b = start_mini(app, "P-B1")
    b = app.complete_task(b.id, ready_named(b, "intake"), {"ok": True, "order_id": "ORD-B"})
    before_a, before_b = event_count(app, a.id), event_count(app, b.id)
    with pytest.raises(errors.MessageNotCorrelated):
        app.deliver_message("slot_confirmed", "m-x", {"order_id": "ORD-NOPE", "coi": "C"},
                            {"apheresis_date": "2026-02-01", "manufacturing_slot": "S"})
    with pytest.raises(errors.MessageNotCorrelated):  # right order, wrong patient's COI
        app.deliver_message("manufacturing_status", "m-y", {"order_id": "ORD-A", "coi": "COI-B"},
                            {"stage": "transduction", "at": "2026-02-03T10:00:00+00:00"})
    with pytest.raises(errors.MessageNotCorrelated):  # A is not waiting for a slot any more
        app.deliver_message("slot_confirmed", "m-z", {"order_id": "ORD-A", "coi": "COI-A"},
                            {"apheresis_date": "2026-02-01", "manufacturing_slot": "S"})
    assert (event_count(app, a.id), event_count(app, b.id)) == (before_a, before_b)


def test_repeated_message_id_is_accepted_once_with_the_same_answer(app):
    p = start_mini(app)
    p = app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-1"})
    body = ("slot_confirmed", "msg-42", {"order_id": "ORD-1", "coi": "COI-1"},
            {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"})
    first = app.deliver_message(*body)
    count = event_count(app, p.id)
    again = app.deliver_message(*body)
    assert again["duplicate"] is True and first["duplicate"] is False
    assert {k: again[k] for k in ("pathway_id", "accepted")} == {k: first[k] for k in ("pathway_id", "accepted")}
    assert event_count(app, p.id) == count


def test_informative_messages_are_recorded_without_moving_the_pathway(app):
    p = run_mini_to_slot(app)
    waiting = dict(p.waiting)
    app.deliver_message("manufacturing_status", "st-1", {"order_id": "ORD-1", "coi": "COI-1"},
                        {"stage": "expansion", "at": "2026-02-03T10:00:00+00:00"})
    p = app.get_pathway(p.id)
    assert p.waiting == waiting and p.data["manufacturing_status"]["stage"] == "expansion"
    assert app.verify(p.id)["ok"]


def test_order_id_cannot_be_reused_by_another_pathway(app):
    run_mini_to_slot(app, order_id="ORD-1")
    other = start_mini(app, "P-2")
    with pytest.raises(errors.InvalidTaskData, match="already used"):
        app.complete_task(other.id, ready_named(other, "intake"), {"ok": True, "order_id": "ORD-1"})


def test_business_key_is_idempotent_and_conflicts_on_other_content(app):
    first = app.start_pathway("P-1", "FR-01", "DLBCL", "axi-cel", business_key="bk-1", process_key="mini_pathway")
    again = app.start_pathway("P-1", "FR-01", "DLBCL", "axi-cel", business_key="bk-1", process_key="mini_pathway")
    assert first.created and not again.created and first.pathway.id == again.pathway.id
    with pytest.raises(errors.BusinessKeyConflict):
        app.start_pathway("P-2", "FR-01", "DLBCL", "axi-cel", business_key="bk-1", process_key="mini_pathway")


def test_cancel_before_infusion_keeps_reason_and_withdraws_tasks(app):
    p = start_mini(app)
    with pytest.raises(errors.CancelRefused):
        app.cancel(p.id, "bored")
    p = app.cancel(p.id, "progression", comment="PD on PET", actor={"sub": "dr-a"})
    assert (p.status, p.outcome, p.cancellation["reason"]) == ("ended", "cancelled", "progression")
    assert p.ready == {}
    assert app.verify(p.id)["ok"]
    with pytest.raises(errors.PathwayEnded):
        app.cancel(p.id, "death")


def test_version_check_refuses_stale_writers(app):
    p = start_mini(app)
    with pytest.raises(errors.ConcurrentUpdate):
        app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "X"}, expected_version=p.version - 1)


def test_two_application_instances_on_one_store_see_each_other(app, env):
    p = start_mini(app)
    other = CartPath(env=env)
    p2 = other.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-9"})
    # the first instance's cached engine is stale now; it must notice, not overwrite
    p1 = app.get_pathway(p.id)
    assert p1.version == p2.version and p1.waiting == p2.waiting


def test_concurrent_completion_of_the_same_task_lets_exactly_one_win(app, env):
    p = start_mini(app)
    task = ready_named(p, "intake")
    other = CartPath(env=env)
    stale = other.get_pathway(p.id)
    app.complete_task(p.id, task, {"ok": True, "order_id": "O-1"})
    from cartpath.engine.runtime import Runtime  # noqa: F401  (the stale writer holds an old version)
    with pytest.raises((errors.ConcurrentUpdate, errors.TaskNotReady)):
        other.complete_task(p.id, task, {"ok": True, "order_id": "O-2"}, expected_version=stale.version)


def test_manual_clock_is_shared_through_the_store(app, env):
    app.fire_due_timers(T0 + timedelta(days=3))
    assert CartPath(env=env).clock.now() == T0 + timedelta(days=3)


def test_an_empty_persistence_setting_means_the_sqlite_file_not_memory(tmp_path):
    app = CartPath(env={"PERSISTENCE_MODULE": "", "SQLITE_DBNAME": "", "CARTPATH_DATA_DIR": str(tmp_path)})
    from eventsourcing.sqlite import SQLiteApplicationRecorder
    assert isinstance(app.recorder, SQLiteApplicationRecorder)
    assert (tmp_path / "cartpath.sqlite3").exists()


def test_a_stale_cached_pathway_is_decided_again_on_the_current_state(app, env):
    """Each process keeps the pathways it wrote; another process writing meanwhile must
    neither be overwritten nor make a valid command fail."""
    p = start_mini(app)                                   # app caches the pathway at version 3
    other = CartPath(env=env)
    intake = ready_named(p, "intake")
    other.complete_task(p.id, intake, {"ok": True, "order_id": "ORD-5"})
    other.deliver_message("slot_confirmed", "m-5", {"order_id": "ORD-5", "coi": "C5"},
                          {"apheresis_date": "2026-02-01", "manufacturing_slot": "S"})
    with pytest.raises(errors.TaskNotReady):             # app's copy still shows intake ready
        app.complete_task(p.id, intake, {"ok": True, "order_id": "ORD-6"})
    other.fire_due_timers(T0 + timedelta(days=2))
    fresh = other.get_pathway(p.id)
    done = app.complete_task(p.id, ready_named(fresh, "check"), {"coi_scanned": "C5", "n": 1})
    assert done.outcome == "follow_up_handover"
    assert [h["type"] for h in app.history(p.id)].count("TaskCompleted") == 2
    assert app.verify(p.id)["ok"]


def test_two_processes_taking_turns_keep_live_engines_equal_to_a_rebuild(app, env):
    """Two workers taking turns on the same pathways (a load balancer's doing): each one's cached
    engine is moved on by the other's inputs (a catch-up, not a rebuild) and must be exactly the
    engine a cold load rebuilds from the store, or the next command would decide on another state."""
    from cartpath.engine.lint import read_paths
    from cartpath.engine.replay import materialise
    from tests.support.store import FIXTURES
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    other = CartPath(env=env)
    ids = [app.start_pathway(f"P-{n:04d}", "FR-01", "DLBCL", "axi-cel", process_key="loop_pathway").pathway.id
           for n in range(3)]
    workers = [app, other]
    for day in range(1, 12):
        for n, pathway_id in enumerate(ids):
            worker = workers[(day + n) % 2]
            task = next(iter(worker.get_pathway(pathway_id).ready))
            worker.complete_task(pathway_id, task, {"value": day})
        workers[day % 2].fire_due_timers(T0 + timedelta(days=day, hours=1))
        for worker in workers:
            for pathway_id in ids:
                with worker.reading_pathway(pathway_id) as read:  # a GET: from the live engine when held
                    assert _state(read) == _state(CartPath(env=env).get_pathway(pathway_id))
                live = worker.unit_of_work._live.get(pathway_id)
                if live is None:
                    continue
                # what the next command of this worker would act on, against a cold rebuild
                pathway, runtime, _ = worker.unit_of_work.checkout(pathway_id)
                cold = worker.get_pathway(pathway_id)
                assert pathway.version == cold.version and pathway.ready == cold.ready
                model = worker.model("loop_pathway", 1)
                assert runtime.checkpoint() == materialise(cold, model).checkpoint()
                worker.unit_of_work.checkin(pathway, runtime)
    for pathway_id in ids:
        assert app.verify(pathway_id)["ok"]
        assert len(app.history(pathway_id)) == len(other.history(pathway_id))


def _state(pathway) -> dict:
    """What a pathway says, without where its engine was last checkpointed (a process's own business)."""
    skip = {"engine_checkpoint", "engine_inputs", "_pending_events"}
    return {k: v for k, v in vars(pathway).items() if k not in skip}


def test_a_command_while_a_read_holds_the_live_copy_loads_its_own_and_the_newer_copy_stays(app):
    """A read holds the worker's live copy exclusively; a command meanwhile (another thread of the
    worker) decides on its own copy from the store, and the read, ending, does not put its older
    copy back over the command's."""
    p = start_mini(app)
    with app.reading_pathway(p.id) as read:
        seen = read.version
        done = app.complete_task(p.id, ready_named(read, "intake"), {"ok": True, "order_id": "ORD-R"})
        assert read.version == seen < done.version  # the reader's copy was not touched
    held, _ = app.unit_of_work._live[p.id]
    assert held.version == done.version
    assert app.get_pathway(p.id).version == done.version and app.verify(p.id)["ok"]


def test_the_callers_checks_run_on_the_state_the_command_decides_on_even_when_the_live_copy_is_stale(app, env):
    """complete_task's ``authorize`` (the API's centre and lane checks) sees the pathway the command acts
    on: a worker whose live copy predates the task (another worker moved the pathway on) checks the
    caller again on the current state, where the task is, and refuses; nothing is recorded."""
    p = start_mini(app)  # this worker holds its live copy: intake ready
    other = CartPath(env=env)
    other.complete_task(p.id, ready_named(other.get_pathway(p.id), "intake"), {"ok": True, "order_id": "O-9"})
    other.deliver_message("slot_confirmed", "m-stale", {"order_id": "O-9", "coi": "COI-9"},
                          {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"})
    other.fire_due_timers(T0 + timedelta(days=2))
    current = other.get_pathway(p.id)
    check = ready_named(current, "check")  # a pharmacy task the stale copy does not know
    assert app.unit_of_work._live[p.id][0].ready.get(check) is None

    seen: list[int] = []

    def pharmacy_refused(pathway) -> None:
        seen.append(pathway.version)
        task = pathway.ready.get(check)
        if task is not None and task["lane"] == "pharmacy":
            raise PermissionError("not a pharmacist")
    with pytest.raises(PermissionError):
        app.complete_task(p.id, check, {"coi_scanned": "COI-9", "n": 1}, authorize=pharmacy_refused)
    assert seen[0] < seen[-1] == current.version  # first on the stale copy, then on the current state
    assert CartPath(env=env).get_pathway(p.id).version == current.version  # nothing recorded
