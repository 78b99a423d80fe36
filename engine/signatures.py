"""Electronic signatures of completions (21 CFR Part 11 §11.50, §11.70, §11.200).

A task the model marks ``<cartpath:signed/>`` is completed only with the caller's own
signature; ``witness="true"`` adds a second person's (the JACIE bedside identity check),
``countersign="ROLE"`` a signature by someone holding ROLE (pharmacy countersigns an
out-of-specification acceptance). Signers reach the engine already identified: the API
(or the CLI) checks their signing tokens and hands over who they are (``sub``, printed
``name``, ``roles``) and what the signature means. The engine decides whether those are
the signatures the task needs and records, with the completion, each signer's
manifestation and the SHA-256 of exactly what was signed, so ``verify`` can prove the
signature still belongs to the recorded data.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .errors import SignatureRefused
from .forms import TaskForm
from .text import text_problem

MEANINGS = ("performed", "verified", "approved")
SIGNER, WITNESS, COUNTERSIGN = "signer", "witness", "countersign"
ROLES = (SIGNER, WITNESS, COUNTERSIGN)
# How old a signing token's authentication may be: the signer proved who they are just now.
MAX_AUTH_AGE_SECONDS = 300


# Where a completion carries each signature, beside its ``data``.
FIELDS = {"signature": SIGNER, "witness": WITNESS, "countersign": COUNTERSIGN}
# A clock a few seconds ahead of ours still signs (the bearer tokens allow the same).
LEEWAY_SECONDS = 30


def signers_from(given: Mapping[str, Any], read_token: Callable[[str], Mapping[str, Any]],
                 now: float) -> list[dict[str, Any]]:
    """The signers of ``given`` (``{"signature": {meaning, token}, "witness": ..., "countersign": ...}``),
    each token read by ``read_token`` (its signature and expiry checked; ValueError saying why not)
    and required fresh: authenticated (``auth_time``) at most 5 minutes before ``now`` (Unix time)."""
    out = []
    for key, role in FIELDS.items():
        entry = given.get(key)
        if entry is None:
            continue
        if not isinstance(entry, Mapping) or not isinstance(entry.get("token"), str):
            raise SignatureRefused(f"{key} must be an object {{meaning, token}}", {key: ["must be {meaning, token}"]})
        if entry.get("meaning") not in MEANINGS:
            raise SignatureRefused(f"{key}: meaning must be one of {', '.join(MEANINGS)}",
                                   {key: [f"meaning must be one of {', '.join(MEANINGS)}"]})
        try:
            claims = read_token(entry["token"])
        except ValueError as err:
            raise SignatureRefused(f"the {key} token is not valid: {err}", {key: [f"token not valid: {err}"]}) \
                from None
        out.append({"role": role, "sub": claims["sub"], "name": _printed_name(key, claims),
                    "roles": sorted(claims.get("roles") or ()), "meaning": entry["meaning"]})
        _check_fresh(key, claims, now)
    return out


# How the CLI reads signing tokens: the outermost layer (cartpath.cli) installs the API's verifier
# here, since the keys and their settings are the API's (api/auth.py); the engine imports no layer.
token_reader_factory: Callable[[], Callable[[str], Mapping[str, Any]]] | None = None


def configured_token_reader() -> Callable[[str], Mapping[str, Any]]:
    if token_reader_factory is None:
        raise SignatureRefused("signing tokens cannot be checked here: no token verifier is installed",
                               {"signature": ["no token verifier"]})
    return token_reader_factory()


def _check_fresh(key: str, claims: Mapping[str, Any], now: float) -> None:
    auth_time = claims.get("auth_time")
    if isinstance(auth_time, bool) or not isinstance(auth_time, (int, float)):
        raise SignatureRefused(f"the {key} token is no signing token: it carries no auth_time "
                               "(mint one with `cartpath token --sign`)", {key: ["no auth_time: not a signing token"]})
    age = now - auth_time
    if age > MAX_AUTH_AGE_SECONDS:
        raise SignatureRefused(f"the {key} token is stale: its signer authenticated {int(age)} s ago, more than "
                               f"{MAX_AUTH_AGE_SECONDS // 60} minutes: authenticate and sign again",
                               {key: [f"stale: authenticated {int(age)} s ago"]})
    if age < -LEEWAY_SECONDS:
        raise SignatureRefused(f"the {key} token's auth_time lies in the future", {key: ["auth_time in the future"]})


def _printed_name(key: str, claims: Mapping[str, Any]) -> str:
    name = claims.get("name")
    if name is None:
        return str(claims["sub"])  # no printed name in the token: the user id stands for it
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or text_problem(name) is not None:
        raise SignatureRefused(f"the {key} token's name must be a printed name (1-200 characters)",
                               {key: ["name must be a printed name"]})
    return name.strip()


def canonical(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def signed_content(pathway_id: uuid.UUID | str, task_id: str, task: str, data: Mapping[str, Any],
                   meaning: str) -> dict[str, Any]:
    """What a signature is a signature of: this task of this pathway, with these data, meaning this."""
    return {"pathway_id": str(pathway_id), "task_id": task_id, "task": task, "data": dict(data), "meaning": meaning}


def content_sha256(pathway_id: uuid.UUID | str, task_id: str, task: str, data: Mapping[str, Any],
                   meaning: str) -> str:
    return hashlib.sha256(canonical(signed_content(pathway_id, task_id, task, data, meaning))).hexdigest()


def required_roles(form: TaskForm | None) -> list[str]:
    """The signatures a task's completion needs, in the order they are recorded."""
    if form is None or not form.signed:
        return []
    return [SIGNER] + ([WITNESS] if form.witness else []) + ([COUNTERSIGN] if form.countersign else [])


