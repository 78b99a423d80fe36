"""Shared set-up of the HTTP tests: a real store, the Flask app, tokens for any role.

The mini process of tests/fixtures names no manufacturer in its order, so the
HTTP tests deploy a variant, ``mini_mfr``, whose intake also records the
manufacturer's org id (as place_order does in PATHWAY.md) and sends it with
``order_placed``: that is what manufacturer tokens are checked against.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from cartpath.api import create_app
from cartpath.api.auth import mint_token
from cartpath.engine.application import CartPath
from tests.support.store import FIXTURES, store_env

SECRET = "test-secret-" + "x" * 40
MINI = (FIXTURES / "mini_pathway.bpmn").read_bytes()
MINI_MFR = (MINI.replace(b"mini_pathway", b"mini_mfr")
            .replace(b'<cartpath:field name="note"',
                     b'<cartpath:field name="manufacturer" type="string" required="true" label="Manufacturer"/>'
                     b'<cartpath:field name="note"')
            .replace(b'"patient_ref": patient_ref}',
                     b'"patient_ref": patient_ref, "manufacturer": intake["manufacturer"]}'))
assert MINI_MFR.count(b"manufacturer") == 3  # the field, and the payload entry
PROBLEM = "application/problem+json"


@dataclass
class Http:
    """The test client plus the engine behind it (to check what was, or was not, recorded)."""

    client: Any
    engine: CartPath

    def headers(self, *roles: str, centers=("FR-01",), org: str | None = None, sub: str | None = None) -> dict:
        token = mint_token(SECRET, "HS256", sub=sub or "-".join(roles) or "nobody", roles=roles, centers=centers,
                           org=org)
        return {"Authorization": f"Bearer {token}"}

    def signing_token(self, sub: str, *roles: str, centers=("FR-01",), name: str | None = None,
                      authenticated_ago: int = 0) -> str:
        """A signing token: ``auth_time`` ``authenticated_ago`` seconds ago (5 minutes at most is fresh)."""
        return mint_token(SECRET, "HS256", sub=sub, roles=roles, centers=centers, name=name or f"Staff {sub}",
                          auth_time=int(time.time()) - authenticated_ago)

    def sign(self, task: dict, sub: str, centers=("FR-01",)) -> dict:
        """The signatures a ready task (as the API lists it) asks for, beside ``data`` in a completion:
        the caller's own (``sub``), a witness of the same lane, a pharmacist's countersignature."""
        lane = task["lane"]
        body = {}
        for role in task.get("signatures_required") or ():
            if role == "signer":
                body["signature"] = {"meaning": "performed", "token": self.signing_token(sub, lane, centers=centers)}
            elif role == "witness":
                body["witness"] = {"meaning": "verified",
                                   "token": self.signing_token(f"{sub}-witness", lane, centers=centers)}
            else:
                body["countersign"] = {"meaning": "approved", "token": self.signing_token(
                    "pharmacist-countersign", task.get("countersign_role") or "pharmacy", centers=centers)}
        return body

    def call(self, method: str, path: str, as_: dict | None = None, **kw):
        headers = {**(as_ or {}), **kw.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kw)

    def position(self) -> int:
        return self.engine.recorder.max_notification_id() or 0

    # -- the mini pathway, step by step ------------------------------------------------------------
    def start(self, patient_ref: str = "P-0001", center: str = "FR-01", **extra) -> dict:
        body = {"patient_ref": patient_ref, "center": center, "indication": "DLBCL", "product": "axi-cel",
                "process_key": "mini_mfr", **extra}
        r = self.call("POST", "/pathways", self.headers("coordination", centers=(center,)), json=body)
        assert r.status_code in (200, 201), r.get_json()
        return r.get_json()

    def task(self, pathway: dict, name: str) -> dict:
        [task] = [t for t in pathway["tasks"] if t["name"] == name]
        return task

    def intake(self, pathway: dict, order_id: str = "ORD-1", manufacturer: str = "ACME") -> dict:
        task = self.task(pathway, "intake")
        r = self.call("POST", f"/tasks/{task['id']}/complete",
                      self.headers("coordination", centers=(pathway["center"],)),
                      json={"data": {"ok": True, "order_id": order_id, "manufacturer": manufacturer}})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def slot(self, order_id: str = "ORD-1", coi: str = "COI-1", org: str = "ACME", message_id: str | None = None):
        body = {"name": "slot_confirmed", "message_id": message_id or f"m-{uuid.uuid4()}",
                "correlation": {"order_id": order_id, "coi": coi},
                "payload": {"apheresis_date": "2026-02-01", "manufacturing_slot": "S1"}}
        return self.call("POST", "/messages", self.headers("manufacturer", centers=(), org=org), json=body)

    def fire(self, now: str = "2026-01-07T08:00:00+00:00"):
        return self.call("POST", "/timers/fire", self.headers("admin", centers=()), json={"now": now})

    def pathway(self, pathway_id: str) -> dict:
        return self.call("GET", f"/pathways/{pathway_id}", self.headers("auditor", centers=())).get_json()

    def to_check(self, patient_ref: str = "P-0001", order_id: str = "ORD-1", coi: str = "COI-1",
                 center: str = "FR-01", org: str = "ACME") -> dict:
        """A pathway whose pharmacy `check` task is ready."""
        p = self.intake(self.start(patient_ref, center), order_id, org)
        assert self.slot(order_id, coi, org).status_code == 200
        assert self.fire().status_code == 200
        return self.pathway(p["id"])


def make_http(tmp_path, env: dict[str, str] | None = None, **config) -> Http:
    """An app on a fresh store (``env`` adjusts the store's environment, ``config`` the app's)."""
    engine = CartPath(env=store_env(tmp_path) | (env or {}))
    engine.deploy({"mini_mfr.bpmn": MINI_MFR})
    app = create_app({"DEPLOY_BUNDLED": False, "CARTPATH_JWT_SECRET": SECRET, **config}, cartpath=engine)
    return Http(app.test_client(), engine)


@pytest.fixture
def http(tmp_path) -> Http:
    return make_http(tmp_path)


def assert_problem(r, status: int, *, type_part: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.mimetype == PROBLEM
    body = r.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    if type_part:
        assert type_part in body["type"], body
    return body


def catch_up(http: Http) -> None:
    """Bring every projection of the app behind ``http`` up to the store's head, as the runner would."""
    from cartpath.projections.runner import Runner
    runner = Runner(http.engine)
    runner.prepare()
    runner.catch_up()
