"""The hash chain's link runs (the 32-byte links of consecutive positions, a row a save) and the
stores written before them, converted the first time the recorder uses its chain: the
``<events>_links`` table (a link a row) and, before it, the ``<events>_chain`` table (aggregate,
version, position, prev and content hashes). The links, the checkpoints and an anchor taken
before all stay as written, and tampering, before or after the conversion, is still caught.

``fixtures/stores/chain_table_2026-12-03.sqlite3`` was written by main at d89ff32 (the old chain
table), on the bundled model: five pathways at several steps, an anchor (``ANCHOR``) taken before
the last one was started. ``fixtures/stores/links_table_2026-12-03.sqlite3`` was written by main
at 3791f81 (the links table): the demo's simulation of three patients to their end on the bundled
model (a checkpoint at position 1000), an anchor (``LINKS_ANCHOR``), then one more pathway started."""
from __future__ import annotations

import json
import logging
import shutil
import uuid

import pytest
from click.testing import CliRunner
from eventsourcing.persistence import StoredEvent

from cartpath.cli import main
from cartpath.engine.application import CartPath
from cartpath.engine.integrity import check_integrity, take_anchor
from tests.support.chain import ON_POSTGRES, db_id, links, raw, set_link, to_links_table_format, to_old_chain_format
from tests.support.store import FIXTURES, run_mini_to_slot

OLD_STORE = FIXTURES / "stores" / "chain_table_2026-12-03.sqlite3"
ANCHOR = {"hash": "f73110df13d461f564413bf697303e5e0886e76e0f0ba08eeb8cab14255f1c2e", "position": 66}
LINKS_STORE = FIXTURES / "stores" / "links_table_2026-12-03.sqlite3"
LINKS_ANCHOR = {"hash": "79c73cf13476dea13c118fdf861bdead049dfdeda70d2c3b890be611ab88d690", "position": 1226}
# the two formats of the past, each with what a store of it has instead of the runs
OLD_FORMATS = [(to_links_table_format, "events_links"), (to_old_chain_format, "events_chain")]
_links = links


def _tables(env) -> set[str]:
    if ON_POSTGRES:
        rows = raw(env, "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                   (env["POSTGRES_SCHEMA"],))
    else:
        rows = raw(env, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]).removeprefix("stored_").removeprefix("cartpath_") for r in rows}


def _store_across_a_checkpoint(app: CartPath) -> list[uuid.UUID]:
    """Pathways, then small events of many aggregates (saves of 40) across the first checkpoints."""
    ids = [run_mini_to_slot(app, f"ORD-{i}", f"COI-{i}", f"P-{i:04d}").id for i in range(3)]
    bulk = [uuid.uuid4() for _ in range(40)]
    for v in range(1, 31):
        app.recorder.insert_events([StoredEvent(originator_id=i, originator_version=v, topic="bench:Noted",
                                                state=b'{"n": %d}' % v) for i in bulk])
    return ids


def _position(env, pathway_id: uuid.UUID, version: int) -> int:
    return raw(env, "SELECT {pos} FROM {events} WHERE originator_id = ? AND originator_version = ?",
               (db_id(pathway_id), version))[0][0]


def test_one_link_per_event_and_a_row_per_save(app, env):
    _store_across_a_checkpoint(app)
    positions = [r[0] for r in raw(env, "SELECT {pos} FROM {events} ORDER BY {pos}")]
    stored = _links(env)
    assert [p for p, _ in stored] == positions and all(len(k) == 32 for _, k in stored)
    assert "events_link_runs" in _tables(env) and not {"events_links", "events_chain"} & _tables(env)
    rows = raw(env, "SELECT position, links FROM {runs} ORDER BY position")
    # the 30 bulk saves of 40 events are a row each: one row per save, not per event
    assert sum(1 for _, blob in rows if len(bytes(blob)) == 40 * 32) == 30
    assert len(rows) < len(positions) / 3 and all(len(bytes(blob)) % 32 == 0 for _, blob in rows)


