"""Production sign-in: OpenID Connect, authorization code with PKCE, against a small issuer run by the
test (discovery, authorize, token; it mints the token with the server's key, as a real provider's keys
would be configured with CARTPATH_JWT_*). The page must end up signed in, with the token in memory only."""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from cartpath.api.auth import mint_token
from tests.support.browser import chromium, console_errors, require_browser, screenshot, to_product_receipt
from tests.support.server import SECRET, Server

pytestmark = pytest.mark.slow


class Issuer:
    """Just enough of an OIDC provider for a public client using PKCE (S256)."""

    def __init__(self, users: list[tuple[str, str, str]]):
        """``users``: (sub, role, name) of whoever signs in at each authorization, in turn."""
        self.users = list(users)
        self.codes: dict[str, tuple[str, tuple[str, str, str], bool]] = {}
        self.exchanged: list[dict] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def answer(self, status: int, body: dict | None = None, location: str | None = None):
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                if location:
                    self.send_header("Location", location)
                data = json.dumps(body or {}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self.answer(200, {"issuer": issuer.url, "authorization_endpoint": f"{issuer.url}/authorize",
                                             "token_endpoint": f"{issuer.url}/token"})
                if url.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    assert q["response_type"] == "code" and q["code_challenge_method"] == "S256"
                    code = uuid.uuid4().hex
                    # prompt=login, max_age=0: the person proved who they are just now (a signature)
                    fresh = q.get("prompt") == "login" and q.get("max_age") == "0"
                    issuer.codes[code] = (q["code_challenge"], issuer.users.pop(0), fresh)
                    target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
                    return self.answer(302, location=target)
                return self.answer(404)

            def do_POST(self):
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                        .items()}
                challenge, (sub, role, name), fresh = issuer.codes.pop(form.get("code", ""), ("", ("", "", ""), False))
                verifier = form.get("code_verifier", "").encode()
                computed = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
                if not challenge or computed != challenge:
                    return self.answer(400, {"error": "invalid_grant"})
                issuer.exchanged.append(form)
                token = mint_token(SECRET, "HS256", sub=sub, roles=[role], centers=["FR-01"], name=name,
                                   auth_time=int(time.time()) if fresh else None)
                return self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_sign_in_with_the_configured_issuer_and_sign_by_signing_in_again(tmp_path):
    require_browser()
    issuer = Issuer([("oidc-pharm", "pharmacy", "Inès Garnier"), ("oidc-pharm", "pharmacy", "Inès Garnier"),
                     ("oidc-witness", "pharmacy", "Noah Lambert")])
    server = Server(tmp_path, workers=1, env={"CARTPATH_OIDC_ISSUER": issuer.url,
                                              "CARTPATH_OIDC_CLIENT_ID": "cartpath-web"})
    server.start()
    driver = chromium(tmp_path / "profile")
    try:
        base = f"http://127.0.0.1:{server.port}/"
        driver.get(base)
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait
        wait = WebDriverWait(driver, 30)
        assert not driver.find_elements(By.CSS_SELECTOR, "button[data-sub]")  # no development picker
        wait.until(ec.element_to_be_clickable((By.ID, "oidc"))).click()
        pathway_id = to_product_receipt(server.port, "PSN-OIDC1", "ORD-OIDC-1", "W123426000099")
        wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "Signed in as oidc-pharm"))
        wait.until(lambda d: d.current_url == base + "#/worklist")
        wait.until(ec.presence_of_element_located((By.ID, "worklist-count")))
        [form] = issuer.exchanged
        assert form["client_id"] == "cartpath-web" and form["redirect_uri"] == base
        assert driver.execute_script("return window.localStorage.length + window.sessionStorage.length") == 0
        screenshot(driver, "oidc-signed-in")
        assert not console_errors(driver)

        from tests.support.server import wait_for_views
        wait_for_views(server.engine)
        driver.find_element(By.ID, "refresh").click()
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, '#worklist tr[data-name="product_receipt"] a'))).click()
        wait.until(ec.presence_of_element_located((By.ID, "task-form")))
        for name, value in (("coi_scanned", "W123426000099"), ("storage_location", "LN2-2-1")):
            driver.find_element(By.NAME, name).send_keys(value)
        from selenium.webdriver.support.ui import Select
        Select(driver.find_element(By.NAME, "temperature_ok")).select_by_value("true")
        driver.execute_script("document.querySelector('[name=received_at]').value = '2026-01-05T08:00'")
        main = driver.current_window_handle
        for role, who in (("signer", "Inès Garnier"), ("witness", "Noah Lambert")):  # each in a popup at the issuer
            driver.find_element(By.ID, f"sig-{role}-who").click()
            wait.until(ec.text_to_be_present_in_element((By.ID, f"sig-{role}-who-status"), who))
            assert driver.current_window_handle == main
        screenshot(driver, "oidc-signed-task")
        driver.find_element(By.ID, "complete").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#diagram[data-drawn='true']")))
        from tests.support.server import call, token
        history = call(server.port, "GET", f"/pathways/{pathway_id}/history", token("pharmacy")).body["items"]
        [receipt] = [e for e in history if e["type"] == "TaskCompleted" and e["data"]["name"] == "product_receipt"]
        assert [(s["role"], s["sub"], s["name"]) for s in receipt["data"]["signatures"]] == [
            ("signer", "oidc-pharm", "Inès Garnier"), ("witness", "oidc-witness", "Noah Lambert")]
        assert receipt["actor"]["sub"] == "oidc-pharm"
        assert not console_errors(driver)
    finally:
        driver.quit()
        server.stop()
        server.kill()
        issuer.httpd.shutdown()
