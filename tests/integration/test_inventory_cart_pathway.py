"""The tocilizumab stock on the bundled v2 model (processes/cart_pathway.bpmn), not a fixture:
its `tocilizumab_reservation`, `toxicity_treatment`, `discharge` and a cancel move the
centre's stock as PATHWAY.md "Inventory" says, and every pathway still verifies."""
import pytest

from cartpath.engine import inventory
from cartpath.engine.inventory import InsufficientStock
from tests.scenarios.conftest import cart_app_in
from tests.scenarios.journey import Journey


def to_reservation(j: Journey) -> None:
    """Referral to the product on site (as Journey.manufacture), stopping before the reservation."""
    j.to_product_shipped()
    j.wait(days=1)
    j.receive()
    assert j.ready() == ["tocilizumab_reservation"], j.ready()


def totals(app, center: str) -> tuple[int, int, int]:
    view = inventory.show(app, center)
    return view["on_hand"], view["reserved"], view["available"]


def test_the_bundled_model_reserves_uses_and_releases_the_centres_doses(tmp_path):
    app = cart_app_in(tmp_path)
    a, b = Journey(app, 1), Journey(app, 2)
    center = a.center
    inventory.receive(app, center, 2, "TCZ-1", "2027-12-31")
    to_reservation(a)
    to_reservation(b)

    a.complete("tocilizumab_reservation", {"doses": 2})
    version = b.pathway.version
    with pytest.raises(InsufficientStock) as refused:          # both vials are a's: b cannot count them
        b.complete("tocilizumab_reservation", {"doses": 1})
    assert refused.value.extra["available"] == 0 and b.pathway.version == version
    inventory.receive(app, center, 1, "TCZ-2", "2027-12-31")
    b.complete("tocilizumab_reservation", {"doses": 1})
    assert totals(app, center) == (3, 3, 0)

    a.to_infusion_day()
    a.pre_check()
    a.thaw()
    a.infuse()
    a.treat("tocilizumab")                                      # one of a's reserved doses
    a.treat("dexamethasone")                                    # not from this stock
    assert totals(app, center) == (2, 2, 0)

    b.app.cancel(b.id, "patient_decision")                      # b ends before infusion: its dose returns
    assert totals(app, center) == (2, 1, 1)

    a.monitor(1, 14)
    a.discharge()                                               # a leaves monitoring: its last dose returns
    view = inventory.show(app, center)
    assert (view["on_hand"], view["reserved"], view["available"], view["reservations"]) == (2, 0, 2, [])
    assert [(x["lot"], x["used"]) for x in view["lots"]] == [("TCZ-1", 1), ("TCZ-2", 0)]
    assert app.verify(a.id)["ok"] and app.verify(b.id)["ok"]
