"""Tamper evidence: rows edited, deleted, inserted and reordered directly in the store (the
SQLite file, or the PostgreSQL table on the PostgreSQL pass) are caught by the chain
check, with the right kind and position; an untouched store passes; an anchor kept
outside proves the store still extends it."""
from __future__ import annotations

import shutil
import uuid

from eventsourcing.persistence import StoredEvent

from cartpath.engine.application import CartPath
from cartpath.engine.chain import CHECKPOINT_INTERVAL
from cartpath.engine.integrity import check_integrity, take_anchor
from tests.support.chain import (
    ON_POSTGRES,
    db_id,
    delete_links,
    event_positions,
    links,
    raw,
    rewrite_links,
    swap_positions,
)
from tests.support.store import FIXTURES, run_mini_to_slot


def _three_pathways(app: CartPath) -> list[uuid.UUID]:
    return [run_mini_to_slot(app, f"ORD-{i}", f"COI-{i}", f"P-{i:04d}").id for i in range(3)]


def _position(env, pathway_id: uuid.UUID, version: int) -> int:
    return raw(env, "SELECT {pos} FROM {events} WHERE originator_id = ? AND originator_version = ?",
               (db_id(pathway_id), version))[0][0]


def _failure(app: CartPath) -> dict:
    report = check_integrity(app)
    assert report.ok is False and report.first_failure is not None
    return report.as_dict()["first_failure"]


def test_an_untouched_store_passes_and_every_event_of_every_aggregate_is_chained(app, env):
    ids = _three_pathways(app)
    report = check_integrity(app)
    total = raw(env, "SELECT count(*) FROM {events}")[0][0]
    assert report.ok and report.first_failure is None and report.findings == []
    assert report.checked == total and report.unchained == 0
    # indexes and definitions are chained too, not only pathways
    linked = {p for p, _ in links(env)}
    chained = {row[1] for row in raw(env, "SELECT {pos}, originator_id FROM {events}") if row[0] in linked}
    assert {db_id(i) for i in ids} < chained and len(chained) > len(ids)
    one = check_integrity(app, pathway_id=str(ids[1]))
    assert one.ok and one.checked == len(app.history(ids[1]))


def test_an_altered_row_is_named_with_its_position(app, env):
    ids = _three_pathways(app)
    position = _position(env, ids[1], 2)
    state = bytes(raw(env, "SELECT state FROM {events} WHERE {pos} = ?", (position,))[0][0])
    raw(env, "UPDATE {events} SET state = ? WHERE {pos} = ?", (state + b" ", position))
    first = _failure(app)
    assert (first["kind"], first["position"], first["version"]) == ("altered", position, 2)
    assert first["originator_id"] == str(ids[1])
    one = check_integrity(app, pathway_id=str(ids[1]))
    assert not one.ok and one.first_failure.position == position
    assert check_integrity(app, pathway_id=str(ids[0])).ok


def test_a_deleted_row_is_named_as_removed(app, env):
    ids = _three_pathways(app)
    position = _position(env, ids[0], 3)
    raw(env, "DELETE FROM {events} WHERE {pos} = ?", (position,))
    first = _failure(app)
    assert (first["kind"], first["position"], first["version"]) == ("removed", position, 3)


def test_a_deleted_row_and_its_link_are_still_caught(app, env):
    ids = _three_pathways(app)
    position = _position(env, ids[0], 3)
    raw(env, "DELETE FROM {events} WHERE {pos} = ?", (position,))
    delete_links(env, {position})
    first = _failure(app)
    assert first["kind"] == "removed" and first["version"] == 4 and "version 3" in first["detail"]


