"""The projection runner and its views, on real stores, fed by the real engine (mini_pathway)
and by synthetic CAR-T histories; the incrementally maintained views must equal a rebuild."""
from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from datetime import timedelta

import pytest

from cartpath.engine.application import CartPath
from cartpath.projections.reports import NotYet, Reports
from cartpath.projections.runner import Runner, Waiter, status
from cartpath.projections.store import ViewStore
from cartpath.projections.views import all_views
from tests.support.sample import T0 as SAMPLE_T0
from tests.support.sample import write_population
from tests.support.store import T0, ready_named, run_mini_to_slot, start_mini


def dump(runner: Runner) -> dict:
    return {v.name: v.dump(runner.store) for v in runner.views}


def rebuilt_dump(runner: Runner) -> dict:
    runner.reset([v.name for v in runner.views])
    runner.catch_up()
    return dump(runner)


@pytest.fixture
def runner(app) -> Runner:
    r = Runner(app, batch_size=7)
    r.prepare()
    return r


def test_view_store_sits_next_to_the_event_store(app, env):
    store = ViewStore.for_app(app)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        assert store.dialect == "sqlite" and store.path.name == "projections.sqlite3"
        assert store.path.parent.samefile(env["CARTPATH_DATA_DIR"])
    else:
        assert store.dialect == "postgres" and store.pg["POSTGRES_SCHEMA"] == env["POSTGRES_SCHEMA"]


def test_timeline_of_a_full_mini_pathway(app, runner):
    p = start_mini(app)
    p = app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-1"},
                          actor={"sub": "nurse-7", "roles": ["coordination"]})
    app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-1", "coi": "COI-1"},
                        {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"},
                        actor={"sub": "kite-portal", "roles": ["manufacturer"], "org": "kite"})
    app.fire_due_timers(T0 + timedelta(days=3))
    p = app.get_pathway(p.id)
    app.complete_task(p.id, ready_named(p, "check"), {"coi_scanned": "COI-1", "n": 4},
                      actor={"sub": "pharm-2", "roles": ["pharmacy"]})
    runner.catch_up()
    tl = Reports(runner.store).timeline(str(p.id), now=T0 + timedelta(days=5))
    kinds = [(s["kind"], s["name"]) for s in tl["steps"]]
    assert kinds == [("started", "mini_pathway"), ("task", "intake"), ("wait", "slot_confirmed"),
                     ("message_out", "order_placed"), ("message_in", "slot_confirmed"), ("timer", "wait_day"),
                     ("task", "check"), ("ended", "follow_up_handover")]
    assert [s["seq"] for s in tl["steps"]] == sorted(s["seq"] for s in tl["steps"])
    intake, _, out, msg_in, timer, check, _ = tl["steps"][1:]
    assert (intake["lane"], intake["actor"], intake["how"], intake["data"]) == \
        ("coordination", "nurse-7", "completed", {"ok": True, "order_id": "ORD-1"})
    assert out["direction"] == "to_manufacturer" and out["data"]["payload"] == {"order_id": "ORD-1",
                                                                                "patient_ref": "P-0001"}
    assert msg_in["direction"] == "from_manufacturer" and msg_in["actor"] == "kite-portal@kite"
    # the timer was armed at T0 and fired at its due time (the scheduler ran at T0 + 3 days)
    assert timer["waited_days"] == pytest.approx(1.0, abs=1e-6) and timer["how"] == "done"
    assert check["lane"] == "pharmacy" and check["actor"] == "pharm-2"
    assert check["waited_days"] == pytest.approx(2.0, abs=1e-3)
    assert (tl["status"], tl["outcome"], tl["center"]) == ("ended", "follow_up_handover", "FR-01")
    # the timeline matches the event history, step for step
    history = app.history(p.id)
    assert len([h for h in history if h["type"] == "TaskBecameReady"]) == 2
    assert tl["ended_at"] == history[-1]["at"].isoformat(timespec="microseconds")


