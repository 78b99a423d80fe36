"""Issue 16's storage: an ended pathway keeps no snapshot (its events are the record), and
what is stored compactly reads back the same, on the store this suite runs on."""
from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.integrity import check_integrity
from cartpath.engine.lint import read_paths
from tests.support.chain import raw
from tests.support.store import FIXTURES, T0, ready_named, store_env


def drive_loop(app: CartPath, days: int, patient_ref: str = "P-1"):
    p = app.start_pathway(patient_ref, "FR-01", "MM", "cilta-cel", process_key="loop_pathway").pathway
    for day in range(1, days + 1):
        p = app.complete_task(p.id, ready_named(app.get_pathway(p.id), "assess"), {"value": day})
        app.fire_due_timers(T0 + timedelta(days=day, hours=1))
    return app.get_pathway(p.id)


def straight_replay(app: CartPath, pathway_id):
    state = None
    for ev in app.events.get(pathway_id):
        state = ev.mutate(state)
    return state


def test_an_ended_pathway_keeps_no_snapshot_and_still_loads_reads_and_verifies(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = drive_loop(app, 12)
    assert list(app.snapshots.get(p.id)), "a long-running active pathway is snapshotted"
    ended = app.complete_task(p.id, ready_named(p, "assess"), {"value": -1})
    assert ended.status == "ended" and ended.outcome == "follow_up_handover"
    assert list(app.snapshots.get(p.id)) == []

    cold = CartPath(env=app.env)  # nothing cached: the pathway is rebuilt from its events alone
    loaded = cold.get_pathway(p.id)
    straight = straight_replay(cold, p.id)
    for name in ("version", "status", "outcome", "data", "ready", "waiting", "ended_at", "closed_tasks"):
        assert getattr(loaded, name) == getattr(straight, name), name
    assert loaded.engine_checkpoint is None
    history = cold.history(p.id)
    assert history[-1]["type"] == "PathwayEnded" and len(history) == loaded.version
    assert cold.verify(p.id)["ok"]
    assert check_integrity(cold, p.id).ok


def test_a_cancelled_pathway_drops_its_snapshot_too(app):
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    p = drive_loop(app, 12, "P-2")
    assert list(app.snapshots.get(p.id))
    app.cancel(p.id, "patient_decision", None)
    assert list(app.snapshots.get(p.id)) == []
    cold = CartPath(env=app.env)
    assert cold.get_pathway(p.id).outcome == "cancelled"
    assert cold.verify(p.id)["ok"]



def comparable(history):
    return [(h["version"], h["type"], h["at"], h["actor"], h["data"]) for h in history]


def run_mini(app: CartPath):
    """The small test process to its end, with the same ids in every store."""
    from tests.support.store import start_mini
    p = start_mini(app, business_key="bk-1")
    p = app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": "ORD-1"})
    app.deliver_message("slot_confirmed", "m-1", {"order_id": "ORD-1", "coi": "COI-1"},
                        {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"})
    app.fire_due_timers(T0 + timedelta(days=2))
    p = app.get_pathway(p.id)
    return app.complete_task(p.id, ready_named(p, "check"), {"coi_scanned": "COI-1", "n": 3})


def decoded_log(app: CartPath):
    from cartpath.projections.log import EventLog
    log = EventLog(app)
    events, _ = log.read(0, 10_000, log.head())
    return [(e.version, e.kind, {k: v for k, v in e.data.items() if k != "timestamp"}) for e in events]


def test_events_are_stored_compressed_and_read_back_as_from_a_plain_store(app, env, tmp_path):
    (tmp_path / "plain").mkdir()
    plain_env = {**store_env(tmp_path / "plain"), "CARTPATH_COMPRESSOR": "off"}
    plain = CartPath(env=plain_env)
    plain.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
    p, q = run_mini(app), run_mini(plain)
    assert p.outcome == q.outcome == "follow_up_handover"

    packed = [bytes(r[0]) for r in raw(env, "SELECT state FROM {events}")]
    stored_plain = [bytes(r[0]) for r in raw(plain_env, "SELECT state FROM {events}")]
    assert all(s[:1] == b"{" for s in stored_plain)
    assert sum(1 for s in packed if s[:1] == b"\x01") > len(packed) * 0.9
    assert sum(map(len, packed)) < sum(map(len, stored_plain)) / 2

    assert comparable(app.history(p.id)) == comparable(plain.history(q.id))
    assert decoded_log(app) == decoded_log(plain)  # the projections' fast decoder reads both alike
    cold = CartPath(env=env)
    assert cold.verify(p.id)["ok"] and check_integrity(cold).ok


def test_a_store_written_with_compression_off_then_on_then_off_reads_verifies_and_checks(env, tmp_path):
    from tests.support.store import start_mini
    ids = []
    for setting in ("off", "on", "off"):
        app = CartPath(env={**env, "CARTPATH_COMPRESSOR": setting})
        app.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
        if ids:  # carry on a pathway written under the other setting
            p = app.get_pathway(ids[-1])
            app.complete_task(p.id, ready_named(p, "intake"), {"ok": True, "order_id": f"ORD-{len(ids)}"})
        ids.append(start_mini(app, f"P-{len(ids) + 1:04d}").id)
        app.close()
    starts = {bytes(r[0])[:1] for r in raw(env, "SELECT state FROM {events}")}
    assert starts == {b"{", b"\x01"}
    for setting in ("on", "off"):
        app = CartPath(env={**env, "CARTPATH_COMPRESSOR": setting})
        for pid in ids:
            assert app.history(pid)[0]["type"] == "Started"
            assert app.verify(pid)["ok"]
        assert len(decoded_log(app)) == sum(len(app.history(pid)) for pid in ids)
        assert check_integrity(app).ok
        app.close()


def test_compression_under_the_cipher(env):
    from eventsourcing.cryptography import AESCipher
    from eventsourcing.utils import Environment

    from cartpath.engine.compression import EventCompressor
    key = AESCipher.create_key(32)
    sealed_env = {**env, "CARTPATH_CIPHER_KEY": key}
    app = CartPath(env=sealed_env)
    app.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
    p = run_mini(app)
    states = [bytes(r[0]) for r in raw(env, "SELECT state FROM {events}")]
    assert not any(b"patient_ref" in s or b"mini_pathway" in s for s in states)
    cipher = AESCipher(Environment(env={"CIPHER_KEY": key}))
    inner = [cipher.decrypt(s) for s in states]
    assert sum(1 for s in inner if s[:1] == b"\x01") > len(inner) * 0.9  # compressed, then encrypted
    assert any(b"patient_ref" in EventCompressor().decompress(s) for s in inner)
    cold = CartPath(env=sealed_env)
    assert cold.get_pathway(p.id).outcome == "follow_up_handover" and cold.verify(p.id)["ok"]
    assert check_integrity(cold).ok
    assert check_integrity(CartPath(env=env)).ok  # the chain's check needs no key


OLD_STORES = sorted((FIXTURES / "stores").glob("*.sqlite3"))


@pytest.mark.parametrize("fixture", OLD_STORES, ids=[p.stem for p in OLD_STORES])
def test_old_stores_read_verify_and_check_then_take_compressed_events_beside_their_plain_ones(fixture, tmp_path):
    from cartpath.projections.log import EventLog
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(fixture, copy)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
           "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"}
    app = CartPath(env=env)
    ids = app.pathway_ids()
    assert ids and all(app.verify(pid)["ok"] for pid in ids)
    assert check_integrity(app).ok
    app.deploy_bundled()
    new = app.start_pathway("PSN-0042", "FR-01", "DLBCL", "axi-cel").pathway
    app.complete_task(new.id, ready_named(new, "rcp_eligibility"), {"eligible": False, "rcp_date": "2026-01-05"})
    with sqlite3.connect(copy) as db:
        mine = [bytes(r[0]) for r in db.execute("SELECT state FROM stored_events WHERE originator_id = ?",
                                                 (new.id.hex,))]
    assert mine and all(s[:1] == b"\x01" for s in mine)
    cold = CartPath(env=env)
    for pid in [*ids, new.id]:
        assert cold.verify(pid)["ok"]
    assert cold.get_pathway(new.id).outcome == "not_eligible" and list(cold.snapshots.get(new.id)) == []
    report = check_integrity(cold)
    assert report.ok and report.checked >= len(mine)
    log = EventLog(cold)
    read, _ = log.read(0, 1_000_000, log.head())
    assert {ev.pathway_id for ev in read} == {str(pid) for pid in [*ids, new.id]}


def test_db_compact_drops_the_snapshots_old_stores_kept_for_ended_pathways(tmp_path):
    import json

    from click.testing import CliRunner

    from cartpath.cli import main
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(FIXTURES / "stores" / "main_2026-12-01.sqlite3", copy)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
           "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"}
    app = CartPath(env=env)
    ids = app.pathway_ids()
    kept = [pid for pid in ids if list(app.snapshots.get(pid))]
    assert kept and all(app.get_pathway(pid).status == "ended" for pid in kept)
    before = {pid: app.history(pid) for pid in ids}

    result = CliRunner().invoke(main, ["db", "compact"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"ended_pathways": len(ids), "snapshots_dropped": len(kept)}

    cold = CartPath(env=env)
    assert all(list(cold.snapshots.get(pid)) == [] for pid in ids)
    for pid in ids:
        assert cold.history(pid) == before[pid] and cold.verify(pid)["ok"]
    assert check_integrity(cold).ok
    again = CliRunner().invoke(main, ["db", "compact"], env=env)
    assert json.loads(again.output)["snapshots_dropped"] == 0


def test_compacting_on_the_store_this_suite_runs_on(app):
    """A snapshot of an ended pathway, as an older release left it, dropped on SQLite or PostgreSQL."""
    from cartpath.engine.db import drop_ended_snapshots
    from cartpath.engine.pathway import Pathway
    app.deploy(read_paths([FIXTURES / "loop_pathway.bpmn"]))
    active = drive_loop(app, 9, "P-21")
    short = app.start_pathway("P-20", "FR-01", "MM", "cilta-cel", process_key="loop_pathway").pathway
    ended = app.complete_task(short.id, ready_named(short, "assess"), {"value": -1})
    app.snapshots.put([Pathway.Snapshot.take(ended)])  # what the release before this one kept
    assert list(app.snapshots.get(ended.id)) and list(app.snapshots.get(active.id))
    assert drop_ended_snapshots(app) == {"ended_pathways": 1, "snapshots_dropped": 1}
    assert list(app.snapshots.get(ended.id)) == [] and list(app.snapshots.get(active.id))
    cold = CartPath(env=app.env)
    assert cold.get_pathway(ended.id).outcome == "follow_up_handover" and cold.verify(ended.id)["ok"]
