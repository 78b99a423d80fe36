"""A centre's tocilizumab stock moved by pathway tasks, on a real store (SQLite or PostgreSQL).

The fixture process tests/fixtures/tocilizumab_pathway.bpmn has the three contract steps that
move the stock (tocilizumab_reservation, toxicity_treatment, discharge) in their lanes.
"""
from datetime import timedelta

import pytest

from cartpath.engine import inventory
from cartpath.engine.application import CartPath
from cartpath.engine.errors import InvalidTaskData, TaskNotReady
from cartpath.engine.inventory import InsufficientStock, TocilizumabStock, stock_id
from cartpath.engine.lint import read_paths
from tests.support.store import FIXTURES, T0, ready_named

PROCESS = "tocilizumab_pathway"
GIVEN = T0.isoformat()  # the manual clock stands at T0: nothing that happened lies after it


@pytest.fixture
def toci(env) -> CartPath:
    app = CartPath(env=env)
    app.deploy(read_paths([FIXTURES / "tocilizumab_pathway.bpmn"]))
    return app


def start(app: CartPath, patient_ref: str, center: str = "FR-01"):
    return app.start_pathway(patient_ref, center, "DLBCL", "axi-cel", process_key=PROCESS).pathway


def complete(app: CartPath, pathway, name: str, data: dict):
    pathway = app.get_pathway(pathway.id)
    return app.complete_task(pathway.id, ready_named(pathway, name), data)


def treat(app: CartPath, pathway, drug: str = "tocilizumab", more: bool = True):
    return complete(app, pathway, "toxicity_treatment", {"drug": drug, "dose": "8 mg/kg", "given_at": GIVEN,
                                                         "more": more})


def stock_events(app: CartPath, center: str = "FR-01") -> list[str]:
    return [type(e).__name__ for e in app.events.get(stock_id(center))]


def totals(app: CartPath, center: str = "FR-01") -> tuple[int, int, int]:
    view = inventory.show(app, center)
    return view["on_hand"], view["reserved"], view["available"]


def test_reservation_is_saved_with_the_completion_in_one_transaction(toci):
    inventory.receive(toci, "FR-01", 3, "L1", "2026-06-01")
    p = start(toci, "P-1")
    head = toci.recorder.max_notification_id()
    p = complete(toci, p, "tocilizumab_reservation", {"doses": 2})
    notes = toci.recorder.select_notifications(start=head + 1, limit=100)
    # the pathway's events and the stock's Reserved, one save: consecutive in the log, nothing after
    assert {n.originator_id for n in notes} == {p.id, stock_id("FR-01")}
    assert [n.id for n in notes] == list(range(head + 1, head + 1 + len(notes)))
    assert totals(toci) == (3, 2, 1)
    assert inventory.show(toci, "FR-01")["reservations"][0]["pathway_id"] == str(p.id)
    assert toci.verify(p.id)["ok"]


def test_a_reservation_beyond_the_stock_is_refused_and_records_nothing(toci):
    inventory.receive(toci, "FR-01", 1, "L1", "2026-06-01")
    p = start(toci, "P-1")
    version, stock_version = p.version, toci.repository.get(stock_id("FR-01")).version
    with pytest.raises(InsufficientStock) as refused:
        complete(toci, p, "tocilizumab_reservation", {"doses": 2})
    assert refused.value.errors["doses"] and refused.value.extra["available"] == 1
    assert toci.get_pathway(p.id).version == version
    assert toci.repository.get(stock_id("FR-01")).version == stock_version
    # the same task can be completed once the pharmacy asks for what there is
    complete(toci, p, "tocilizumab_reservation", {"doses": 1})
    assert totals(toci) == (1, 1, 0)


def test_no_receipt_at_a_centre_means_nothing_to_reserve_but_zero_doses_pass(toci):
    p = start(toci, "P-1", center="FR-09")
    with pytest.raises(InsufficientStock) as refused:
        complete(toci, p, "tocilizumab_reservation", {"doses": 1})
    assert refused.value.extra["available"] == 0
    complete(toci, p, "tocilizumab_reservation", {"doses": 0})
    assert stock_events(toci, "FR-09") == []


def test_two_patients_cannot_count_the_same_vial(toci):
    inventory.receive(toci, "FR-01", 1, "L1", "2026-06-01")
    a, b = start(toci, "P-1"), start(toci, "P-2")
    complete(toci, a, "tocilizumab_reservation", {"doses": 1})
    with pytest.raises(InsufficientStock):
        complete(toci, b, "tocilizumab_reservation", {"doses": 1})
    assert totals(toci) == (1, 1, 0)