def test_open_steps_wait_until_now(app, runner):
    p = start_mini(app)
    runner.catch_up()
    [step] = [s for s in Reports(runner.store).timeline(str(p.id), now=T0 + timedelta(hours=36))["steps"]
              if s["kind"] == "task"]
    assert step["open"] is True and step["done_at"] is None and step["waited_days"] == 1.5


def test_worklist_due_and_overdue_follow_the_model(app, runner):
    a = start_mini(app, "P-A1")
    app.fire_due_timers(T0 + timedelta(days=1))  # the manual clock moves on a day
    b = start_mini(app, "P-B1")
    runner.catch_up()
    reports = Reports(runner.store)
    wl = reports.worklists(now=T0 + timedelta(days=2, hours=12), center="FR-01", lane="coordination")
    assert [t["patient_ref"] for t in wl["tasks"]] == ["P-A1", "P-B1"]  # oldest first
    engine_view = {t["id"]: t for t in app.ready_tasks(a.id) + app.ready_tasks(b.id)}
    for task in wl["tasks"]:
        assert task["id"] in engine_view
        assert task["due_at"] == engine_view[task["id"]]["due_at"].replace("+00:00", ".000000+00:00")
    assert [t["overdue"] for t in wl["tasks"]] == [True, False]
    assert [t["waiting_days"] for t in wl["tasks"]] == [2.5, 1.5]
    assert wl["by_lane"] == [{"center": "FR-01", "lane": "coordination", "open": 2, "overdue": 1,
                              "oldest_waiting_days": 2.5}]
    assert reports.worklists(now=T0, lane="pharmacy")["tasks"] == []
    assert reports.worklists(now=T0, centers={"FR-02"})["total"] == 0
    # completing and cancelling take tasks off the worklist
    app.complete_task(a.id, ready_named(a, "intake"), {"ok": False, "order_id": "X"})
    app.cancel(b.id, "patient_decision")
    runner.catch_up()
    assert reports.worklists(now=T0)["total"] == 0


def _random_mini_history(app: CartPath, runner: Runner, rng: random.Random, pathways: int) -> None:
    """Random pathways through every branch, with runner batches of random size in between."""
    now = T0
    live = []
    for i in range(pathways):
        p = start_mini(app, f"P-{i:04d}")
        live.append((p.id, f"ORD-{i}", f"COI-{i}"))
        if rng.random() < 0.5:
            runner.batch_size = rng.randint(1, 40)
            runner.step()
    for pid, order, coi in live:
        p = app.get_pathway(pid)
        roll = rng.random()
        if roll < 0.15:
            reason = rng.choice(["death", "progression", "other"])
            app.cancel(pid, reason, **({"death_date": SAMPLE_T0.date().isoformat(), "death_cause": "infection"}
                                       if reason == "death" else {}))
            continue
        app.complete_task(pid, ready_named(p, "intake"), {"ok": roll > 0.3, "order_id": order})
        if roll <= 0.3:
            continue
        if rng.random() < 0.8:
            app.deliver_message("slot_confirmed", f"m-{uuid.uuid4()}", {"order_id": order, "coi": coi},
                                {"apheresis_date": "2026-02-01", "manufacturing_slot": "S"})
            if rng.random() < 0.5:
                app.deliver_message("manufacturing_status", f"m-{uuid.uuid4()}", {"order_id": order, "coi": coi},
                                    {"stage": "expansion", "at": "2026-02-10T10:00:00+00:00"})
        if rng.random() < 0.3:
            runner.batch_size = rng.randint(1, 60)
            runner.step()
    now += timedelta(days=rng.randint(1, 3))
    app.fire_due_timers(now)
    for pid, _order, coi in live:
        p = app.get_pathway(pid)
        if p.status == "active" and any(r["name"] == "check" for r in p.ready.values()) and rng.random() < 0.7:
            app.complete_task(pid, ready_named(p, "check"), {"coi_scanned": coi, "n": rng.randint(0, 10)})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_views_equal_a_rebuild_after_random_engine_runs(app, seed):
    rng = random.Random(seed)
    runner = Runner(app, batch_size=5)
    runner.prepare()
    _random_mini_history(app, runner, rng, pathways=12)
    runner.batch_size = rng.randint(1, 50)
    runner.catch_up()
    incremental = dump(runner)
    assert incremental["timeline"]["view_timeline"] and incremental["pathways"]["view_pathways"]
    assert rebuilt_dump(Runner(app, batch_size=1000)) == incremental
    assert all(v["state"] == "current" for v in status(app)["views"])


