"""Chain of identity: a scan that does not match the pathway's COI stops the hand-off,
and a manufacturer message never reaches another patient's pathway."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from cartpath.engine import errors

from . import scenario
from .journey import Journey

OTHER_COI = "W0000 26 999999 F"  # the patient in the next bed


def _refused(j: Journey, act: Callable[[], object], field: str) -> None:
    """``act`` is refused naming both values; nothing is recorded and nothing moves."""
    before = (j.count_events(), j.pathway.ready, j.pathway.waiting, j.pathway.version)
    with pytest.raises(errors.CoiMismatch) as refusal:
        act()
    message = str(refusal.value)
    assert field in message and repr(OTHER_COI) in message and repr(j.coi) in message, message
    assert refusal.value.extra == {"field": field, "scanned": OTHER_COI, "expected": j.coi}
    after = (j.count_events(), j.pathway.ready, j.pathway.waiting, j.pathway.version)
    assert after == before


@scenario("apheresis", "product_receipt", "thaw_product", "infusion")
def coi_mismatch(app, variant):
    j = Journey(app)
    j.to_apheresis()
    if variant == "apheresis":
        _refused(j, lambda: j.collect(coi=OTHER_COI), "coi_scanned")
    j.collect()
    j.ship()
    j.bridge()
    j.release()
    j.product_shipped()
    if variant == "product_receipt":
        _refused(j, lambda: j.receive(coi=OTHER_COI), "coi_scanned")
        assert [m["name"] for m in j.sent()] == ["order_placed", "apheresis_shipped"]  # no receipt told
    j.receive()
    j.reserve()
    j.to_infusion_day()
    j.pre_check()
    if variant == "thaw_product":
        _refused(j, lambda: j.thaw(coi=OTHER_COI), "coi_scanned")
    j.thaw()
    if variant == "infusion":
        _refused(j, lambda: j.infuse(wristband=OTHER_COI), "coi_wristband")
        _refused(j, lambda: j.infuse(bag=OTHER_COI), "coi_bag")
        assert "infusion" not in j.pathway.data and not j.pathway.infused
    j.infuse()
    assert j.ready() == ["daily_assessment"]
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "infusion_done")
    j.assert_verified()


@scenario()
def manufacturer_message_never_reaches_another_patient(app):
    a, b = Journey(app, 1), Journey(app, 2)
    for j in (a, b):
        j.to_apheresis()
        j.collect()
        j.ship()
        j.bridge()
    counts = (a.count_events(), b.count_events())
    released = {"released_at": a.now().isoformat(), "out_of_spec": False, "certificate_ref": "CoA-1"}
    with pytest.raises(errors.MessageNotCorrelated):  # A's order, B's COI
        a.tell("product_released", released, coi=b.coi)
    with pytest.raises(errors.MessageNotCorrelated):  # an order nobody placed
        a.tell("product_released", released, order_id="ORD-UNKNOWN")
    with pytest.raises(errors.InvalidMessage):  # no COI at all after the slot
        a.tell("product_released", released, coi=None)
    with pytest.raises(errors.MessageNotCorrelated):  # right keys, but nothing waits for a shipment yet
        a.tell("product_shipped", {"shipper_id": "S", "tracking": "T", "shipped_at": a.now().isoformat()})
    assert (a.count_events(), b.count_events()) == counts
    answer = a.tell("product_released", released)
    assert answer["pathway_id"] == str(a.id) and answer["accepted"] and not answer["duplicate"]
    assert a.waiting_for() == {"product_shipped"}
    assert b.waiting_for() == {"product_released", "manufacturing_failed"}
    # the manufacturer retries the same message: answered again, recorded once
    again = app.deliver_message("product_released", answer["message_id"], {"order_id": a.order_id, "coi": a.coi},
                                released)
    assert again["duplicate"] and again["pathway_id"] == answer["pathway_id"]
    assert sum(1 for h in a.history()
               if h["type"] == "MessageReceived" and h["data"]["name"] == "product_released") == 1
    for j in (a, b):
        j.assert_outbox("order_placed", "apheresis_shipped")
        j.assert_verified()
