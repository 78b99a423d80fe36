"""The web app's server side over HTTP: the page and its files, the development sign-in (off unless
CARTPATH_DEV_USERS names a file), and tokens it mints that the API accepts."""
from __future__ import annotations

import json

import jwt
import pytest

from cartpath.engine.settings import BadSetting
from tests.support.browser import DEV_USERS, write_dev_users
from tests.support.http import SECRET, assert_problem, make_http


@pytest.fixture
def dev(tmp_path):
    return make_http(tmp_path, CARTPATH_DEV_USERS=str(write_dev_users(tmp_path / "users.json")))


def test_the_page_is_served_at_the_root_with_a_csp_naming_only_this_server(dev):
    page = dev.client.get("/")
    assert page.status_code in (200, 503)  # 503: a checkout where make has not copied the libraries yet
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "http" not in csp and "frame-ancestors 'none'" in csp
    if page.status_code == 200:
        html = page.get_data(as_text=True)
        assert 'src="/app/js/main.js"' in html and "http" not in html.replace('name="viewport"', "")
    module = dev.client.get("/app/js/main.js")
    assert module.status_code == 200 and module.mimetype == "text/javascript"
    assert dev.client.get("/app/../web.py").status_code == 404
    assert dev.client.get("/app/index.html").status_code == 404


def test_dev_sign_in_is_off_unless_configured(tmp_path):
    http = make_http(tmp_path)
    assert http.client.get("/app/config.json").get_json() == {"dev_sign_in": False, "oidc": None}
    assert_problem(http.client.get("/auth/dev/users"), 404)
    assert_problem(http.client.post("/auth/dev/token", json={"sub": "dr-h"}), 404)


def test_dev_sign_in_mints_tokens_the_api_accepts(dev):
    assert dev.client.get("/app/config.json").get_json()["dev_sign_in"] is True
    users = dev.client.get("/auth/dev/users").get_json()["items"]
    assert [u["sub"] for u in users] == [u["sub"] for u in DEV_USERS]
    answer = dev.client.post("/auth/dev/token", json={"sub": "nurse-c"}).get_json()
    claims = jwt.decode(answer["token"], SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["roles"], claims["centers"]) == ("nurse-c", ["coordination"], ["FR-01"])
    assert "auth_time" not in claims
    r = dev.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {answer['token']}"})
    assert r.status_code == 200
    signing = dev.client.post("/auth/dev/token", json={"sub": "pharm-1", "signing": True}).get_json()
    signing_claims = jwt.decode(signing["token"], SECRET, algorithms=["HS256"])
    assert signing["expires_in"] == 300 and signing_claims["auth_time"] <= signing_claims["iat"]
    assert signing_claims["name"] == "Marc Petit"


def test_dev_sign_in_refuses_unknown_users_and_bad_bodies(dev):
    body = assert_problem(dev.client.post("/auth/dev/token", json={"sub": "mallory"}), 422)
    assert "mallory" in body["detail"]
    assert_problem(dev.client.post("/auth/dev/token", json=["dr-h"]), 422)
    assert_problem(dev.client.post("/auth/dev/token", data="sub=dr-h",
                                   content_type="application/x-www-form-urlencoded"), 415)


@pytest.mark.parametrize("content, says", [
    ("not json", "is not JSON"), ("[]", "non-empty JSON list"),
    (json.dumps([{"sub": "a", "name": "A", "roles": "ward", "centers": []}]), "user 1 must be"),
    (json.dumps([{"sub": "a", "name": "A", "roles": [], "centers": []}] * 2), "appears twice")])
def test_a_bad_dev_users_file_is_refused_naming_the_variable(tmp_path, content, says):
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(BadSetting, match=says) as refused:
        make_http(tmp_path, CARTPATH_DEV_USERS=str(path))
    assert "CARTPATH_DEV_USERS" in str(refused.value)


def test_oidc_settings_reach_the_page_and_its_csp(tmp_path):
    http = make_http(tmp_path, CARTPATH_OIDC_ISSUER="https://login.example.org/realms/chu/",
                     CARTPATH_OIDC_CLIENT_ID="cartpath-web")
    assert http.client.get("/app/config.json").get_json() == {"dev_sign_in": False, "oidc": {
        "issuer": "https://login.example.org/realms/chu", "client_id": "cartpath-web", "scope": "openid profile"}}
    csp = http.client.get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://login.example.org;" in csp


def test_a_server_with_dev_sign_in_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        make_http(tmp_path, CARTPATH_DEV_USERS=str(write_dev_users(tmp_path / "users.json")))
    assert any("CARTPATH_DEV_USERS is set" in r.getMessage() and "never on a server people reach" in r.getMessage()
               for r in caplog.records)
