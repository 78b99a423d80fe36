"""(v2) A COI belongs to one pathway; a repeated message_id with other content is refused;
message ids are scoped to the sending manufacturer; receipts of older stores still answer."""
from __future__ import annotations

import shutil
import uuid

import pytest

from cartpath.engine import errors
from cartpath.engine.application import CartPath
from cartpath.engine.pathway import Pathway
from tests.support.store import ROOT, ready_named, run_mini_to_slot, start_mini, store_env

SLOT = {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}
OLD_STORE = ROOT / "tests" / "fixtures" / "stores" / "main_2026-12-01.sqlite3"


def events_of(app: CartPath, pathway_id) -> int:
    return len(list(app.events.get(pathway_id)))


def ordered_mini(app: CartPath, order_id: str, patient_ref: str):
    p = start_mini(app, patient_ref)
    return app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": order_id})


def test_a_coi_already_held_by_another_pathway_is_refused(app):
    a = run_mini_to_slot(app, order_id="ORD-A", coi="COI-SAME", patient_ref="P-A1")
    b = ordered_mini(app, "ORD-B", "P-B1")
    before = events_of(app, b.id)
    with pytest.raises(errors.CoiInUse, match="COI-SAME"):
        app.deliver_message("slot_confirmed", "m-b1", {"order_id": "ORD-B", "coi": "COI-SAME"}, SLOT)
    assert events_of(app, b.id) == before and app.get_pathway(b.id).coi is None
    # the refusal recorded no answer for the message id: sent again with a fresh COI it is delivered
    answer = app.deliver_message("slot_confirmed", "m-b2", {"order_id": "ORD-B", "coi": "COI-B"}, SLOT)
    assert answer["duplicate"] is False and app.get_pathway(b.id).coi == "COI-B"
    assert app.get_pathway(a.id).coi == "COI-SAME"
    assert all(app.verify(pid)["ok"] for pid in (a.id, b.id))


def test_a_repeated_message_id_with_other_content_is_refused(app):
    p = ordered_mini(app, "ORD-1", "P-1")
    first = app.deliver_message("slot_confirmed", "msg-1", {"order_id": "ORD-1", "coi": "COI-1"}, SLOT)
    count = events_of(app, p.id)
    # the same content again, an instant spelt another way included: the first answer
    assert app.deliver_message("slot_confirmed", "msg-1", {"order_id": "ORD-1", "coi": "COI-1"},
                               dict(SLOT))["duplicate"] is True
    status = {"stage": "qc", "at": "2026-02-03T10:00:00+00:00"}
    app.deliver_message("manufacturing_status", "msg-2", {"order_id": "ORD-1", "coi": "COI-1"}, status)
    same_instant = dict(status, at="2026-02-03T11:00:00+01:00")
    assert app.deliver_message("manufacturing_status", "msg-2", {"order_id": "ORD-1", "coi": "COI-1"},
                               same_instant)["duplicate"] is True
    count = events_of(app, p.id)
    for name, correlation, payload in (
            ("slot_confirmed", {"order_id": "ORD-1", "coi": "COI-1"}, dict(SLOT, manufacturing_slot="S2")),
            ("slot_confirmed", {"order_id": "ORD-1", "coi": "COI-9"}, SLOT),
            ("manufacturing_status", {"order_id": "ORD-1", "coi": "COI-1"}, {"stage": "qc", "at": status["at"]}),
            ("slot_confirmed", {"order_id": "ORD-1", "coi": "COI-1"}, {"manufacturing_slot": 3})):
        with pytest.raises(errors.MessageIdReused, match="msg-1"):
            app.deliver_message(name, "msg-1", correlation, payload)
    assert events_of(app, p.id) == count
    assert first["duplicate"] is False


def test_message_ids_are_scoped_to_the_sending_manufacturer(tmp_path):
    """Two companies may number their messages alike: kite's msg-1 is not novartis's msg-1."""
    app = CartPath(env=store_env(tmp_path))
    app.deploy_bundled()
    actor = {"sub": "nurse", "roles": ["coordination"]}
    ids = {}
    for org, n in (("kite", 1), ("novartis", 2)):
        p = app.start_pathway(f"P-{n}", "FR-01", "DLBCL", "axi-cel", actor=actor).pathway
        for name, data in (("rcp_eligibility", {"eligible": True, "rcp_date": "2026-01-05"}),
                           ("patient_consent", {"consent_signed": True}),
                           ("place_order", {"order_id": f"ORD-{n}", "manufacturer": org,
                                            "requested_apheresis_date": "2026-01-20"})):
            p = app.complete_task(p.id, ready_named(p, name), data, actor=actor)
        ids[org] = p.id
    kite = app.deliver_message("slot_confirmed", "msg-1", {"order_id": "ORD-1", "coi": "COI-K"}, SLOT,
                               expected_manufacturer="kite")
    novartis = app.deliver_message("slot_confirmed", "msg-1", {"order_id": "ORD-2", "coi": "COI-N"}, SLOT,
                                   expected_manufacturer="novartis")
    assert (kite["duplicate"], novartis["duplicate"]) == (False, False)
    assert (kite["pathway_id"], novartis["pathway_id"]) == (str(ids["kite"]), str(ids["novartis"]))
    # an administrator (no org) sending for kite's order speaks in kite's name: the repeat is kite's
    again = app.deliver_message("slot_confirmed", "msg-1", {"order_id": "ORD-1", "coi": "COI-K"}, SLOT)
    assert again["duplicate"] is True and again["pathway_id"] == str(ids["kite"])
    with pytest.raises(errors.MessageIdReused):
        app.deliver_message("slot_confirmed", "msg-1", {"order_id": "ORD-2", "coi": "COI-N"}, SLOT,
                            expected_manufacturer="kite")


def test_message_ids_recorded_before_scoping_still_answer(tmp_path):
    """Receipts written by the first main (bare message ids) answer a same repeat, refuse another."""
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(OLD_STORE, copy)
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
                        "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"})
    old = next(ev for pid in app.pathway_ids() for ev in app.events.get(pid)
               if isinstance(ev, Pathway.MessageReceived) and ev.name == "slot_confirmed")
    manufacturer = app.get_pathway(old.originator_id).correlation["manufacturer"]
    payload = {k: v for k, v in old.payload.items()}
    answer = app.deliver_message(old.name, old.message_id, old.correlation, payload,
                                 expected_manufacturer=manufacturer)
    assert answer["duplicate"] is True and answer["pathway_id"] == str(old.originator_id)
    with pytest.raises(errors.MessageIdReused):
        app.deliver_message(old.name, old.message_id, old.correlation, dict(payload, manufacturing_slot="OTHER"),
                            expected_manufacturer=manufacturer)
    # another manufacturer's id of the same spelling is its own (and here names no order of its own)
    with pytest.raises(errors.MessageNotCorrelated):
        app.deliver_message(old.name, old.message_id, {"order_id": f"ORD-{uuid.uuid4()}", "coi": "C"}, payload,
                            expected_manufacturer="someone-else")