def test_treatment_uses_a_reserved_dose_and_discharge_releases_the_rest(toci):
    inventory.receive(toci, "FR-01", 4, "L1", "2026-06-01")
    p = start(toci, "P-1")
    complete(toci, p, "tocilizumab_reservation", {"doses": 3})
    treat(toci, p)                                   # tocilizumab: one reserved dose used
    treat(toci, p, drug="dexamethasone")             # not tocilizumab: the stock does not move
    assert totals(toci) == (3, 2, 1)
    p = complete(toci, p, "toxicity_treatment", {"drug": "anakinra", "dose": "100 mg", "given_at": GIVEN})
    p = complete(toci, p, "discharge", {"discharged_at": T0.isoformat()})
    assert p.outcome == "follow_up_handover"
    assert totals(toci) == (3, 0, 3)
    assert stock_events(toci) == ["Opened", "Received", "Reserved", "DoseUsed", "Released"]
    [released] = [e for e in toci.events.get(stock_id("FR-01")) if type(e).__name__ == "Released"]
    assert (released.lots, released.reason) == ({"L1": 2}, "discharge")
    assert toci.verify(p.id)["ok"]


def test_a_treatment_with_no_dose_reserved_is_still_recorded(toci):
    inventory.receive(toci, "FR-01", 1, "L1", "2026-06-01")
    p = start(toci, "P-1")
    complete(toci, p, "tocilizumab_reservation", {"doses": 0})
    treat(toci, p)
    [used] = [e for e in toci.events.get(stock_id("FR-01")) if type(e).__name__ == "DoseUsed"]
    assert (used.lot, used.source, used.given_at) == (None, "unreserved", GIVEN)
    assert inventory.show(toci, "FR-01")["unreserved_uses"] == 1 and totals(toci) == (1, 0, 1)
    # a centre that never received any: the use opens its stock record
    q = start(toci, "P-2", center="FR-09")
    complete(toci, q, "tocilizumab_reservation", {"doses": 0})
    treat(toci, q)
    assert stock_events(toci, "FR-09") == ["Opened", "DoseUsed"]


def test_cancel_releases_the_reservation(toci):
    inventory.receive(toci, "FR-01", 2, "L1", "2026-06-01")
    p = start(toci, "P-1")
    complete(toci, p, "tocilizumab_reservation", {"doses": 2})
    assert totals(toci) == (2, 2, 0)
    toci.cancel(p.id, "patient_decision")
    assert totals(toci) == (2, 0, 2)
    [released] = [e for e in toci.events.get(stock_id("FR-01")) if type(e).__name__ == "Released"]
    assert released.reason == "ended:cancelled"
    assert toci.verify(p.id)["ok"]


def test_expired_lots_are_not_reservable_on_the_recorded_clock(toci):
    inventory.receive(toci, "FR-01", 2, "SHORT", (T0 + timedelta(days=1)).date().isoformat())
    p = start(toci, "P-1")
    toci.fire_due_timers(T0 + timedelta(days=2))     # moves the manual clock: SHORT expired yesterday
    view = inventory.show(toci, "FR-01")
    assert (view["on_hand"], view["available"], view["expired"]) == (2, 0, 2)
    assert view["lots"][0]["expired"] is True
    with pytest.raises(InsufficientStock):
        complete(toci, p, "tocilizumab_reservation", {"doses": 1})
    inventory.receive(toci, "FR-01", 1, "FRESH", "2026-06-01")
    complete(toci, p, "tocilizumab_reservation", {"doses": 1})
    assert inventory.show(toci, "FR-01")["reservations"][0]["lots"] == [{"lot": "FRESH", "doses": 1}]


def test_a_reservation_needs_a_whole_number_of_doses(toci, tmp_path):
    # a model whose form lets any number through: the stock still refuses a fraction
    loose = (FIXTURES / "tocilizumab_pathway.bpmn").read_bytes() \
        .replace(b'name="doses" type="int"', b'name="doses" type="number"').replace(b'tocilizumab_pathway"', b'loose"')
    toci.deploy({"loose.bpmn": loose})
    p = toci.start_pathway("P-1", "FR-01", "DLBCL", "axi-cel", process_key="loose").pathway
    with pytest.raises(InvalidTaskData) as refused:
        toci.complete_task(p.id, ready_named(p, "tocilizumab_reservation"), {"doses": 1.5})
    assert "doses" in refused.value.errors


def test_a_busy_stock_loads_from_its_snapshot(toci):
    for k in range(inventory.SNAPSHOT_EVERY + 3):
        inventory.receive(toci, "FR-01", 1, f"L{k % 3}", "2026-06-01")
    snapshots = list(toci.snapshots.get(stock_id("FR-01")))
    assert [s.originator_version for s in snapshots] == [inventory.SNAPSHOT_EVERY]
    stock = toci.repository.get(stock_id("FR-01"))
    assert isinstance(stock, TocilizumabStock) and stock.version == inventory.SNAPSHOT_EVERY + 4
    assert totals(toci) == (inventory.SNAPSHOT_EVERY + 3,) * 1 + (0, inventory.SNAPSHOT_EVERY + 3)


