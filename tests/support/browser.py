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
