"""The manufacturing round: failures and what the haematologist decides, out-of-spec
products, temperature excursions, a silent manufacturer."""
from __future__ import annotations

from datetime import timedelta

from . import scenario
from .journey import Journey


def _ready_count(j: Journey, name: str) -> int:
    return sum(1 for h in j.history() if h["type"] == "TaskBecameReady" and h["data"]["name"] == name)


def _fail(j: Journey, reason: str = "insufficient expansion") -> None:
    j.tell("manufacturing_failed", {"reason": reason})
    assert "failure_decision" in j.ready(), j.ready()
    assert j.pathway.ready[j.task_id("failure_decision")]["lane"] == "hematology"
    assert j.waiting_for() == set()


@scenario("reapheresis", "remanufacture", "stop")
def manufacturing_failure(app, variant):
    j = Journey(app)
    j.to_apheresis()
    j.collect()
    j.ship()
    j.bridge()
    j.wait(days=18)
    _fail(j)
    assert j.ready() == ["failure_decision"]
    j.complete("failure_decision", {"option": variant, "comment": "RCP of the week", "reason": "patient choice"})
    if variant == "stop":
        j.registry("end")
        j.assert_ended("not_infused")
        j.assert_outbox("order_placed", "apheresis_shipped")
        return
    if variant == "reapheresis":
        assert j.ready() == ["apheresis"], j.ready()
        j.collect()
        j.ship()
        shipped = ("apheresis_shipped", "apheresis_shipped")
    else:  # a new round from the cells already at the manufacturer
        assert j.ready() == ["bridging_decision"], j.ready()
        assert j.waiting_for() == {"product_released", "manufacturing_failed"}
        shipped = ("apheresis_shipped",)
    assert _ready_count(j, "bridging_decision") == 2  # bridging asked again: the wait grew by weeks
    j.manufacture(bridging_first=False)
    j.assert_outbox("order_placed", *shipped, "product_received")
    j.assert_verified()


@scenario()
def two_failed_rounds_then_infused_and_followed_up(app):
    """Remanufacture, then reapheresis: loops re-enter merges and start fresh rounds, and the
    pathway still runs to its end (and stays verifiable) with the task tree compacted."""
    j = Journey(app)
    j.to_apheresis()
    j.collect()
    j.ship()
    j.bridge()
    _fail(j)
    j.complete("failure_decision", {"option": "remanufacture"})
    j.bridge(False)
    j.wait(days=30)
    _fail(j, "sterility")
    j.complete("failure_decision", {"option": "reapheresis"})
    j.collect(adequate=False)
    j.collect()
    j.ship()
    j.manufacture()
    assert _ready_count(j, "bridging_decision") == 3
    j.to_infusion_day()
    j.pre_check()
    j.thaw()
    j.infuse()
    j.monitor(0, 14)
    j.discharge()
    j.follow_up()
    j.registry()
    j.assert_ended("follow_up_handover")
    j.assert_outbox("order_placed", "apheresis_shipped", "apheresis_shipped", "product_received", "infusion_done")


@scenario("accepted", "refused")
def out_of_spec_product(app, variant):
    j = Journey(app)
    j.to_release(out_of_spec=True)
    assert j.ready() == ["oos_acceptance"], j.ready()
    view = next(t for t in app.ready_tasks(j.id) if t["name"] == "oos_acceptance")
    assert view["signed"] is True and view["lane"] == "hematology"
    assert j.waiting_for() == set()  # nothing is shipped before the decision
    accept = variant == "accepted"
    j.complete("oos_acceptance", {"accept": accept, "reason": "viability 68% (spec 70%)",
                                  "failed_specification": "viability >= 70%", "patient_informed": accept})
    if accept:
        assert j.waiting_for() == {"product_shipped"}
        j.wait(days=2)
        j.product_shipped()
        j.receive()
        assert j.ready() == ["tocilizumab_reservation"]
        j.assert_outbox("order_placed", "apheresis_shipped", "product_received")
        j.assert_verified()
        return
    assert j.ready() == ["failure_decision"], j.ready()
    j.complete("failure_decision", {"option": "stop", "reason": "no acceptable product"})
    j.registry("end")
    j.assert_ended("not_infused")
    j.assert_outbox("order_placed", "apheresis_shipped")


