"""The stock rules of one centre's tocilizumab, on the aggregate alone (no store)."""
from datetime import UTC, date, datetime, timedelta

import pytest

from cartpath.engine.inventory import InsufficientStock, InvalidReceipt, TocilizumabStock, check_receipt, stock_id

AT = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = AT.date()
PHARMACY = {"sub": "ph-1", "roles": ["pharmacy"]}


def stock_with(*lots: tuple[str, int, str]) -> TocilizumabStock:
    stock = TocilizumabStock(center="FR-01", at=AT)
    for lot, doses, expires_on in lots:
        stock.receive(lot, doses, expires_on, PHARMACY, AT)
    return stock


def test_the_stock_of_a_centre_has_one_id_derived_from_it():
    assert TocilizumabStock(center="FR-01", at=AT).id == stock_id("FR-01") != stock_id("FR-02")


def test_receipts_add_doses_per_lot_and_a_lot_keeps_its_expiry():
    stock = stock_with(("L1", 2, "2026-06-01"), ("L1", 3, "2026-06-01"), ("L2", 1, "2026-05-01"))
    view = stock.view(TODAY)
    assert (view["on_hand"], view["reserved"], view["available"], view["expired"]) == (6, 0, 6, 0)
    assert [(x["lot"], x["received"]) for x in view["lots"]] == [("L2", 1), ("L1", 5)]  # soonest expiry first
    with pytest.raises(InvalidReceipt) as refused:
        stock.receive("L1", 1, "2026-07-01", PHARMACY, AT)
    assert set(refused.value.errors) == {"expires_on"}


def test_a_reservation_takes_the_lots_that_expire_first():
    stock = stock_with(("LATE", 2, "2026-09-01"), ("SOON", 1, "2026-04-01"))
    stock.reserve("p1", "t1", 2, AT)
    assert stock.reservations == {"p1": {"SOON": 1, "LATE": 1}}
    view = stock.view(TODAY)
    assert (view["on_hand"], view["reserved"], view["available"]) == (3, 2, 1)
    assert view["reservations"] == [{"pathway_id": "p1", "doses": 2,
                                     "lots": [{"lot": "LATE", "doses": 1}, {"lot": "SOON", "doses": 1}]}]


def test_a_dose_is_never_reserved_twice():
    stock = stock_with(("L1", 1, "2026-06-01"))
    stock.reserve("p1", "t1", 1, AT)
    with pytest.raises(InsufficientStock) as refused:
        stock.reserve("p2", "t2", 1, AT)
    assert refused.value.extra["available"] == 0 and "doses" in refused.value.errors
    assert "p2" not in stock.reservations


def test_expired_lots_are_not_reservable_but_stay_on_hand():
    stock = stock_with(("OLD", 4, "2026-03-09"), ("TODAY", 1, "2026-03-10"))
    view = stock.view(TODAY)
    assert (view["on_hand"], view["available"], view["expired"]) == (5, 1, 4)
    assert [x["expired"] for x in view["lots"]] == [True, False]  # a lot is good through its expiry date
    with pytest.raises(InsufficientStock) as refused:
        stock.reserve("p1", "t1", 2, AT)
    assert refused.value.extra["available"] == 1
    stock.reserve("p1", "t1", 1, AT)
    assert stock.reservations == {"p1": {"TODAY": 1}}
    assert stock.available(TODAY + timedelta(days=1)) == 0


def test_a_use_takes_one_reserved_dose_and_on_hand_falls():
    stock = stock_with(("L1", 3, "2026-06-01"))
    stock.reserve("p1", "t1", 2, AT)
    stock.use("p1", "t2", "2026-03-10T10:00:00+00:00", AT)
    view = stock.view(TODAY)
    assert (view["on_hand"], view["reserved"], view["available"]) == (2, 1, 1)
    [used] = [e for e in stock.pending_events if type(e).__name__ == "DoseUsed"]
    assert (used.lot, used.source, used.given_at) == ("L1", "reservation", "2026-03-10T10:00:00+00:00")


def test_a_use_without_reservation_is_recorded_as_given_from_elsewhere():
    stock = stock_with(("L1", 1, "2026-06-01"))
    stock.use("p1", "t1", None, AT)
    [used] = [e for e in stock.pending_events if type(e).__name__ == "DoseUsed"]
    assert used.lot is None and used.source == "unreserved" and "elsewhere" in used.note
    view = stock.view(TODAY)
    assert (view["on_hand"], view["available"], view["unreserved_uses"]) == (1, 1, 1)


def test_release_returns_what_is_left_of_a_reservation_once():
    stock = stock_with(("L1", 3, "2026-06-01"))
    stock.reserve("p1", "t1", 2, AT)
    stock.use("p1", "t2", None, AT)
    stock.release("p1", "discharge", AT)
    stock.release("p1", "ended:follow_up_handover", AT)  # nothing left: nothing recorded
    assert [type(e).__name__ for e in stock.pending_events].count("Released") == 1
    view = stock.view(TODAY)
    assert (view["on_hand"], view["reserved"], view["available"]) == (2, 0, 2)


def test_a_use_prefers_an_unexpired_reserved_vial():
    stock = stock_with(("A", 1, "2026-03-12"), ("B", 1, "2026-04-01"))
    stock.reserve("p1", "t1", 2, AT)
    later = AT + timedelta(days=5)  # A has expired meanwhile
    stock.use("p1", "t2", None, later)
    assert stock.reservations == {"p1": {"A": 1}}


def test_receipt_fields_are_checked_together():
    assert check_receipt("FR-01", 2, "L1", date(2026, 6, 1)) == ("FR-01", 2, "L1", "2026-06-01")
    with pytest.raises(InvalidReceipt) as refused:
        check_receipt("", True, " ", "2026-02-30")
    assert set(refused.value.errors) == {"center", "doses", "lot", "expires_on"}
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(InvalidReceipt):
            check_receipt("FR-01", bad, "L1", "2026-06-01")