@pytest.mark.parametrize("seed", [5, 6])
def test_incremental_views_equal_a_rebuild_on_synthetic_cart_histories(app, seed):
    rng = random.Random(seed)
    runner = Runner(app, batch_size=50)
    runner.prepare()
    horizon = SAMPLE_T0
    for chunk in range(4):  # the store grows between runner batches of random sizes
        horizon += timedelta(days=60)
        write_population(app, 15, seed=seed * 10 + chunk, start=SAMPLE_T0 + timedelta(days=20 * chunk),
                         until=horizon, first=chunk * 15)
        for _ in range(rng.randint(1, 4)):
            runner.batch_size = rng.randint(1, 400)
            runner.step()
    runner.catch_up()
    incremental = dump(runner)
    assert len(incremental["custody"]["view_custody"]) > 50
    assert rebuilt_dump(Runner(app, batch_size=rng.randint(100, 5000))) == incremental


def test_positions_reach_the_head_even_when_the_last_events_are_not_pathway_events(app, runner):
    start_mini(app)
    app.fire_due_timers(T0 + timedelta(days=4))  # moves the manual clock: an event of another aggregate
    head = app.recorder.max_notification_id()
    runner.catch_up()
    assert {v["name"]: v["position"] for v in status(app)["views"]} == {v.name: head for v in all_views()}


def test_saves_made_while_the_runner_waits_are_applied_in_one_batch(app):
    """PostgreSQL wakes the runner at each save's NOTIFY; it then gathers the saves that follow for a
    moment, so a burst is one batch (one transaction of the views), not one batch per save."""
    runner = Runner(app)  # batches far larger than the burst
    runner.prepare()
    runner.catch_up()
    waiter = Waiter(app, runner.store, poll=2.0, gather=2.0)  # margins, not timings: a burst takes ~0.1 s
    try:
        before = app.recorder.max_notification_id()
        start_mini(app, "P-0000")
        burst = threading.Thread(target=lambda: [start_mini(app, f"P-{n:04d}") for n in (1, 2)])
        burst.start()  # while the runner waits: PostgreSQL wakes it at the first save's NOTIFY
        waiter.wait(threading.Event())
        burst.join()
        head = app.recorder.max_notification_id()
        assert runner.step() == head - before  # the saves made while it gathered are in the same batch
        assert runner.step() == 0
        if waiter.conn is not None:  # PostgreSQL: their notifications were read, none wakes it again
            assert list(waiter.conn.notifies(timeout=0)) == []
        assert set(runner.positions().values()) == {head}
    finally:
        waiter.close()


