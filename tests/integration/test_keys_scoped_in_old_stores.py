"""Business keys scoped by centre and order ids by manufacturer, on a store written before they were.

``fixtures/stores/keys_before_scoping_2026-12-02.sqlite3`` was written by main at 3a76be4 (before
keys were scoped), on the bundled model: one pathway at FR-01 started with business key
``BK-OLD`` (its id the key's unscoped uuid5), its order ``ORD-OLD`` placed with ``kite`` (an
unscoped order index entry). Both keep working for their own centre and manufacturer, and block
nobody else.
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from cartpath.engine import errors
from cartpath.engine.application import CartPath
from tests.support.store import ready_named

STORE = Path(__file__).resolve().parent.parent / "fixtures" / "stores" / "keys_before_scoping_2026-12-02.sqlite3"
OLD_ID = uuid.UUID("91860753-8cfc-5a0c-8589-8a2988ac02bd")
ACTOR = {"sub": "nurse", "roles": ["coordination"]}
SLOT = {"apheresis_date": "2026-01-20", "manufacturing_slot": "S-1"}


@pytest.fixture
def app(tmp_path) -> CartPath:
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(STORE, copy)
    return CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
                         "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"})


def order(app: CartPath, patient_ref: str, center: str, order_id: str, manufacturer: str, **start):
    p = app.start_pathway(patient_ref, center, "DLBCL", "axi-cel", actor=ACTOR, **start).pathway
    for name, data in (("rcp_eligibility", {"eligible": True, "rcp_date": "2026-01-05"}),
                       ("patient_consent", {"consent_signed": True}),
                       ("place_order", {"order_id": order_id, "manufacturer": manufacturer,
                                        "requested_apheresis_date": "2026-01-20"})):
        p = app.complete_task(p.id, ready_named(p, name), data, actor=ACTOR)
    return p


def test_an_old_business_key_answers_at_its_centre_only(app: CartPath):
    old = app.get_pathway(OLD_ID)
    assert (old.business_key, old.center) == ("BK-OLD", "FR-01")
    again = app.start_pathway("P-0001", "FR-01", "DLBCL", "axi-cel", business_key="BK-OLD")
    assert (again.created, again.pathway.id) == (False, OLD_ID)
    with pytest.raises(errors.BusinessKeyConflict):
        app.start_pathway("P-0009", "FR-01", "DLBCL", "axi-cel", business_key="BK-OLD")
    elsewhere = app.start_pathway("P-0001", "FR-02", "DLBCL", "axi-cel", business_key="BK-OLD")
    assert elsewhere.created and elsewhere.pathway.id != OLD_ID
    assert app.start_pathway("P-0001", "FR-02", "DLBCL", "axi-cel", business_key="BK-OLD").pathway.id \
        == elsewhere.pathway.id
    assert app.get_pathway(OLD_ID).version == old.version  # the old pathway saw none of this


def test_an_old_order_id_is_its_manufacturers_and_blocks_no_other(app: CartPath):
    with pytest.raises(errors.InvalidTaskData, match="ORD-OLD"):
        order(app, "P-0002", "FR-02", "ORD-OLD", "kite")  # kite reusing its own order id
    novartis = order(app, "P-0003", "FR-02", "ORD-OLD", "novartis")
    assert novartis.correlation["order_id"] == "ORD-OLD"
    kite_answer = app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-OLD", "coi": "COI-K"}, SLOT,
                                      expected_manufacturer="kite")
    novartis_answer = app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-OLD", "coi": "COI-N"}, SLOT,
                                          expected_manufacturer="novartis")
    assert (kite_answer["pathway_id"], novartis_answer["pathway_id"]) == (str(OLD_ID), str(novartis.id))
    assert (app.get_pathway(OLD_ID).coi, app.get_pathway(novartis.id).coi) == ("COI-K", "COI-N")
    # without a sender (an administrator, the CLI without --org) the shared order id is ambiguous
    with pytest.raises(errors.InvalidMessage) as refused:
        app.deliver_message("manufacturing_status", "m-2", {"order_id": "ORD-OLD", "coi": "COI-K"},
                            {"stage": "qc", "at": "2026-01-06T08:00:00+00:00"})
    assert "org" in refused.value.errors
    assert all(app.verify(pid)["ok"] for pid in app.pathway_ids())


def test_a_new_order_id_stays_unique_per_manufacturer_and_a_sole_holder_needs_no_sender(app: CartPath):
    first = order(app, "P-0004", "FR-01", "ORD-NEW", "kite")
    with pytest.raises(errors.InvalidTaskData):
        order(app, "P-0005", "FR-02", "ORD-NEW", "kite")
    answer = app.deliver_message("slot_confirmed", "m-9", {"order_id": "ORD-NEW", "coi": "COI-9"}, SLOT)
    assert answer["pathway_id"] == str(first.id)