def test_the_stock_of_another_process_is_the_same_stock(toci, env):
    """Two application instances on one store (two server workers): each sees the other's saves."""
    other = CartPath(env=env)
    inventory.receive(toci, "FR-01", 1, "L1", "2026-06-01")
    a, b = start(toci, "P-1"), start(toci, "P-2")
    complete(other, a, "tocilizumab_reservation", {"doses": 1})
    with pytest.raises(InsufficientStock):
        complete(toci, b, "tocilizumab_reservation", {"doses": 1})
    assert totals(other) == totals(toci) == (1, 1, 0)


class Interleaved(CartPath):
    """A second server process whose next save is preceded by another process's command: the
    moment between deciding on a stock and saving it, made to happen every time."""

    name = CartPath.name  # the same tables (eventsourcing names an Application subclass after itself)
    meanwhile = None

    def save(self, *aggregates, **kwargs):
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return super().save(*aggregates, **kwargs)


@pytest.mark.parametrize("cache_trusted", [True, False], ids=["cache-trusted", "store-read"])
@pytest.mark.parametrize("doses_in_stock, b_gets_one", [(1, False), (2, True)])
def test_a_reservation_that_lost_the_race_is_decided_again_on_fresh_stock(toci, env, doses_in_stock, b_gets_one,
                                                                          cache_trusted):
    inventory.receive(toci, "FR-01", doses_in_stock, "L1", "2026-06-01")
    a, b = start(toci, "P-1"), start(toci, "P-2")
    late = Interleaved(env=env)
    if not cache_trusted:  # as after a stale cache was met: every command reads the store first
        late.unit_of_work._stale_checks_left = 5
    late.meanwhile = lambda: complete(toci, a, "tocilizumab_reservation", {"doses": 1})
    if b_gets_one:
        complete(late, b, "tocilizumab_reservation", {"doses": 1})  # conflict, then saved on the fresh stock
    else:
        with pytest.raises(InsufficientStock) as refused:
            complete(late, b, "tocilizumab_reservation", {"doses": 1})
        assert refused.value.extra["available"] == 0
    held = {r["pathway_id"] for r in inventory.show(toci, "FR-01")["reservations"]}
    assert held == ({str(a.id), str(b.id)} if b_gets_one else {str(a.id)})
    assert stock_events(toci) == ["Opened", "Received", "Reserved"] + (["Reserved"] if b_gets_one else [])
    assert toci.verify(a.id)["ok"] and toci.verify(b.id)["ok"]
    assert ("tocilizumab_reservation" in toci.get_pathway(b.id).data) is b_gets_one


class StockReadLate(CartPath):
    """A second server process that reads the pathway, then (before it reads the centre's stock)
    sees another process's reservation committed: the pathway it decides on is already stale."""

    name = CartPath.name
    meanwhile = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        get = self.repository.get

        def get_after_the_other_commit(aggregate_id, *a, **kw):
            if self.meanwhile is not None and aggregate_id == stock_id("FR-01"):
                run, self.meanwhile = self.meanwhile, None
                run()
            return get(aggregate_id, *a, **kw)
        self.repository.get = get_after_the_other_commit  # type: ignore[method-assign]


@pytest.mark.parametrize("cache_trusted", [True, False], ids=["cache-trusted", "store-read"])
def test_a_racer_on_the_same_task_is_told_the_task_was_done_not_that_the_stock_is_empty(toci, env,
                                                                                        cache_trusted):
    """Pathway read before the winner's commit, stock after it: 'no dose left' would answer a
    state that never existed (the task still ready, its dose already taken). The command is
    decided again on the current pathway, whose task is done: 409 task not ready."""
    inventory.receive(toci, "FR-01", 1, "L1", "2026-06-01")
    a = start(toci, "P-1")
    late = StockReadLate(env=env)
    if not cache_trusted:  # as after a stale cache was met: every command reads the store first
        late.unit_of_work._stale_checks_left = 5
    pathway = late.get_pathway(a.id)
    task = ready_named(pathway, "tocilizumab_reservation")
    late.meanwhile = lambda: complete(toci, a, "tocilizumab_reservation", {"doses": 1})
    with pytest.raises(TaskNotReady):
        late.complete_task(a.id, task, {"doses": 1})
    assert late.meanwhile is None  # the other process did commit in between
    assert stock_events(toci) == ["Opened", "Received", "Reserved"]
    assert totals(toci) == (1, 1, 0)
    assert toci.verify(a.id)["ok"]
