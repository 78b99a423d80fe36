"""The web app in a real headless Chromium against a real `cartpath serve`: sign in as each role; a
pathway worked through the forms up to the order (with a refusal shown at its field), the manufacturer's
messages through the API, the pharmacist's signed product receipt in the UI; the diagram marks the
active task and badges the nodes; no page writes an error to the console. Screenshots of every page
go to test-artifacts/web/."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.browser import (
    DEV_USERS,
    chromium,
    console_errors,
    drive_to_product_receipt,
    require_browser,
    screenshot,
    write_dev_users,
)
from tests.support.server import Server, call, token, wait_for_views
from tests.support.store import T0

pytestmark = pytest.mark.slow

ORDER, COI, ORG = "ORD-WEB-1", "W123426000077", "ACME"
TODAY = T0.date().isoformat()
NOW_LOCAL = T0.strftime("%Y-%m-%dT%H:%M")  # the form's datetime-local, read as UTC
HOME = {"hematology": "#/worklist", "coordination": "#/worklist", "pharmacy": "#/worklist", "apheresis": "#/worklist",
        "cell_therapy_unit": "#/worklist", "ward": "#/worklist", "icu": "#/worklist", "admin": "#/worklist",
        "process_owner": "#/process", "auditor": "#/dashboard", "manufacturer": "#/outbox"}


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("web")
    users = write_dev_users(tmp / "dev_users.json")
    server = Server(tmp, workers=1, env={"CARTPATH_DEV_USERS": str(users)})
    server.start()
    driver = chromium(tmp / "profile")
    driver.set_window_size(1366, 768)
    try:
        yield Web(server, driver)
    finally:
        driver.quit()
        server.stop()
        server.kill()


class Web:
    def __init__(self, server: Server, driver):
        self.server, self.driver = server, driver
        self.base = f"http://127.0.0.1:{server.port}"
        self.state: dict = {}

    def wait(self, css: str, timeout: float = 30):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def wait_for(self, condition, timeout: float = 30):
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout).until(lambda d: condition())

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def heading(self) -> str:
        return self.wait("main h1").text

    def sign_in(self, sub: str) -> None:
        self.driver.get(self.base + "/")
        self.wait(f'button[data-sub="{sub}"]').click()
        self.wait("#sign-out")
        self.wait_for(lambda: not self.find_all("main > p:only-child") or self.find("main h1"))

    def sign_out(self) -> None:
        self.find("#sign-out").click()
        self.wait('button[data-sub]')

    def open_task(self, name: str) -> None:
        wait_for_views(self.server.engine)  # the worklist is a projection: it follows the harness's API writes
        self.driver.get(self.base + "/#/worklist")
        self.wait("#refresh").click()  # drawn maybe before the views had the harness's writes
        link = self.wait(f'#worklist tr[data-name="{name}"] a')
        link.click()
        self.wait("#task-form")

    def fill(self, values: dict) -> None:
        from selenium.webdriver.support.ui import Select
        for name, value in values.items():
            el = self.find(f'#task-form [name="{name}"]')
            if el.tag_name == "select":
                Select(el).select_by_value(value)
            elif el.get_attribute("type") in ("date", "datetime-local", "number"):
                # widgets whose keyboard entry depends on the locale: set the value as a user's picking does
                self.driver.execute_script("arguments[0].value = arguments[1];"
                                           "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))", el, value)
            else:
                el.clear()
                el.send_keys(value)

    def submit_and_reach_pathway(self) -> None:
        self.find("#complete").click()
        self.wait("#diagram[data-drawn='true']")

    def api(self, method: str, path: str, *roles: str, body=None, org=None, centers=("FR-01",)):
        answer = call(self.server.port, method, path, token(*roles, centers=centers, org=org), body)
        assert answer.status in (200, 201), answer
        return answer.body


def assert_no_console_errors(web: Web, *allowed: str) -> None:
    errors = console_errors(web.driver, allowed)
    assert not errors, errors


def test_sign_in_as_each_role(web: Web):
    for user in DEV_USERS:
        web.sign_in(user["sub"])
        role = user["roles"][0]
        web.wait_for(lambda role=role: web.driver.current_url.endswith(HOME[role]))
        heading = web.heading()
        assert heading, user
        assert web.find("#who").text.startswith(f"Signed in as {user['sub']}")
        screenshot(web.driver, f"home-{role}")
        assert_no_console_errors(web)
        web.sign_out()
    # no token survives a reload: it lived in the page's memory only
    web.sign_in("nurse-c")
    assert web.driver.execute_script("return window.localStorage.length + window.sessionStorage.length") == 0
    web.driver.refresh()
    web.wait('button[data-sub]')
    screenshot(web.driver, "sign-in")
    assert_no_console_errors(web)


def test_forms_up_to_the_order_with_a_refusal_at_its_field(web: Web):
    started = web.api("POST", "/pathways", "coordination", body={
        "patient_ref": "PSN-WEB1", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel"})
    web.state["pathway"] = started["id"]
    web.api("POST", "/inventory/tocilizumab/receipts", "pharmacy",
            body={"center": "FR-01", "doses": 4, "lot": "TCZ-1", "expires_on": "2030-01-01"})

    web.sign_in("dr-h")
    web.open_task("rcp_eligibility")
    screenshot(web.driver, "task-rcp_eligibility")
    web.fill({"eligible": "true", "rcp_date": TODAY})
    web.submit_and_reach_pathway()

    web.sign_in("nurse-c")
    web.wait("#worklist")
    screenshot(web.driver, "worklist-coordination")
    web.open_task("patient_consent")
    web.fill({"consent_signed": "true"})
    web.submit_and_reach_pathway()

    web.sign_in("pharm-1")
    web.open_task("place_order")
    web.fill({"order_id": ORDER, "manufacturer": ORG})  # requested_apheresis_date left out: refused at its field
    web.find("#complete").click()
    error = web.wait('[data-error-for="requested_apheresis_date"]:not(:empty)')
    assert web.find('[name="requested_apheresis_date"]').get_attribute("aria-invalid") == "true"
    assert error.text
    assert web.find("#form-problem [role=alert]").text
    screenshot(web.driver, "task-validation-error")
    assert_no_console_errors(web, " 422 ")
    pathway = web.api("GET", f"/pathways/{web.state['pathway']}", "pharmacy")
    assert [t["name"] for t in pathway["tasks"]] == ["place_order"]  # nothing recorded
    web.fill({"requested_apheresis_date": (T0.date() + timedelta(days=10)).isoformat()})
    web.submit_and_reach_pathway()
    outbox = web.api("GET", "/outbox", "manufacturer", org=ORG, centers=())
    assert [m["name"] for m in outbox["items"]] == ["order_placed"]
    assert_no_console_errors(web)
    web.sign_in("acme-portal")  # the manufacturer reads what was sent to it
    web.wait_for(lambda: web.driver.current_url.endswith("#/outbox"))
    assert ORDER in web.wait("main table tbody tr").text
    screenshot(web.driver, "outbox-manufacturer")
    assert_no_console_errors(web)


def test_the_manufacturer_answers_and_the_pharmacist_receives_the_product(web: Web):
    pathway_id = web.state["pathway"]
    # the manufacturer's messages (and the steps between them) through the API
    drive_to_product_receipt(web.server.port, pathway_id, ORDER, COI, ORG, after="place_order")

    web.sign_in("pharm-1")
    web.open_task("product_receipt")
    web.fill({"coi_scanned": COI, "temperature_ok": "true", "storage_location": "LN2-1-7", "received_at": NOW_LOCAL})
    web.find("#sig-signer-who").click()  # "I confirm my identity and sign"
    from selenium.webdriver.support.ui import Select
    Select(web.find("#sig-witness-who")).select_by_value("pharm-2")
    screenshot(web.driver, "task-product_receipt-signed")
    web.submit_and_reach_pathway()
    outbox = web.api("GET", "/outbox", "manufacturer", org=ORG, centers=())
    assert [m["name"] for m in outbox["items"]][-1] == "product_received"
    history = web.api("GET", f"/pathways/{pathway_id}/history", "pharmacy")
    [receipt] = [e for e in history["items"]
                 if e["type"] == "TaskCompleted" and e["data"].get("name") == "product_receipt"]
    assert {s["sub"] for s in receipt["data"]["signatures"]} == {"pharm-1", "pharm-2"}
    assert_no_console_errors(web)


def test_the_pathway_page_marks_the_diagram(web: Web):
    pathway_id = web.state["pathway"]
    pathway = web.api("GET", f"/pathways/{pathway_id}", "pharmacy")
    wait_for_views(web.server.engine)
    web.driver.get(f"{web.base}/#/pathway/{pathway_id}")
    web.wait("#diagram[data-drawn='true']")
    for task in pathway["tasks"]:  # the ready tasks are highlighted as active
        web.wait(f'.djs-element.cp-active[data-element-id="{task["name"]}"]')
    done = web.find_all(".djs-element.cp-done")
    assert {"rcp_eligibility", "patient_consent", "place_order", "product_receipt"} <= {
        el.get_attribute("data-element-id") for el in done}
    badged = {b.get_attribute("data-element") for b in web.find_all(".djs-overlay .badge")}
    assert badged == {el.get_attribute("data-element-id") for el in done} | {t["name"] for t in pathway["tasks"]} | {
        el.get_attribute("data-element-id") for el in web.find_all(".djs-element.cp-waiting")}
    assert "PSN-WEB1" in web.heading()
    assert web.find_all("#custody table tbody tr")
    web.driver.execute_script("window.scrollTo(0, 0)")
    screenshot(web.driver, "pathway")
    web.driver.execute_script("document.getElementById('diagram').scrollIntoView()")
    screenshot(web.driver, "pathway-diagram")
    web.find("#verify").click()
    assert "Verified" in web.wait("#verify-result .notice").text
    assert web.driver.execute_script("return document.documentElement.scrollWidth") <= 1366  # no sideways scrolling
    assert_no_console_errors(web)


def test_the_process_page_draws_the_heatmap_and_lint_problems(web: Web, tmp_path):
    wait_for_views(web.server.engine)
    web.sign_in("po-1")
    web.wait("#process-diagram[data-drawn='true']")
    pathway = web.api("GET", f"/pathways/{web.state['pathway']}", "pharmacy")
    for task in pathway["tasks"]:  # our pathway is there now: its node's badge counts it
        badge = web.wait(f'.djs-overlay .badge[data-element="{task["name"]}"]')
        assert badge.text == "1"
    assert web.find_all('.djs-element[data-element-id="rcp_eligibility"][class*="heat-"]')
    screenshot(web.driver, "process")
    assert_no_console_errors(web)

    from cartpath.engine.application import BUNDLED_PROCESSES
    paths = []
    for source in sorted(BUNDLED_PROCESSES.iterdir()):
        if source.suffix in (".bpmn", ".dmn"):
            text = source.read_text(encoding="utf-8")
            if source.suffix == ".bpmn":  # place_order taken out of its lane: lint refuses it
                text = text.replace("<bpmn:flowNodeRef>place_order</bpmn:flowNodeRef>", "")
            (tmp_path / source.name).write_text(text, encoding="utf-8")
            paths.append(str(tmp_path / source.name))
    web.find("#deploy-files").send_keys("\n".join(paths))
    web.find("#deploy-do").click()
    web.wait("#lint-diagram[data-drawn='true']")
    web.wait('.djs-element.cp-problem[data-element-id="place_order"]')
    mark = web.find('.djs-overlay .badge.problem[data-element="place_order"]')
    assert "in no lane" in mark.get_attribute("title")
    assert "in no lane" in web.find("#deploy-result [role=alert]").text
    web.driver.execute_script("document.getElementById('lint-diagram').scrollIntoView()")
    screenshot(web.driver, "process-lint-problems")
    assert_no_console_errors(web, " 422 ")


def test_the_dashboard_shows_kpis_charts_and_the_capacity_forecast(web: Web):
    wait_for_views(web.server.engine)
    web.sign_in("aud-1")
    web.wait_for(lambda: web.driver.current_url.endswith("#/dashboard"))
    assert web.wait("#kpi-pathways .value").text == "1"  # PSN-WEB1
    for chart in ("chart-v2v", "chart-v2v-groups", "chart-dropout", "chart-grades", "chart-capacity"):
        web.wait(f"#{chart}[data-drawn='true']")
    assert web.find_all("#capacity-assumptions li")
    web.driver.execute_script("window.scrollTo(0, 0)")
    screenshot(web.driver, "dashboard")
    web.driver.execute_script("document.getElementById('chart-capacity').scrollIntoView()")
    screenshot(web.driver, "dashboard-capacity")
    assert_no_console_errors(web)


def test_french_labels_keyboard_and_a_laptop_screen(web: Web):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
    web.sign_in("pharm-1")
    Select(web.find("#lang")).select_by_value("fr")
    web.wait_for(lambda: web.find("main h1").text == "Mes tâches")
    assert web.driver.execute_script("return document.documentElement.lang") == "fr"
    assert [a.text for a in web.find_all("#nav a")] == ["Tâches", "Parcours", "Tableau de bord"]
    row = web.wait('#worklist tr[data-name="tocilizumab_reservation"]')
    assert row.find_element("css selector", "td a").text == "Réservation de tocilizumab"
    screenshot(web.driver, "worklist-fr")
    # the form's labels in French too, from the model's `label-fr`
    row.find_element("css selector", "td a").click()
    label = web.wait('#task-form [data-field="doses"] label')
    assert label.text.startswith("Doses réservées pour ce patient"), label.text
    screenshot(web.driver, "task-fr")
    web.driver.get(f"{web.base}/#/worklist")
    web.wait('#worklist tr[data-name="tocilizumab_reservation"]')
    # the keyboard alone: the skip link is the first stop and shows itself; Enter lands in the content, and
    # the next Tab reaches the worklist's first filter
    first = web.driver.execute_script("return [...document.querySelectorAll('a[href], button, select, input')][0].id")
    assert first == "skip"
    web.driver.execute_script("document.getElementById('skip').focus()")
    assert web.driver.execute_script("return document.getElementById('skip').getBoundingClientRect().left") >= 0
    web.driver.switch_to.active_element.send_keys(Keys.ENTER)
    assert web.driver.switch_to.active_element.get_attribute("id") == "main"
    assert web.driver.current_url.endswith("#/worklist")
    web.driver.switch_to.active_element.send_keys(Keys.TAB)
    assert web.driver.switch_to.active_element.get_attribute("id") == "filter-lane"
    # every page fits a 1366x768 laptop screen's width (no sideways scrolling); every control is labelled
    pages = ["#/worklist", f"#/pathway/{web.state['pathway']}", "#/pathways", "#/dashboard"]
    for page in pages:
        web.driver.get(f"{web.base}/{page}")
        web.wait("main h1")
        web.wait_for(lambda: not web.find_all("main > p:only-child"))
        assert web.driver.execute_script("return document.documentElement.scrollWidth") <= 1366, page
        unlabelled = web.driver.execute_script("""
            return [...document.querySelectorAll('main input, main select, main textarea')]
              .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length)
                             && !el.getAttribute('aria-label'))
              .map((el) => el.id || el.name);""")
        assert not unlabelled, (page, unlabelled)
    Select(web.find("#lang")).select_by_value("en")
    assert_no_console_errors(web)


def test_a_coordinator_cancels_a_pathway_with_a_reason(web: Web):
    started = web.api("POST", "/pathways", "coordination", body={
        "patient_ref": "PSN-WEB2", "center": "FR-01", "indication": "MM", "product": "ide-cel"})
    wait_for_views(web.server.engine)
    web.sign_in("nurse-c")
    web.driver.get(f"{web.base}/#/pathway/{started['id']}")
    web.wait("#diagram[data-drawn='true']")
    from selenium.webdriver.support.ui import Select
    Select(web.find("#cancel-reason")).select_by_value("patient_decision")
    web.find("#cancel-comment").send_keys("moved abroad")
    web.find("#cancel-do").click()
    web.wait_for(lambda: web.driver.execute_script(  # read afresh: the page is redrawn after the cancel
        "const s = document.getElementById('pathway-status'); return s && s.textContent") == "ended")
    pathway = web.api("GET", f"/pathways/{started['id']}", "coordination")
    assert (pathway["outcome"], pathway["cancellation"]["reason"]) == ("cancelled", "patient_decision")
    assert not web.find_all("#cancel-form")  # an ended pathway offers no cancel
    history = web.api("GET", f"/pathways/{started['id']}/history", "coordination")
    [cancel] = [e for e in history["items"] if e["type"] == "Cancelled"]
    assert cancel["actor"]["sub"] == "nurse-c"
    web.driver.execute_script("window.scrollTo(0, 0)")
    screenshot(web.driver, "pathway-cancelled")
    assert_no_console_errors(web)


def test_filters_by_lane_centre_product_and_period(web: Web):
    from selenium.webdriver.support.ui import Select
    wait_for_views(web.server.engine)
    web.sign_in("admin-1")  # every lane: the worklist holds the pharmacy's task
    web.find("#refresh").click()
    web.wait('#worklist tr[data-name="tocilizumab_reservation"]')
    Select(web.find("#filter-lane")).select_by_value("hematology")
    # the page redraws the worklist (filters included) on the change: read it null-safe, once it is drawn again
    # (the count line and the table are drawn in the same step, after the answer)
    web.wait_for(lambda: web.driver.execute_script(
        "const f = document.getElementById('filter-lane');"
        "return !!f && f.value === 'hematology' && !!document.getElementById('worklist-count') && "
        "[...document.querySelectorAll('#worklist tbody tr')].every((r) => r.dataset.name !== "
        "'tocilizumab_reservation')"))
    Select(web.find("#filter-lane")).select_by_value("")

    web.driver.get(f"{web.base}/#/dashboard")
    assert web.wait("#kpi-pathways .value").text == "2"  # PSN-WEB1 and the cancelled PSN-WEB2
    web.find("#dash-product").send_keys("ide-cel")
    web.find("#dashboard-filters button[type=submit]").click()
    web.wait_for(lambda: web.driver.execute_script(
        "const v = document.querySelector('#kpi-pathways .value'); return v && v.textContent") == "1")
    # the product filter emptied, a period that ends before the pathways started: none
    web.driver.execute_script("""for (const [id, value] of [['dash-product', ''], ['dash-to', '2026-01-01']]) {
        const el = document.getElementById(id); el.value = value; el.dispatchEvent(new Event('change')); }""")
    web.find("#dashboard-filters button[type=submit]").click()
    web.wait_for(lambda: web.driver.execute_script(
        "const v = document.querySelector('#kpi-pathways .value'); return v && v.textContent") == "0")

    web.driver.get(f"{web.base}/#/process")
    web.wait("#process-diagram[data-drawn='true']")
    web.driver.execute_script("document.getElementById('process-diagram').dataset.stale = 'true'")
    web.find("#heat-center").send_keys("FR-02")
    web.find("#heat-filters button[type=submit]").click()
    web.wait("#process-diagram[data-drawn='true']:not([data-stale])")  # drawn again, for FR-02
    assert not web.find_all(".djs-overlay .badge")  # nobody at FR-02
    assert_no_console_errors(web)

def test_an_overdue_task_is_flagged_on_the_worklist(web: Web):
    # last in this file: the manual clock moves 15 days on, past rcp_eligibility's due date (P14D)
    started = web.api("POST", "/pathways", "coordination", body={
        "patient_ref": "PSN-WEB3", "center": "FR-01", "indication": "FL", "product": "axi-cel"})
    [task] = started["tasks"]
    assert task["name"] == "rcp_eligibility" and task["due_at"]
    web.api("POST", "/timers/fire", "admin", body={"now": (T0 + timedelta(days=15)).isoformat()})
    wait_for_views(web.server.engine)
    web.sign_in("dr-h")
    web.find("#refresh").click()
    row = web.wait(f'#worklist tr[data-task="{task["id"]}"].overdue-row')
    assert row.find_element("css selector", ".tag.overdue").text == "overdue"
    screenshot(web.driver, "worklist-overdue")
    assert_no_console_errors(web)
