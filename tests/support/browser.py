"""The web app's end-to-end harness: a real `cartpath serve` (tests/support/server.py) with development
users, and a real headless Chromium from Debian's packages driven by Selenium through Debian's
chromedriver (no browser or driver is ever downloaded). A machine without them fails the tests, saying
what to install: `.ci/run` installs both."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.store import ROOT

CHROMIUM = os.environ.get("CARTPATH_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CARTPATH_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = ROOT / "test-artifacts" / "web"
VENDOR = ROOT / "api" / "web_app" / "vendor"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1366,768", "--lang=en-GB")

DEV_USERS = [
    {"sub": "dr-h", "name": "Claire Martin", "roles": ["hematology"], "centers": ["FR-01"]},
    {"sub": "nurse-c", "name": "Sophie Bernard", "roles": ["coordination"], "centers": ["FR-01"]},
    {"sub": "pharm-1", "name": "Marc Petit", "roles": ["pharmacy"], "centers": ["FR-01"]},
    {"sub": "pharm-2", "name": "Julie Moreau", "roles": ["pharmacy"], "centers": ["FR-01"]},
    {"sub": "aph-1", "name": "Paul Leroy", "roles": ["apheresis"], "centers": ["FR-01"]},
    {"sub": "ctu-1", "name": "Anne Roux", "roles": ["cell_therapy_unit"], "centers": ["FR-01"]},
    {"sub": "ward-1", "name": "Lucas Simon", "roles": ["ward"], "centers": ["FR-01"]},
    {"sub": "icu-1", "name": "Emma Girard", "roles": ["icu"], "centers": ["FR-01"]},
    {"sub": "po-1", "name": "Hugo Fournier", "roles": ["process_owner"], "centers": []},
    {"sub": "aud-1", "name": "Léa Fontaine", "roles": ["auditor"], "centers": []},
    {"sub": "admin-1", "name": "Admin One", "roles": ["admin"], "centers": ["FR-01"]},
    {"sub": "acme-portal", "name": "ACME portal", "roles": ["manufacturer"], "centers": [], "org": "ACME"},
]


def write_dev_users(path: Path) -> Path:
    path.write_text(json.dumps(DEV_USERS), encoding="utf-8")
    return path


def require_browser() -> None:
    """Fail (never skip) when the browser, its driver, Selenium or the web app's libraries are missing."""
    missing = [f"{what} ({path})" for what, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER))
               if not (Path(path).is_file() or shutil.which(path))]
    if missing:
        pytest.fail(f"the web tests need {' and '.join(missing)}: apt-get install chromium chromium-driver "
                    "(.ci/run does), or set CARTPATH_TEST_CHROMIUM / CARTPATH_TEST_CHROMEDRIVER")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("the web tests need selenium: pip install -e '.[test]' (make does)")
    if not (VENDOR / "bpmn-navigated-viewer.production.min.js").is_file():
        pytest.fail("the web app's libraries are not installed in api/web_app/vendor: make .venv/web/.installed-stamp")


def chromium(profile: Path) -> Any:
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver: Any, allowed: tuple[str, ...] = ()) -> list[dict]:
    """The browser console's errors since the last call (the log is drained), but those quoting one of
    ``allowed`` (e.g. the network line of a 422 a test provokes on purpose)."""
    return [entry for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and not any(a in entry["message"] for a in allowed)]


def to_product_receipt(port: int, patient_ref: str, order: str, coi: str, org: str = "ACME") -> str:
    """Over the API: a cart_pathway from its start to product_receipt ready; the pathway id."""
    from tests.support.server import call, token
    answer = call(port, "POST", "/pathways", token("coordination"), {
        "patient_ref": patient_ref, "center": "FR-01", "indication": "DLBCL", "product": "axi-cel"})
    assert answer.status == 201, answer
    drive_to_product_receipt(port, answer.body["id"], order, coi, org)
    return answer.body["id"]


def drive_to_product_receipt(port: int, pathway_id: str, order: str, coi: str, org: str = "ACME",
                             after: str | None = None) -> None:
    """Over the API, on the manual clock at T0: the steps up to product_receipt ready (after the step named
    ``after``, when the pages did the first ones), the manufacturer answering every wait with its messages."""
    from tests.support.server import call, token
    from tests.support.store import T0
    today, now = T0.date().isoformat(), T0.isoformat()

    def send(method: str, path: str, roles: tuple[str, ...], body: dict | None, **kw) -> dict:
        answer = call(port, method, path, token(*roles, **kw), body)
        assert answer.status in (200, 201), answer
        return answer.body

    steps = [("rcp_eligibility", "hematology", {"eligible": True, "rcp_date": today}),
             ("patient_consent", "coordination", {"consent_signed": True}),
             ("place_order", "pharmacy", {"order_id": order, "manufacturer": org, "requested_apheresis_date": today}),
             ("slot_confirmed", None, {"apheresis_date": today, "manufacturing_slot": "S-1"}),
             ("apheresis", "apheresis", {"collection_date": today, "coi_scanned": coi, "cd3_cells_e9": 3.1,
                                         "adequate": True}),
             ("ship_apheresis", "cell_therapy_unit", {"courier": "cryo", "shipper_id": "SHP-1", "pickup_at": now}),
             ("bridging_decision", "hematology", {"bridging": False}),
             ("product_released", None, {"released_at": now, "out_of_spec": False, "certificate_ref": "CoA-1"}),
             ("product_shipped", None, {"shipper_id": "SHP-2", "tracking": "TRK-1", "shipped_at": now})]
    if after is not None:
        steps = steps[[name for name, _, _ in steps].index(after) + 1:]
    for name, lane, data in steps:
        if lane is None:
            body = send("POST", "/messages", ("manufacturer",), {
                "name": name, "message_id": f"{order}-{name}", "correlation": {"order_id": order, "coi": coi},
                "payload": data}, centers=(), org=org)
            assert body["accepted"], body
            continue
        pathway = send("GET", f"/pathways/{pathway_id}", (lane,), None)
        [task] = [t for t in pathway["tasks"] if t["name"] == name]
        send("POST", f"/tasks/{task['id']}/complete", (lane,), {"data": data})
