"""Signatures and corrections on a real store, at the engine's level: old completions read as
unsigned, a signature that no longer matches its completion fails ``verify``, and a correction of
a completion of a store written before corrections applies to the pathway's data."""
from __future__ import annotations

import shutil
from pathlib import Path

from cartpath.engine import signatures
from cartpath.engine.application import CartPath
from cartpath.engine.pathway import Pathway
from cartpath.engine.verification import verify_pathway
from tests.support.store import FIXTURES, ready_named, store_env

OLD_STORE = FIXTURES / "stores" / "main_2026-12-01.sqlite3"
MINI_SIGNED = ((FIXTURES / "mini_pathway.bpmn").read_bytes().replace(b"mini_pathway", b"mini_signed")
               .replace(b'<cartpath:due duration="P2D"/>', b'<cartpath:due duration="P2D"/><cartpath:signed/>'))
NURSE = {"sub": "nurse-1", "roles": ["coordination"], "centers": ["FR-01"]}


def signed_intake(app: CartPath):
    app.deploy({"mini_signed.bpmn": MINI_SIGNED})
    p = app.start_pathway("P-1", "FR-01", "DLBCL", "axi-cel", process_key="mini_signed").pathway
    model = app.model("mini_signed")
    signers = signatures.signers_for(model.forms["intake"], {**NURSE, "name": "Claire Martin"})
    return app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-1"}, actor=NURSE,
                             signers=signers), model


def test_verify_names_a_signature_that_no_longer_matches_its_completion(tmp_path):
    app = CartPath(env=store_env(tmp_path))
    p, model = signed_intake(app)
    assert app.verify(p.id)["ok"]
    events = list(app.events.get(p.id))
    [done] = [ev for ev in events if isinstance(ev, Pathway.TaskCompleted)]
    assert [s["name"] for s in done.signatures] == ["Claire Martin"]
    done.data["order_id"] = "ORD-2"  # what a rewrite of the recorded data would give
    report = verify_pathway(p.id, events, model)
    assert not report["ok"] and "signature" in report["reason"], report
    assert report["first_divergent_event"] == {"version": done.originator_version, "type": "TaskCompleted"}


def test_completions_recorded_before_signatures_read_as_unsigned_and_take_corrections(tmp_path):
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(OLD_STORE, copy)
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(copy)),
                        "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"})
    pid = next(pid for pid in app.pathway_ids() if app.get_pathway(pid).outcome == "follow_up_handover")
    completions = [ev for ev in app.events.get(pid) if isinstance(ev, Pathway.TaskCompleted)]
    assert completions and all(ev.signatures == [] for ev in completions)
    [receipt] = [ev for ev in completions if ev.name == "product_receipt"]
    app.correct_task(pid, receipt.task_id, "storage_location", "LN2-RACK-9", "rack renumbered", actor=NURSE)
    p = app.get_pathway(pid)
    assert p.data["product_receipt"]["storage_location"] == "LN2-RACK-9"
    assert p.corrections[-1]["original"] == receipt.data["storage_location"]
    assert app.verify(pid)["ok"]