@scenario("temperature_not_usable", "seal_broken_usable")
def quarantine_at_receipt(app, variant):
    """A temperature excursion or a broken shipper seal puts the product in quarantine: the
    manufacturer is told, and its decision says whether the product can be used."""
    j = Journey(app)
    j.to_product_shipped()
    usable = variant == "seal_broken_usable"
    if usable:
        j.receive(shipper_seal_intact=False, datalogger_ref="DL-77", bags=2)
    else:
        j.receive(temperature_ok=False)
    assert j.ready() == [] and j.waiting_for() == {"quarantine_decision"}, (j.ready(), j.pathway.waiting)
    # the manufacturer is told at once: receipt (with the temperature) and quarantine (with the reason)
    [received] = [m for m in j.sent() if m["name"] == "product_received"]
    assert received["payload"]["temperature_ok"] is usable  # the seal case had a good temperature log
    [quarantined] = [m for m in j.sent() if m["name"] == "product_quarantined"]
    assert quarantined["payload"]["reason"] == ("shipper seal broken" if usable else "temperature excursion")
    assert quarantined["payload"]["datalogger_ref"] == ("DL-77" if usable else None)
    j.wait(days=1)
    j.tell("quarantine_decision", {"usable": usable, "assessment_ref": "QA-2026-9"})
    if usable:
        assert j.ready() == ["tocilizumab_reservation"], j.ready()
        assert j.pathway.data["product_receipt"]["bags"] == 2
        j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "product_quarantined")
        j.assert_verified()
        return
    assert j.ready() == ["failure_decision"], j.ready()
    j.complete("failure_decision", {"option": "remanufacture"})
    j.manufacture(bridging_first=False)
    j.assert_outbox("order_placed", "apheresis_shipped", "product_received", "product_quarantined",
                    "product_received")
    j.assert_verified()


@scenario("released", "failed")
def manufacturer_silent_35_days(app, variant):
    """35 days without news: the coordinator chases and the wait starts again; the outcome
    that comes during the second chase is caught there and the chase is withdrawn."""
    j = Journey(app)
    j.to_apheresis()
    j.collect()
    j.ship()
    shipped_at = j.now()
    j.bridge()
    assert j.wait_until(shipped_at + timedelta(days=34, hours=23)) == 0
    assert j.ready() == []
    assert j.wait_until(shipped_at + timedelta(days=35, hours=1)) == 1
    assert j.ready() == ["chase_manufacturer"]
    assert j.waiting_for() == {"product_released", "manufacturing_failed"}  # still listening
    j.complete("chase_manufacturer", {"contacted_at": j.now().isoformat(), "note": "QP release next week"})
    assert j.waiting_for() == {"product_released", "manufacturing_failed"} and j.ready() == []
    chased_at = j.now()
    assert j.wait_until(chased_at + timedelta(days=35, hours=1)) == 1
    chase = j.task_id("chase_manufacturer")
    if variant == "released":
        j.release()
        assert j.pathway.closed_tasks[chase] == "withdrawn"
        assert j.waiting_for() == {"product_shipped"}
        j.product_shipped()
        j.receive()
        assert j.ready() == ["tocilizumab_reservation"]
        j.assert_outbox("order_placed", "apheresis_shipped", "product_received")
        j.assert_verified()
        return
    _fail(j, "out of specification at expansion")
    assert j.pathway.closed_tasks[chase] == "withdrawn" and j.ready() == ["failure_decision"]
    j.complete("failure_decision", {"option": "stop", "reason": "second failure"})
    j.registry("end")
    j.assert_ended("not_infused")
    j.assert_outbox("order_placed", "apheresis_shipped")