def check(form: TaskForm | None, task: str, signers: Sequence[Mapping[str, Any]],
          actor: Mapping[str, Any]) -> None:
    """Refuse (SignatureRefused, naming why) unless ``signers`` are exactly the signatures the task needs."""
    needed = required_roles(form)
    given: dict[str, Mapping[str, Any]] = {}
    errors: dict[str, list[str]] = {}
    for party in signers:
        role = party.get("role")
        if role not in ROLES:
            raise SignatureRefused(f"a signature's role must be one of {', '.join(ROLES)}",
                                   {"signature": [f"unknown role {role!r}"]})
        if role in given:
            errors.setdefault(_field(role), []).append("given twice")
        given[role] = party
    for role in given:
        if role not in needed:
            what = "is not signed" if role == SIGNER else f"takes no {role} signature"
            errors.setdefault(_field(role), []).append(f"task {task} {what}")
    for role in needed:
        if role not in given:
            errors.setdefault(_field(role), []).append(_missing(task, role, form))
    signer = given.get(SIGNER)
    if signer is not None and signer.get("sub") != actor.get("sub"):
        errors.setdefault("signature", []).append(
            f"signed by {signer.get('sub')!r} but completed by {actor.get('sub')!r}: sign with your own token")
    for role in (WITNESS, COUNTERSIGN):
        other = given.get(role)
        if other is not None and signer is not None and other.get("sub") == signer.get("sub"):
            errors.setdefault(_field(role), []).append(f"the {role} must be another person than the signer "
                                                       f"({signer.get('sub')!r})")
    counter = given.get(COUNTERSIGN)
    if counter is not None and form is not None and form.countersign \
            and form.countersign not in (counter.get("roles") or ()):
        errors.setdefault("countersign", []).append(f"a countersignature of {task} needs the role "
                                                    f"{form.countersign!r}")
    for role, found in given.items():
        if found.get("meaning") not in MEANINGS:
            errors.setdefault(_field(role), []).append(f"meaning must be one of {', '.join(MEANINGS)}")
    if errors:
        listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(errors.items()))
        raise SignatureRefused(f"signatures of {task} refused: {listed}", errors)


def signers_for(form: TaskForm | None, signer: Mapping[str, Any], *, witness: Mapping[str, Any] | None = None,
                countersigner: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The signatures a task needs, from people already identified (``{sub, name, roles}``): for callers
    that identify their staff themselves (the demo, tests); the signer performed, the witness verified,
    the countersigner approved."""
    parties = {SIGNER: (signer, "performed"), WITNESS: (witness, "verified"), COUNTERSIGN: (countersigner, "approved")}
    out = []
    for role in required_roles(form):
        person, meaning = parties[role]
        if person is None:
            raise ValueError(f"a {role} is needed to sign this task")
        out.append({"role": role, "sub": person["sub"], "name": person.get("name") or person["sub"],
                    "roles": list(person.get("roles") or ()), "meaning": meaning})
    return out


def manifestations(pathway_id: uuid.UUID | str, task_id: str, task: str, data: Mapping[str, Any],
                   signers: Sequence[Mapping[str, Any]], at: datetime) -> list[dict[str, Any]]:
    """What the completion event records of each signature (§11.50: name, time, meaning)."""
    out = []
    for role in ROLES:
        for s in signers:
            if s["role"] != role:
                continue
            out.append({"role": role, "sub": s["sub"], "name": s.get("name") or s["sub"],
                        "roles": sorted(s.get("roles") or ()), "at": at.isoformat(), "meaning": s["meaning"],
                        "sha256": content_sha256(pathway_id, task_id, task, data, s["meaning"])})
    return out


def mismatches(pathway_id: uuid.UUID | str, task_id: str, task: str, data: Mapping[str, Any],
               recorded: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Recorded signatures whose SHA-256 is not that of the recorded content (what ``verify`` reports)."""
    return [s for s in recorded
            if s.get("sha256") != content_sha256(pathway_id, task_id, task, data, str(s.get("meaning")))]


def _field(role: str) -> str:
    return "signature" if role == SIGNER else role


def _missing(task: str, role: str, form: TaskForm | None) -> str:
    if role == SIGNER:
        return f"task {task} is signed: send signature {{meaning, token}} with the data"
    if role == WITNESS:
        return f"task {task} needs a second person's witness signature {{meaning, token}}"
    return f"task {task} needs a countersignature by {form.countersign if form else 'another role'}"
