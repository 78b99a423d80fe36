"""Who is calling, and what they may do: Bearer JWTs and the access rules.

Tokens carry ``sub``, ``name``, ``roles`` (PATHWAY.md lanes plus
``process_owner``, ``auditor``, ``admin``, ``manufacturer``), ``centers`` and,
for a manufacturer, ``org``. A single site signs them with a shared secret
(HS256); production verifies an identity provider's RS256/ES256 signature with
a configured public key or JWKS.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from flask import current_app, g, request
from werkzeug.exceptions import Forbidden, Unauthorized

from cartpath.engine.errors import UnknownPathway
from cartpath.engine.settings import make_private_dir

ADMIN, AUDITOR, PROCESS_OWNER, MANUFACTURER = "admin", "auditor", "process_owner", "manufacturer"
START_ROLES = ("coordination", "hematology")
CANCEL_ROLES = START_ROLES
SECRET_FILE = "jwt_secret"
SYMMETRIC = ("HS256", "HS384", "HS512")


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]
    centers: frozenset[str]
    org: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def reads_everything(self) -> bool:
        return bool({ADMIN, AUDITOR} & self.roles)

    def has_any(self, roles: Iterable[str]) -> bool:
        return self.is_admin or bool(self.roles & set(roles))

    def actor(self) -> dict[str, Any]:
        """What the event log keeps of the caller: ids and rights, never a person's name."""
        out: dict[str, Any] = {"sub": self.sub, "roles": sorted(self.roles), "centers": sorted(self.centers)}
        if self.org:
            out["org"] = self.org
        return out


# -- keys ----------------------------------------------------------------------------------
def local_secret(data_dir: str | Path) -> str:
    """The per-data-dir HS256 secret, created once (mode 0600) so `make run` works out of the box."""
    path = Path(data_dir) / SECRET_FILE
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it to have a new secret generated") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def auth_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Verification settings from the environment (see README, "REST API")."""
    algorithm = (env.get("CARTPATH_JWT_ALGORITHM") or "HS256").upper()
    settings: dict[str, Any] = {"algorithm": algorithm, "issuer": env.get("CARTPATH_JWT_ISSUER") or None,
                                "audience": env.get("CARTPATH_JWT_AUDIENCE") or None, "jwks_url": None}
    if algorithm in SYMMETRIC:
        settings["key"] = env.get("CARTPATH_JWT_SECRET") or local_secret(env.get("CARTPATH_DATA_DIR") or "./var")
    elif env.get("CARTPATH_JWT_JWKS_URL"):
        settings["jwks_url"] = env["CARTPATH_JWT_JWKS_URL"]
    elif env.get("CARTPATH_JWT_PUBLIC_KEY"):
        settings["key"] = Path(env["CARTPATH_JWT_PUBLIC_KEY"]).read_text()
    else:
        raise ValueError(f"CARTPATH_JWT_ALGORITHM={algorithm} needs CARTPATH_JWT_PUBLIC_KEY (a PEM file) "
                         "or CARTPATH_JWT_JWKS_URL")
    return settings


def signing_key(env: Mapping[str, str]) -> tuple[str, str]:
    """(algorithm, key) for `cartpath token`: the shared secret, or a private key for asymmetric set-ups."""
    algorithm = (env.get("CARTPATH_JWT_ALGORITHM") or "HS256").upper()
    if algorithm in SYMMETRIC:
        return algorithm, env.get("CARTPATH_JWT_SECRET") or local_secret(env.get("CARTPATH_DATA_DIR") or "./var")
    if not env.get("CARTPATH_JWT_PRIVATE_KEY"):
        raise ValueError(f"with CARTPATH_JWT_ALGORITHM={algorithm} tokens come from your identity provider; "
                         "set CARTPATH_JWT_PRIVATE_KEY (a PEM file) to mint test tokens locally")
    return algorithm, Path(env["CARTPATH_JWT_PRIVATE_KEY"]).read_text()