@pytest.mark.parametrize("old_format, old_table", OLD_FORMATS, ids=["links-table", "chain-table"])
def test_an_old_table_is_converted_on_first_use_and_everything_checks_as_before(app, env, caplog, old_format,
                                                                               old_table):
    ids = _store_across_a_checkpoint(app)
    anchor = take_anchor(app)
    before = check_integrity(app)
    links = _links(env)
    assert before.ok and before.checkpoints >= 1
    app.close()
    written = old_format(env)
    assert written == len(links) and old_table in _tables(env) and "events_link_runs" not in _tables(env)

    with caplog.at_level(logging.WARNING, logger="cartpath.chain"):
        reopened = CartPath(env=env)
        after = check_integrity(reopened, anchor=anchor["hash"])
    assert after.ok and after.anchor["ok"] is True
    assert (after.checked, after.checkpoints, after.unchained) == (before.checked, before.checkpoints, 0)
    assert _links(env) == links  # the links as they were written: checkpoints and anchors still match
    assert old_table not in _tables(env)
    tables = reopened.recorder.chain_tables
    said = [r.getMessage() for r in caplog.records if r.name == "cartpath.chain"]
    assert said == [f"hash chain: converted {written} link(s) of "
                    f"{tables.links if old_table == 'events_links' else tables.old_chain} to {tables.runs}"]

    run_mini_to_slot(reopened, "ORD-9", "COI-9", "P-0009")  # new saves chain on from the converted links
    assert check_integrity(CartPath(env=env), anchor=anchor["hash"]).ok
    position = _position(env, ids[1], 2)
    raw(env, "UPDATE {events} SET state = ? WHERE {pos} = ?",
        (bytes(raw(env, "SELECT state FROM {events} WHERE {pos} = ?", (position,))[0][0]) + b" ", position))
    findings = check_integrity(reopened).findings  # one finding: the versions after it chain from its stored link
    assert [(f.kind, f.position, f.version) for f in findings] == [("altered", position, 2)]


@pytest.mark.parametrize("old_format, old_table", OLD_FORMATS, ids=["links-table", "chain-table"])
def test_tampering_done_before_the_conversion_is_still_named(app, env, old_format, old_table):
    ids = _store_across_a_checkpoint(app)
    app.close()
    old_format(env)
    removed = _position(env, ids[0], 3)
    raw(env, "DELETE FROM {events} WHERE {pos} = ?", (removed,))  # its old row stays, as an edit leaves it
    report = check_integrity(CartPath(env=env))
    assert not report.ok and old_table not in _tables(env)
    first = report.as_dict()["first_failure"]
    assert (first["kind"], first["position"], first["version"], first["originator_id"]) == \
        ("removed", removed, 3, str(ids[0]))