class _Recorded(Waiter):
    """The real waiter, noting what the runner's loop asked of it; the loop stops at its second batch."""

    def __init__(self, *args, stop: threading.Event, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop, self.calls = stop, []

    def wait(self, stop):
        self.calls.append("wait")
        self.stop.set()

    def gather_more(self, stop):
        self.calls.append("gather_more")
        super().gather_more(stop)


def test_a_runner_that_caught_up_lets_the_next_saves_gather_before_its_next_batch(app):
    """Under load, a runner that went straight on after each batch applied the few events saved while
    the last batch ran, and paid a batch's fixed cost for each. After a batch that reached the head
    it read, the loop now lets the saves that follow gather (PostgreSQL, as after a NOTIFY); after a
    step with nothing to do it waits for news as before."""
    runner = Runner(app)  # batches far larger than what is saved here
    runner.prepare()
    runner.catch_up()
    start_mini(app, "P-0000")
    stop = threading.Event()
    waiter = _Recorded(app, runner.store, poll=0.1, gather=0.1, stop=stop)
    try:
        runner._loop(stop, waiter, None)
    finally:
        waiter.close()
    assert waiter.calls == ["gather_more", "wait"]  # the save's batch, then nothing left: news awaited
    assert set(runner.positions().values()) == {app.recorder.max_notification_id()}


def test_saves_made_while_a_caught_up_runner_gathers_are_one_batch(app):
    runner = Runner(app)
    runner.prepare()
    runner.catch_up()
    waiter = Waiter(app, runner.store, poll=2.0, gather=2.0)  # margins, not timings: a burst takes ~0.1 s
    try:
        start_mini(app, "P-0000")
        assert 0 < runner.step() < runner.batch_size  # caught up with the head it read
        before = app.recorder.max_notification_id()
        burst = threading.Thread(target=lambda: [start_mini(app, f"P-{n:04d}") for n in (1, 2)])
        burst.start()
        waiter.gather_more(threading.Event())
        burst.join()
        head = app.recorder.max_notification_id()
        if waiter.conn is not None:  # PostgreSQL: the burst saved while it gathered is one batch
            assert runner.step() == head - before
            assert list(waiter.conn.notifies(timeout=0)) == []  # their notifications read: none wakes it
        else:  # SQLite: no pause (its batches cost little); the saves are applied as they come
            runner.catch_up()
        assert runner.step() == 0
        assert set(runner.positions().values()) == {head}
    finally:
        waiter.close()


def test_read_your_writes_waits_for_the_position_or_says_not_yet(app, runner):
    p = run_mini_to_slot(app)
    position = app.last_position()
    reports = Reports(runner.store)
    with pytest.raises(NotYet) as err:
        reports.ensure("timeline", position, timeout=0.1)
    assert err.value.wanted == position and err.value.reached < position
    runner.catch_up()
    assert reports.ensure("timeline", position, timeout=0.1) >= position
    assert reports.ensure("capacity", None) == position
    assert any(s["kind"] == "message_in" for s in reports.timeline(str(p.id), now=T0)["steps"])


def test_a_changed_view_layout_is_rebuilt_on_start(app, runner):
    run_mini_to_slot(app)
    runner.catch_up()
    before = dump(runner)

    class NewerTimeline(type(runner.view("timeline"))):
        version = 99

    views = [NewerTimeline() if v.name == "timeline" else v for v in all_views()]
    newer = Runner(app, views=views)
    newer.prepare()
    tracking = newer.store.tracking()
    assert tracking["timeline"]["position"] == 0 and tracking["pathways"]["position"] > 0
    newer.catch_up()
    assert dump(newer) == before


def test_a_wait_for_several_messages_and_a_timer_closes_as_one_even_across_batches(app):
    from tests.support.sample import Story
    s = Story(random.Random(3), "PSN-1", "FR-01", "axi-cel", "DLBCL", T0)
    gate = "0f0e0d0c-0000-4000-8000-000000000001"
    for message in ("product_released", "manufacturing_failed"):
        s.pathway._message_awaited(task_id=gate, node_id="gw_mfg_wait", message=message, at=T0)
    s.pathway._timer_armed(task_id=gate, node_id="gw_mfg_wait", due_at=(T0 + timedelta(days=35)).isoformat(), at=T0)
    s.end_wait(gate, "done", T0 + timedelta(days=20))
    lingering = s.wait_message("product_shipped", T0 + timedelta(days=20))
    s.end("not_infused", T0 + timedelta(days=21))  # the engine would have ended the wait; the view copes anyway
    app.save(s.pathway)
    assert lingering
    for batch in (1, 2, 3, 1000):
        runner = Runner(app, batch_size=batch)
        runner.prepare()
        runner.reset(["timeline"])
        runner.catch_up()
        steps = Reports(runner.store).timeline(str(s.id), now=T0 + timedelta(days=400))["steps"]
        waits = [(st["kind"], st["name"], st["how"], st["waited_days"])
                 for st in steps if st["kind"] in ("wait", "timer")]
        assert waits == [("wait", "product_released", "done", 20.0), ("wait", "manufacturing_failed", "done", 20.0),
                         ("timer", "gw_mfg_wait", "done", 20.0), ("wait", "product_shipped", "ended", 1.0)], batch


@pytest.mark.slow
def test_views_of_the_bundled_cart_pathway_driven_by_the_demo(env):
    """The full CAR-T model, run by the demo's simulated patients and manufacturer."""
    from cartpath.engine.demo import run_demo
    app = CartPath(env=env)
    app.deploy_bundled()
    summary = run_demo(app, patients=4, seed=2)
    runner = Runner(app, batch_size=50)
    runner.prepare()
    runner.catch_up()
    reports = Reports(runner.store)
    kpis = reports.kpis(now=app.clock.now())
    assert kpis["pathways"] == 4
    assert kpis["kpis"]["vein_to_vein"]["count"] == summary["infused"]
    if summary["vein_to_vein_median_days"] is not None:
        assert round(kpis["kpis"]["vein_to_vein"]["median"], 1) == summary["vein_to_vein_median_days"]
    now = app.clock.now()
    for pid in app.pathway_ids():
        pathway = app.get_pathway(pid)
        timeline = reports.timeline(str(pid), now=now)
        assert (timeline["status"], timeline["outcome"]) == (pathway.status, pathway.outcome)
        open_steps = {s["task_id"].split(":")[1] for s in timeline["steps"] if s.get("open")}
        assert open_steps == set(pathway.ready) | set(pathway.waiting)
        if pathway.infused:
            custody = reports.custody(str(pid))
            assert custody["chain_intact"] and custody["handoffs"][-1]["step"] == "infused"
    ready = {t["id"] for pid in app.pathway_ids() for t in app.ready_tasks(pid)}
    assert {t["id"] for t in reports.worklists(now=now)["tasks"]} == ready
    assert rebuilt_dump(Runner(app)) == dump(runner)


def test_many_inserted_rows_land_in_order_and_a_duplicate_fails_the_whole_batch(app, runner):
    """What the views' bulk INSERT promises on both stores (PostgreSQL sends it as multi-row
    statements, split once a statement would carry INSERT_PARAMETERS): every row, in order, and a
    duplicate key fails loudly, leaving nothing."""
    from cartpath.projections.store import INSERT_PARAMETERS
    rows = [(f"k{n:06d}", n, None if n % 7 else f"note {n}") for n in range(INSERT_PARAMETERS // 3 + 5)]
    insert = "INSERT INTO view_bulk_test (key, n, note) VALUES (?, ?, ?)"
    with runner.store.transaction() as tx:
        tx.execute("DROP TABLE IF EXISTS view_bulk_test")
        tx.execute("CREATE TABLE view_bulk_test (key TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT)")
        tx.executemany(insert, rows)
        assert tx.query("SELECT key, n, note FROM view_bulk_test ORDER BY n") == rows
    duplicate: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    if runner.store.dialect == "postgres":
        import psycopg
        duplicate = (psycopg.IntegrityError,)
    with pytest.raises(duplicate):
        with runner.store.transaction() as tx:
            tx.executemany(insert, [("fresh", -1, None), rows[0]])
    with runner.store.transaction() as tx:
        assert tx.query("SELECT count(*) FROM view_bulk_test")[0][0] == len(rows)
        tx.execute("DROP TABLE view_bulk_test")