def mint_token(key: str, algorithm: str, *, sub: str, roles: Iterable[str], centers: Iterable[str] = (),
               name: str | None = None, org: str | None = None, ttl_seconds: int = 8 * 3600,
               issuer: str | None = None, audience: str | None = None, auth_time: int | None = None) -> str:
    """A bearer token; with ``auth_time`` (when the user proved who they are) also a signing token."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "roles": sorted(set(roles)), "centers": sorted(set(centers)),
                              "iat": now, "exp": now + ttl_seconds}
    if auth_time is not None:
        claims["auth_time"] = auth_time
    if name:
        claims["name"] = name
    if org:
        claims["org"] = org
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, key, algorithm=algorithm)


LEEWAY_SECONDS = 30  # clock skew allowed between the issuer and this server
VERIFIED_TOKENS = 4096  # bearer tokens remembered once verified (a client sends the same one many times)


class TokenVerifier:
    """Checks bearer and signing tokens. A bearer token verified once is remembered, by its exact
    text, with the principal it gives, until it expires (checked again on every use): decoding and
    verifying a JWT cost ~7% of a read + completion round, for the same answer every time. A
    signing token is verified each time (its freshness, ``auth_time``, is the point of it)."""

    def __init__(self, settings: Mapping[str, Any]):
        self.algorithm = settings["algorithm"]
        self.key: Any = settings.get("key")
        self.issuer = settings.get("issuer")
        self.audience = settings.get("audience")
        self.jwks = jwt.PyJWKClient(settings["jwks_url"]) if settings.get("jwks_url") else None
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, expiry, issuer and audience are checked (jwt.PyJWTError,
        or ValueError for malformed claims, otherwise)."""
        key = self.jwks.get_signing_key_from_jwt(token).key if self.jwks else self.key
        claims = jwt.decode(token, key, algorithms=[self.algorithm], issuer=self.issuer, audience=self.audience,
                            options={"require": ["exp", "sub"]}, leeway=LEEWAY_SECONDS)
        roles, centers, org = claims.get("roles", []), claims.get("centers", []), claims.get("org")
        if not _strings(roles) or not _strings(centers) or not isinstance(claims["sub"], str) \
                or (org is not None and not isinstance(org, str)):
            raise ValueError("the token's claims are malformed: roles and centers must be lists of strings")
        return claims

    def signing_claims(self, token: str) -> dict[str, Any]:
        """A signing token's claims (engine/signatures.py checks its freshness); ValueError saying why not."""
        try:
            return self.claims(token)
        except jwt.ExpiredSignatureError:
            raise ValueError("it has expired") from None
        except jwt.PyJWTError as err:
            raise ValueError(str(err)) from None

    def principal(self, token: str) -> Principal:
        with self._lock:
            known = self._verified.get(token)
        if known is not None:
            principal, expires = known
            if time.time() < expires:
                return principal
            with self._lock:
                self._verified.pop(token, None)  # expired since: verified again, which says so
        principal, expires = self._verify(token)
        with self._lock:
            self._verified[token] = (principal, expires)
            while len(self._verified) > VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = self.claims(token)
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the bearer token has expired") from None
        except jwt.PyJWTError as err:
            raise Unauthorized(f"the bearer token is not valid: {err}") from None
        except ValueError:
            raise Unauthorized("the bearer token's claims are malformed: roles and centers must be lists of strings") \
                from None
        roles, centers, org = claims.get("roles", []), claims.get("centers", []), claims.get("org")
        principal = Principal(sub=claims["sub"], roles=frozenset(roles), centers=frozenset(centers), org=org or None)
        return principal, float(claims["exp"]) + LEEWAY_SECONDS  # what jwt.decode accepts until


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# -- the request's caller and the rules ---------------------------------------------------------
def current_principal() -> Principal:
    found = g.get("principal")
    if found is None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send a bearer token: Authorization: Bearer <JWT>")
        found = g.principal = current_app.extensions["cartpath_tokens"].principal(token.strip())
    return found


def staff_lanes() -> frozenset[str]:
    """The hospital's own lanes (every configured lane but the manufacturer)."""
    return frozenset(current_app.extensions["cartpath"].lanes) - {MANUFACTURER}


def require(*roles: str) -> Principal:
    """The caller, if it holds one of ``roles`` (admin always does); 403 otherwise."""
    principal = current_principal()
    if not principal.has_any(roles):
        raise Forbidden(f"this needs one of the roles: {', '.join(sorted(set(roles) | {ADMIN}))}")
    return principal


def require_reader() -> Principal:
    """Readers of pathways: hospital staff (their centres), auditors and admins (all)."""
    return require(AUDITOR, *staff_lanes())


def sees_center(principal: Principal, center: str) -> bool:
    return principal.reads_everything or center in principal.centers


def check_center(principal: Principal, center: str) -> None:
    """For commands naming a centre: the caller must work there."""
    if not principal.is_admin and center not in principal.centers:
        raise Forbidden(f"you are not authorised for centre {center!r}")


def visible(principal: Principal, pathway) -> None:
    """Pathways of other centres do not exist for the caller (404, not 403: no probing of ids)."""
    if not sees_center(principal, pathway.center):
        raise UnknownPathway(f"pathway {pathway.id} does not exist")