def test_an_inserted_row_is_named(app, env):
    ids = _three_pathways(app)
    last = raw(env, "SELECT MAX(originator_version) FROM {events} WHERE originator_id = ?", (db_id(ids[2]),))[0][0]
    topic, state = raw(env, "SELECT topic, state FROM {events} WHERE originator_id = ? AND originator_version = ?",
                       (db_id(ids[2]), last))[0]
    raw(env, "INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        (db_id(ids[2]), last + 1, topic, state))
    first = _failure(app)
    assert (first["kind"], first["version"]) == ("inserted", last + 1)
    assert first["position"] == _position(env, ids[2], last + 1)


def test_two_rows_swapped_in_the_log_are_named_as_reordered(app, env):
    ids = _three_pathways(app)
    a, b = _position(env, ids[1], 2), _position(env, ids[1], 3)
    swap_positions(env, a, b)
    first = _failure(app)
    assert (first["kind"], first["position"]) == ("reordered", a)


def test_two_versions_whose_contents_were_swapped_are_named_as_reordered(app, env):
    ids = _three_pathways(app)
    a, b = _position(env, ids[2], 4), _position(env, ids[2], 5)
    (ta, sa), (tb, sb) = (raw(env, "SELECT topic, state FROM {events} WHERE {pos} = ?", (p,))[0] for p in (a, b))
    raw(env, "UPDATE {events} SET topic = ?, state = ? WHERE {pos} = ?", (tb, sb, a))
    raw(env, "UPDATE {events} SET topic = ?, state = ? WHERE {pos} = ?", (ta, sa, b))
    first = _failure(app)
    assert (first["kind"], first["position"], first["version"]) == ("reordered", a, 4)
    assert "version 5" in first["detail"]


def test_an_anchor_passes_then_fails_after_a_truncation_that_covered_its_tracks(app, env):
    _three_pathways(app)
    anchor = take_anchor(app)
    assert check_integrity(app, anchor=anchor["hash"]).ok
    run_mini_to_slot(app, "ORD-9", "COI-9", "P-0009")
    later = check_integrity(app, anchor=anchor["hash"])
    assert later.ok and later.anchor == {"hash": anchor["hash"], "position": anchor["position"], "ok": True}
    # truncate the log below the anchor, links and checkpoints too: the store is consistent again...
    cut = anchor["position"] - 5
    for table, column in (("{events}", "{pos}"), ("{checkpoints}", "position")):
        raw(env, f"DELETE FROM {table} WHERE {column} > ?", (cut,))
    rewrite_links(env, [(p, k) for p, k in links(env) if p <= cut])
    assert check_integrity(app).ok
    # ...but it no longer extends what was anchored outside it
    report = check_integrity(app, anchor=anchor["hash"])
    assert not report.ok and report.anchor["ok"] is False
    assert report.first_failure.kind == "removed"


def _bulk(app: CartPath, aggregates: int, versions: int) -> list[uuid.UUID]:
    """Small events straight through the recorder, a save per version round (as fast as the store goes)."""
    ids = [uuid.uuid4() for _ in range(aggregates)]
    for v in range(1, versions + 1):
        app.recorder.insert_events([StoredEvent(originator_id=i, originator_version=v, topic="bench:Noted",
                                                state=b'{"n": %d}' % v) for i in ids])
    return ids


def test_checkpoints_seal_the_log_every_thousand_positions(app, env):
    ids = _bulk(app, 50, 45)  # 2,250 events in saves of 50
    head = raw(env, "SELECT MAX({pos}) FROM {events}")[0][0]
    sealed = [row[0] for row in raw(env, "SELECT position FROM {checkpoints} ORDER BY position")]
    assert sealed[0] == 0 and len(sealed) == 1 + head // CHECKPOINT_INTERVAL
    assert all(b - a <= CHECKPOINT_INTERVAL + 50 for a, b in zip(sealed, sealed[1:]))
    report = check_integrity(app)
    assert report.ok and report.checkpoints == len(sealed) - 1
    # the head of one aggregate removed with its link leaves no gap a per-event check sees: the checkpoint does
    position = _position(env, ids[7], 40)
    assert sealed[1] < position < sealed[2]
    delete_links(env, event_positions(env, "WHERE originator_id = ? AND originator_version >= 40", (db_id(ids[7]),)))
    raw(env, "DELETE FROM {events} WHERE originator_id = ? AND originator_version >= 40", (db_id(ids[7]),))
    first = _failure(app)
    assert first["kind"] == "removed" and first["position"] == sealed[1] + 1 and first["originator_id"] == "checkpoint"


def test_two_writers_taking_turns_and_a_refused_save_keep_the_chain_whole(app, env):
    """Each recorder remembers the links it committed and a checkpoint position, to spare a save two
    reads: another writer's versions in between, a save refused by the store (its links never
    committed) and checkpoints sealed by either writer must still give a chain that checks."""
    from eventsourcing.persistence import IntegrityError
    other = CartPath(env=env)
    ids = [uuid.uuid4() for _ in range(20)]
    writers = [app, other]
    for v in range(1, 121):  # 2,400 events: both writers cross checkpoints
        writer = writers[(v // 3) % 2]
        writer.recorder.insert_events([StoredEvent(originator_id=i, originator_version=v, topic="bench:Noted",
                                                   state=b'{"n": %d}' % v) for i in ids])
        if v % 7 == 0:  # the other writer tries the same version: refused, nothing of it may be remembered
            loser = writers[1 - (v // 3) % 2]
            try:
                loser.recorder.insert_events([StoredEvent(originator_id=ids[0], originator_version=v,
                                                          topic="bench:Noted", state=b'{"n": -1}')])
            except IntegrityError:
                pass
            else:
                raise AssertionError("a version written twice was accepted")
    report = check_integrity(app)
    assert report.ok and report.findings == [] and report.unchained == 0
    assert report.checkpoints >= 2


def test_a_store_written_before_the_chain_loads_and_reports_what_is_unchained(tmp_path):
    if ON_POSTGRES:
        return  # the stores of the past are SQLite files; the PostgreSQL pass checks its own store above
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(FIXTURES / "stores" / "main_2026-12-01.sqlite3", copy)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
           "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"}
    app = CartPath(env=env)
    old = raw(env, "SELECT count(*), MAX({pos}) FROM {events}")[0]
    before = check_integrity(app)
    assert before.ok and before.unchained == old[0] and before.checked == 0
    assert f"unchained before position {old[1] + 1}" in "\n".join(before.lines())
    anchor = take_anchor(app)  # an anchor taken before anything new was written covers no old event
    assert anchor["position"] == old[1] and check_integrity(app, anchor=anchor["hash"]).ok
    app.deploy_bundled()
    app.start_pathway("PSN-0042", "FR-01", "DLBCL", "axi-cel")
    after = check_integrity(app)
    assert after.ok and after.unchained == old[0] and after.unchained_before == old[1] + 1 and after.checked > 0
    assert all(app.verify(pid)["ok"] for pid in app.pathway_ids())
