"""Bearer tokens verified once are remembered until they expire, and never longer: a remembered
token past its expiry (and the leeway) is verified again and refused."""
from __future__ import annotations

import time

import jwt
import pytest
from werkzeug.exceptions import Unauthorized

from api import auth
from api.auth import LEEWAY_SECONDS, TokenVerifier

SECRET = "token-verifier-test-" + "s" * 40


def _token(exp: float, sub: str = "nurse-1", **extra) -> str:
    return jwt.encode({"sub": sub, "exp": int(exp), "roles": ["coordination"], "centers": ["FR-01"], **extra},
                      SECRET, algorithm="HS256")


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier({"algorithm": "HS256", "key": SECRET, "issuer": None, "audience": None})


def test_a_token_is_verified_once_then_remembered(verifier, monkeypatch):
    token = _token(time.time() + 600)
    calls = []
    real = jwt.decode
    monkeypatch.setattr(auth.jwt, "decode", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    first, second = verifier.principal(token), verifier.principal(token)
    assert first == second and first.sub == "nurse-1" and first.centers == frozenset({"FR-01"})
    assert len(calls) == 1
    # another token (another signature) is verified on its own
    with pytest.raises(Unauthorized, match="not valid"):
        verifier.principal(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))


def test_a_remembered_token_is_refused_once_it_has_expired(verifier, monkeypatch):
    now = time.time()
    token = _token(now + 60)
    assert verifier.principal(token).sub == "nurse-1"
    later = now + 60 + LEEWAY_SECONDS + 1
    monkeypatch.setattr(auth.time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(later))
    with pytest.raises(Unauthorized, match="expired"):
        verifier.principal(token)


def test_the_memory_is_bounded(verifier, monkeypatch):
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 5)
    tokens = [_token(time.time() + 600, sub=f"u-{i}") for i in range(8)]
    for token in tokens:
        verifier.principal(token)
    assert list(verifier._verified) == tokens[-5:]


class _FrozenDatetime:
    """PyJWT reads the time through ``datetime.now(tz=timezone.utc)``: this one answers ``at``."""

    def __init__(self, at: float):
        from datetime import datetime
        self._at, self._real = at, datetime

    def now(self, tz=None):
        return self._real.fromtimestamp(self._at, tz)

    def __getattr__(self, name):
        return getattr(self._real, name)