@pytest.mark.parametrize("old_format", [f for f, _ in OLD_FORMATS], ids=["links-table", "chain-table"])
def test_db_compact_converts_an_old_table_and_says_how_many_links(app, env, old_format):
    _store_across_a_checkpoint(app)
    app.close()
    written = old_format(env)
    cli_env = {**env, "CARTPATH_CLOCK": "manual"}
    result = CliRunner().invoke(main, ["db", "compact"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"ended_pathways": 0, "snapshots_dropped": 0,
                                         "chain_links_converted": written}
    again = CliRunner().invoke(main, ["db", "compact"], env=cli_env)
    assert json.loads(again.output) == {"ended_pathways": 0, "snapshots_dropped": 0}
    checked = CliRunner().invoke(main, ["audit", "check"], env=cli_env)
    assert checked.exit_code == 0 and checked.output.strip().splitlines()[-1].startswith("ok: store:")


# (store file, anchor, the old table's links as (position, link) or just their count, checkpoints the
# check walks, the position whose event is deleted afterwards)
OLD_STORES = {
    "chain-table": (OLD_STORE, ANCHOR, "SELECT count(*) FROM {old_chain}", 1, 10),
    "links-table": (LINKS_STORE, LINKS_ANCHOR, "SELECT position, link FROM {links} ORDER BY position", 2, 500),
}


@pytest.mark.parametrize("release", OLD_STORES)
def test_a_store_an_old_release_wrote_is_converted_and_extends_its_anchor_until_edited(tmp_path, release):
    if ON_POSTGRES:
        return  # the stores of the past are SQLite files; the PostgreSQL pass converts its own store above
    store, anchor, old_links, checkpoints, deleted = OLD_STORES[release]
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(store, copy)
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
           "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"}
    old = raw(env, old_links)
    count, head = (old[0][0], 70) if release == "chain-table" else (len(old), old[-1][0])
    checked = CliRunner().invoke(main, ["audit", "check", "--anchor", anchor["hash"]], env=env)
    assert checked.exit_code == 0, checked.output
    lines = checked.output.strip().splitlines()
    assert lines[-2] == f"anchor {anchor['hash']}: the store extends it"
    assert lines[-1] == (f"ok: store: {count} chained event(s), {checkpoints} checkpoint(s) checked up to "
                         f"position {head}")
    assert not {"events_chain", "events_links"} & _tables(env) and len(_links(env)) == count
    if release == "links-table":
        assert _links(env) == [(int(p), bytes(k)) for p, k in old]  # as stored
        # the positions are consecutive: full runs of 256, then the rest
        assert raw(env, "SELECT count(*) FROM {runs}")[0][0] == -(-count // 256)

    app = CartPath(env=env)
    assert all(app.verify(pid)["ok"] for pid in app.pathway_ids())
    app.deploy_bundled()
    app.start_pathway("PSN-0043", "FR-01", "DLBCL", "axi-cel")
    assert check_integrity(app, anchor=anchor["hash"]).ok
    raw(env, "DELETE FROM {events} WHERE {pos} = ?", (deleted,))
    failed = CliRunner().invoke(main, ["audit", "check", "--anchor", anchor["hash"]], env=env)
    assert failed.exit_code == 1
    assert failed.output.startswith(f"removed at position {deleted}: ")
    assert "the store does NOT extend it" in failed.output


def test_a_rewritten_link_is_altered_at_its_position_and_the_versions_after_it_still_check(app, env):
    ids = [run_mini_to_slot(app, f"ORD-{i}", f"COI-{i}", f"P-{i:04d}").id for i in range(2)]
    position = _position(env, ids[0], 2)
    set_link(env, position, bytes(32))
    report = check_integrity(app)
    assert [(f.kind, f.position, f.version) for f in report.findings] == [("altered", position, 2)]
    assert report.findings[0].originator_id == str(ids[0])


def test_an_event_moved_past_the_head_is_reordered_naming_both_positions(app, env):
    ids = [run_mini_to_slot(app, f"ORD-{i}", f"COI-{i}", f"P-{i:04d}").id for i in range(2)]
    last = raw(env, "SELECT MAX(originator_version) FROM {events} WHERE originator_id = ?", (db_id(ids[0]),))[0][0]
    position = _position(env, ids[0], last)
    head = raw(env, "SELECT MAX({pos}) FROM {events}")[0][0]
    raw(env, "UPDATE {events} SET {pos} = ? WHERE {pos} = ?", (head + 5, position))
    report = check_integrity(app)
    # one finding an event, at its first position (as before the links table)
    assert [(f.kind, f.position, f.version) for f in report.findings] == [("reordered", position, last)]
    assert report.first_failure.detail == f"chained at position {position}, found at position {head + 5}"
    assert report.first_failure.originator_id == str(ids[0])


@pytest.mark.parametrize("old_format", [f for f, _ in OLD_FORMATS], ids=["links-table", "chain-table"])
def test_two_processes_opening_an_old_store_convert_it_once(app, env, old_format):
    _store_across_a_checkpoint(app)
    app.close()
    written = old_format(env)
    first, second = CartPath(env=env), CartPath(env=env)
    assert second.recorder._has_old_chain()  # both saw the old table before either converted
    assert first.recorder.ensure_links() == written
    assert second.recorder._convert_old_chain() == 0  # under the lock it finds the table gone: nothing twice
    assert second.recorder.ensure_links() == 0 and len(_links(env)) == written
    run_mini_to_slot(second, "ORD-9", "COI-9", "P-0009")
    assert check_integrity(first).ok
