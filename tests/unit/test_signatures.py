"""The rules of electronic signatures, without a store: which signatures a task needs, whose they
may be, how fresh a signing token must be, and what is hashed."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from cartpath.engine import signatures
from cartpath.engine.errors import SignatureRefused
from cartpath.engine.forms import TaskForm

INFUSION = TaskForm(signed=True, witness=True)
OOS = TaskForm(signed=True, countersign="pharmacy")
NURSE = {"sub": "nurse-1", "roles": ["ward"]}
NOW = 1_800_000_000.0


def party(role: str, sub: str, *roles: str, meaning: str = "performed") -> dict:
    return {"role": role, "sub": sub, "name": f"Name {sub}", "roles": list(roles), "meaning": meaning}


def test_required_roles_follow_the_model():
    assert signatures.required_roles(None) == []
    assert signatures.required_roles(TaskForm()) == []
    assert signatures.required_roles(TaskForm(signed=True)) == ["signer"]
    assert signatures.required_roles(INFUSION) == ["signer", "witness"]
    assert signatures.required_roles(OOS) == ["signer", "countersign"]


@pytest.mark.parametrize("given, field, needle", [
    ([], "signature", "is signed"),
    ([party("signer", "nurse-1", "ward")], "witness", "witness"),
    ([party("signer", "nurse-2", "ward"), party("witness", "nurse-3", "ward")], "signature", "own token"),
    ([party("signer", "nurse-1", "ward"), party("witness", "nurse-1", "ward")], "witness", "another person"),
    ([party("signer", "nurse-1", "ward"), party("witness", "nurse-2", "ward"), party("countersign", "p", "pharmacy")],
     "countersign", "takes no countersign"),
    ([party("signer", "nurse-1", "ward", meaning="liked"), party("witness", "nurse-2", "ward")], "signature",
     "meaning"),
])
def test_wrong_signatures_are_refused_naming_why(given, field, needle):
    with pytest.raises(SignatureRefused) as refused:
        signatures.check(INFUSION, "infusion", given, NURSE)
    assert field in refused.value.errors and needle in refused.value.detail


def test_a_countersignature_needs_the_role_and_another_person():
    doctor = {"sub": "dr-1", "roles": ["hematology"]}
    with pytest.raises(SignatureRefused, match="needs the role 'pharmacy'"):
        signatures.check(OOS, "oos_acceptance", [party("signer", "dr-1"), party("countersign", "nurse-1", "ward")],
                         doctor)
    with pytest.raises(SignatureRefused, match="another person"):
        signatures.check(OOS, "oos_acceptance", [party("signer", "dr-1", "hematology", "pharmacy"),
                                                 party("countersign", "dr-1", "hematology", "pharmacy")], doctor)
    signatures.check(OOS, "oos_acceptance", [party("signer", "dr-1"), party("countersign", "ph-1", "pharmacy")],
                     doctor)


def test_the_sha256_is_of_the_canonical_signed_content():
    data = {"infused_at": "2026-03-30T10:05:00+00:00", "coi_bag": "W1", "coi_wristband": "W1"}
    at = datetime(2026, 3, 30, 10, 6, tzinfo=UTC)
    [signer, witness] = signatures.manifestations("p-1", "t-1", "infusion", data,
                                                  [party("witness", "n-2", "ward", meaning="verified"),
                                                   party("signer", "nurse-1", "ward")], at)
    assert (signer["role"], witness["role"]) == ("signer", "witness")  # recorded signer first
    content = {"data": data, "meaning": "performed", "pathway_id": "p-1", "task": "infusion", "task_id": "t-1"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    assert signer["sha256"] == hashlib.sha256(canonical).hexdigest()
    assert signer["at"] == at.isoformat() and signer["name"] == "Name nurse-1"
    assert signatures.mismatches("p-1", "t-1", "infusion", data, [signer, witness]) == []
    assert signatures.mismatches("p-1", "t-1", "infusion", {**data, "coi_bag": "W2"}, [signer]) == [signer]


def reader(claims: dict):
    def read(token: str) -> dict:
        if token != "good":
            raise ValueError("Signature verification failed")
        return claims
    return read


@pytest.mark.parametrize("claims, needle", [
    ({"sub": "n", "roles": []}, "no auth_time"),
    ({"sub": "n", "roles": [], "auth_time": NOW - 301}, "stale"),
    ({"sub": "n", "roles": [], "auth_time": NOW + 120}, "future"),
    ({"sub": "n", "roles": [], "auth_time": NOW, "name": ""}, "printed name"),
])
def test_signing_tokens_must_be_fresh_signing_tokens(claims, needle):
    with pytest.raises(SignatureRefused, match=needle):
        signatures.signers_from({"signature": {"meaning": "performed", "token": "good"}}, reader(claims), NOW)


def test_a_fresh_signing_token_gives_its_signer():
    claims = {"sub": "n", "roles": ["ward"], "auth_time": NOW - 299, "name": "Emma Laurent"}
    [signer] = signatures.signers_from({"signature": {"meaning": "verified", "token": "good"}}, reader(claims), NOW)
    assert signer == {"role": "signer", "sub": "n", "name": "Emma Laurent", "roles": ["ward"], "meaning": "verified"}
    with pytest.raises(SignatureRefused, match="not valid: Signature verification failed"):
        signatures.signers_from({"witness": {"meaning": "verified", "token": "bad"}}, reader(claims), NOW)
