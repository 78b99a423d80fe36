"""Encryption at rest (eventsourcing's cipher, AES-GCM): rows are unreadable without the key,
the application works with it, and the hash chain is checkable with or without it."""
from __future__ import annotations

import pytest
from eventsourcing.cryptography import AESCipher

from cartpath.engine.application import CartPath
from cartpath.engine.integrity import check_integrity
from cartpath.engine.lint import read_paths
from cartpath.engine.settings import BadSetting
from tests.support.chain import db_id, raw
from tests.support.store import FIXTURES, run_mini_to_slot

KEY = AESCipher.create_key(32)


@pytest.fixture
def sealed(env) -> tuple[CartPath, dict[str, str]]:
    env = {**env, "CARTPATH_CIPHER_KEY": KEY}
    app = CartPath(env=env)
    app.deploy(read_paths([FIXTURES / "mini_pathway.bpmn"]))
    return app, env


def test_rows_are_unreadable_without_the_key_and_the_app_works_with_it(sealed):
    app, env = sealed
    p = run_mini_to_slot(app, "ORD-77", "COI-77", "P-7777")
    states = [bytes(row[0]) for row in raw(env, "SELECT state FROM {events}")]
    assert states and not any(b"P-7777" in s or b"ORD-77" in s or b"patient_ref" in s or b"mini_pathway" in s
                              for s in states)
    again = CartPath(env=env)   # another process with the key reads it all back
    assert again.get_pathway(p.id).patient_ref == "P-7777"
    assert again.verify(p.id)["ok"]
    assert [h["type"] for h in again.history(p.id)][0] == "Started"
    without = {k: v for k, v in env.items() if k != "CARTPATH_CIPHER_KEY"}
    with pytest.raises(Exception):  # noqa: B017  (whatever the decoder makes of ciphertext: not the pathway)
        CartPath(env=without).get_pathway(p.id)
    wrong = {**env, "CARTPATH_CIPHER_KEY": AESCipher.create_key(32)}
    with pytest.raises(ValueError):  # AES-GCM's tag does not verify under another key
        CartPath(env=wrong).get_pathway(p.id)


def test_the_chain_hashes_the_ciphertext_so_it_is_checked_with_or_without_the_key(sealed):
    app, env = sealed
    p = run_mini_to_slot(app)
    without = CartPath(env={k: v for k, v in env.items() if k != "CARTPATH_CIPHER_KEY"})
    assert check_integrity(app).ok and check_integrity(without).ok
    position = raw(env, "SELECT MAX({pos}) FROM {events} WHERE originator_id = ?", (db_id(p.id),))[0][0]
    state = bytes(raw(env, "SELECT state FROM {events} WHERE {pos} = ?", (position,))[0][0])
    flipped = state[:-1] + bytes([state[-1] ^ 1])
    raw(env, "UPDATE {events} SET state = ? WHERE {pos} = ?", (flipped, position))
    for checker in (app, without):
        first = check_integrity(checker).first_failure
        assert first is not None and (first.kind, first.position) == ("altered", position)
    assert str(p.id) == first.originator_id


@pytest.mark.parametrize("setting, needle", [
    ({"CARTPATH_CIPHER_KEY": "not base64!"}, "CARTPATH_CIPHER_KEY"),
    ({"CARTPATH_CIPHER_KEY": "c2hvcnQ="}, "16, 24 or 32"),
    ({"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher"}, "without CIPHER_KEY"),
])
def test_a_bad_cipher_setting_is_refused_naming_it(env, setting, needle, monkeypatch):
    monkeypatch.delenv("CIPHER_KEY", raising=False)
    monkeypatch.delenv("CARTPATH_CIPHER_KEY", raising=False)
    with pytest.raises(BadSetting, match=needle):
        CartPath(env={**env, **setting})
