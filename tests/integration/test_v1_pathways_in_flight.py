"""Pathways started on the version-1 model keep running on it after the v2 model is deployed.

``fixtures/stores/v1_in_flight_2026-12-02.sqlite3`` was written by the old main (contract
version 1, commit 2ae9f82, run from a checkout of it) with its own scenario journeys: seven pathways left open at the
stages where version 2 differs (waiting for the slot, manufacturing, product on site, a deferred
re-check, daily monitoring with ``assessed_on``, ICU, waiting for follow-up). Deploying
``processes/`` adds version 2; each old pathway goes on with version 1's tasks and forms, and
still verifies; a new pathway starts on version 2.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.errors import InvalidTaskData

STORE = Path(__file__).resolve().parent.parent / "fixtures" / "stores" / "v1_in_flight_2026-12-02.sqlite3"
CALM = {"temperature_c": 36.9, "hypotension": "none", "oxygen": "none", "ice_score": 10, "seizure": False,
        "cerebral_edema": "none"}


@pytest.fixture
def app(tmp_path) -> CartPath:
    copy = tmp_path / "cartpath.sqlite3"
    shutil.copyfile(STORE, copy)
    app = CartPath(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(copy),
                        "CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual"})
    [deployed] = app.deploy_bundled()
    assert (deployed["key"], deployed["version"], deployed["created"]) == ("cart_pathway", 2, True)
    return app


def _by_patient(app: CartPath) -> dict[str, object]:
    return {app.get_pathway(pid).patient_ref: app.get_pathway(pid) for pid in app.pathway_ids()}


def _complete(app: CartPath, pathway, name: str, data: dict) -> None:
    pathway = app.get_pathway(pathway.id)
    [task] = [t for t, r in pathway.ready.items() if r["name"] == name]
    app.complete_task(pathway.id, task, data)


def _ready(app: CartPath, pathway) -> list[str]:
    return sorted(r["name"] for r in app.get_pathway(pathway.id).ready.values())


def _tell(app: CartPath, pathway, name: str, payload: dict, n: int) -> None:
    p = app.get_pathway(pathway.id)
    coi = p.coi or f"W0000 26 {int(p.patient_ref[2:]):06d} F"  # the old journeys' COI numbering
    app.deliver_message(name, f"v1-{p.patient_ref}-{n}", {"order_id": p.correlation["order_id"], "coi": coi},
                        payload)


def test_every_v1_pathway_goes_on_on_version_1_and_verifies(app):
    pathways = _by_patient(app)
    assert len(pathways) == 7 and all(p.status == "active" for p in pathways.values())
    assert {p.definition["version"] for p in pathways.values()} == {1}
    now = app.clock.now()
    iso = now.isoformat()

    # waiting for the slot: the manufacturer confirms, apheresis opens (version 1's lanes and forms)
    slot = pathways["P-0001"]
    _tell(app, slot, "slot_confirmed", {"apheresis_date": now.date().isoformat(), "manufacturing_slot": "S-1"}, 1)
    assert _ready(app, slot) == ["apheresis"]

    # manufacturing: released, shipped, received; version 1 has no tocilizumab reservation
    mfg = pathways["P-0002"]
    _tell(app, mfg, "product_released", {"released_at": iso, "out_of_spec": False, "certificate_ref": "C-1"}, 1)
    _tell(app, mfg, "product_shipped", {"shipper_id": "S", "tracking": "T", "shipped_at": iso}, 2)
    _complete(app, mfg, "product_receipt", {"coi_scanned": app.get_pathway(mfg.id).coi, "temperature_ok": True,
                                            "storage_location": "LN2-1", "received_at": iso})
    assert _ready(app, mfg) == ["lymphodepletion_start"]

    # product on site: version 1's fixed infusion day (start + 5 days), no lymphodepletion_end
    on_site = pathways["P-0003"]
    _complete(app, on_site, "lymphodepletion_start", {"start_date": now.date().isoformat()})
    assert _ready(app, on_site) == []
    [armed] = [w for w in app.get_pathway(on_site.id).waiting.values() if w["node_id"] == "timer_infusion_day"]
    assert armed["due_at"].startswith((now.date() + timedelta(days=5)).isoformat())

    # the deferred re-check: version 1's form still requires the doses on site, and they decide there
    deferred = pathways["P-0004"]
    with pytest.raises(InvalidTaskData, match="tocilizumab_doses_on_site"):
        _complete(app, deferred, "pre_infusion_check", {"active_infection": False, "uncontrolled_arrhythmia": False,
                                                        "vasopressor_hypotension": False,
                                                        "organ_dysfunction_g3": False, "clinical_worsening": False})
    _complete(app, deferred, "pre_infusion_check", {"active_infection": False, "uncontrolled_arrhythmia": False,
                                                    "vasopressor_hypotension": False, "organ_dysfunction_g3": False,
                                                    "clinical_worsening": False, "tocilizumab_doses_on_site": 2})
    assert _ready(app, deferred) == ["thaw_product"]

    # daily monitoring: version 1's form with its assessed_on
    ward = pathways["P-0005"]
    day0 = datetime.fromisoformat(app.get_pathway(ward.id).data["infusion"]["infused_at"]).date()
    _complete(app, ward, "daily_assessment", dict(CALM, assessed_on=(day0 + timedelta(days=3)).isoformat()))
    assert _ready(app, ward) == []  # version 1 waits a day for the next one

    # ICU: discharged back to the ward's daily monitoring, no icu_assessment in version 1
    icu = pathways["P-0006"]
    _complete(app, icu, "icu_discharge", {"discharged_at": iso})
    assert _ready(app, icu) == ["daily_assessment"]

    # follow-up: the month-1 visit falls due on version 1's timers
    follow = pathways["P-0007"]
    infused_at = datetime.fromisoformat(app.get_pathway(follow.id).data["infusion"]["infused_at"])
    app.fire_due_timers(max(now, infused_at + timedelta(days=30, hours=1)))
    assert "follow_up_visit" in _ready(app, follow)
    _complete(app, follow, "follow_up_visit", {"response": "CR", "alive": True})

    for pathway in pathways.values():
        current = app.get_pathway(pathway.id)
        assert current.definition["version"] == 1
        report = app.verify(pathway.id)
        assert report["ok"], report


def test_a_new_pathway_starts_on_version_2(app):
    started = app.start_pathway("PSN-0100", "FR-01", "DLBCL", "axi-cel")
    assert started.pathway.definition["version"] == 2
    assert app.verify(started.pathway.id)["ok"]
    forms = app.model("cart_pathway", 2).forms
    assert "assessed_on" not in {f.name for f in forms["daily_assessment"].fields}
    assert "assessed_on" in {f.name for f in app.model("cart_pathway", 1).forms["daily_assessment"].fields}
