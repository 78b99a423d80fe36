"""`cartpath token`, `cartpath scheduler` and `cartpath serve` as an operator runs them."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

from cartpath.api import create_app
from cartpath.cli import main
from cartpath.engine.application import CartPath
from tests.support.http import MINI_MFR, make_http
from tests.support.server import children as child_pids
from tests.support.server import free_port as _free_port
from tests.support.store import FIXTURES, store_env

ROOT = Path(__file__).resolve().parent.parent.parent


def run_cli(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_token_uses_a_generated_per_data_dir_secret(tmp_path):
    env = {"CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_JWT_SECRET": ""}
    result = run_cli(["token", "--sub", "alice", "--role", "pharmacy", "--role", "ward",
                      "--center", "FR-01", "--center", "FR-02", "--name", "Alice"], env)
    assert result.exit_code == 0, result.output
    secret_file = tmp_path / "jwt_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    claims = jwt.decode(result.output.strip(), secret_file.read_text().strip(), algorithms=["HS256"])
    assert (claims["sub"], claims["roles"], claims["centers"]) == ("alice", ["pharmacy", "ward"], ["FR-01", "FR-02"])
    assert claims["exp"] > time.time() + 3600 and "org" not in claims
    again = run_cli(["token", "--sub", "bob", "--role", "manufacturer", "--org", "ACME"], env)
    assert jwt.decode(again.output.strip(), secret_file.read_text().strip(), algorithms=["HS256"])["org"] == "ACME"


def test_the_server_accepts_what_the_cli_mints(tmp_path):
    env = store_env(tmp_path) | {"CARTPATH_JWT_SECRET": ""}
    token = run_cli(["token", "--sub", "nurse", "--role", "coordination", "--center", "FR-01"], env).output.strip()
    engine = CartPath(env=env)
    engine.deploy({"mini_mfr.bpmn": MINI_MFR})
    client = create_app({"DEPLOY_BUNDLED": False, "CARTPATH_JWT_SECRET": ""}, cartpath=engine).test_client()
    r = client.get("/api/v1/pathways", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


def test_token_refusals_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["token", "--sub", "x", "--role", "manufacturer"],
                                env={"CARTPATH_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 1 and "--org" in result.output and result.output.count("\n") == 1
    result = CliRunner().invoke(main, ["token", "--sub", "x", "--role", "admin"],
                                env={"CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_JWT_ALGORITHM": "RS256"})
    assert result.exit_code == 1 and "identity provider" in result.output


def test_rs256_with_a_configured_public_key(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "idp.pem"
    public = tmp_path / "idp.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    settings = {"CARTPATH_JWT_ALGORITHM": "RS256", "CARTPATH_JWT_PUBLIC_KEY": str(public),
                "CARTPATH_JWT_AUDIENCE": "cartpath", "CARTPATH_JWT_ISSUER": "https://idp.example"}
    minted = run_cli(["token", "--sub", "auditor-1", "--role", "auditor"],
                     settings | {"CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_JWT_PRIVATE_KEY": str(private)})
    assert minted.exit_code == 0, minted.output
    engine = CartPath(env=store_env(tmp_path))
    client = create_app({"DEPLOY_BUNDLED": False, **settings}, cartpath=engine).test_client()
    ok = client.get("/api/v1/events", headers={"Authorization": f"Bearer {minted.output.strip()}"})
    assert ok.status_code == 200
    forged = jwt.encode({"sub": "x", "roles": ["admin"], "exp": int(time.time()) + 60, "aud": "cartpath",
                         "iss": "https://idp.example"}, "s" * 40, algorithm="HS256")
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    wrong_audience = jwt.encode({"sub": "x", "roles": ["admin"], "exp": int(time.time()) + 60, "aud": "other",
                                 "iss": "https://idp.example"}, private.read_text(), algorithm="RS256")
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {wrong_audience}"}).status_code == 401


# -- processes ----------------------------------------------------------------------------------------------
def _cartpath(*args: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "cartpath"), *args]


def _sqlite_env(tmp_path) -> dict[str, str]:
    """The server's environment: the default store (SQLite in the data dir), a manual clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERSISTENCE_", "SQLITE_", "POSTGRES_"))}
    return env | {"CARTPATH_DATA_DIR": str(tmp_path), "CARTPATH_CLOCK": "manual", "CARTPATH_JWT_SECRET": ""}


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _wait_for_children(server: subprocess.Popen) -> list[int]:
    """serve's children, once gunicorn and the scheduler have been exec'ed (a fresh fork still shows serve)."""
    for _ in range(200):
        children = child_pids(server.pid)
        commands = [_cmdline(pid) for pid in children]
        if any(b"gunicorn" in c for c in commands) and any(b"scheduler" in c for c in commands):
            return children
        time.sleep(0.05)
    raise AssertionError("serve did not start gunicorn and the scheduler")


def _kill(server: subprocess.Popen) -> None:
    """Clean up after a failed test: the supervisor, then whatever it started."""
    children = child_pids(server.pid) if server.poll() is None else []
    if server.poll() is None:
        server.kill()
        server.wait()
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _get(url: str, token: str | None = None, body: dict | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_serve_runs_gunicorn_and_the_scheduler_and_stops_them_together(tmp_path):
    env = _sqlite_env(tmp_path) | {"CARTPATH_TICK_SECONDS": "0.2"}
    subprocess.run(_cartpath("deploy", str(FIXTURES / "mini_pathway.bpmn")), env=env, check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(_cartpath("serve", "--port", str(port), "--workers", "2"), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(150):
            try:
                if _get(f"{base}/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not come up")
        token = subprocess.run(_cartpath("token", "--sub", "n", "--role", "coordination", "--center", "FR-01"),
                               env=env, check=True, capture_output=True, text=True).stdout.strip()
        status, body = _get(f"{base}/pathways", token, {"patient_ref": "P-1", "center": "FR-01",
                                                        "indication": "DLBCL", "product": "axi-cel",
                                                        "process_key": "mini_pathway"})
        assert status == 201 and body["tasks"][0]["name"] == "intake", body
        children = child_pids(server.pid)
        assert len(children) >= 2  # gunicorn master and the scheduler (and the projection runner, if any)
        assert (tmp_path / "cartpath.sqlite3-writer").exists()  # the workers' saves took turns through it
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not any(_alive(pid) for pid in children)
    finally:
        _kill(server)


@pytest.mark.slow
def test_serve_exits_when_a_child_dies(tmp_path):
    env = _sqlite_env(tmp_path)
    server = subprocess.Popen(_cartpath("serve", "--port", str(_free_port()), "--workers", "1"), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        children = _wait_for_children(server)
        scheduler = [pid for pid in children if b"scheduler" in _cmdline(pid)]
        assert len(scheduler) == 1
        os.kill(scheduler[0], signal.SIGKILL)
        assert server.wait(timeout=30) != 0
        time.sleep(0.2)
        assert not any(_alive(pid) for pid in children)
    finally:
        _kill(server)


@pytest.mark.slow
def test_children_stop_when_serve_is_killed_outright(tmp_path):
    server = subprocess.Popen(_cartpath("serve", "--port", str(_free_port()), "--workers", "1"),
                              env=_sqlite_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        children = _wait_for_children(server)
        server.kill()  # SIGKILL: nothing can be forwarded
        server.wait()
        for _ in range(100):
            if not any(_alive(pid) for pid in children):
                break
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in children)
    finally:
        _kill(server)


def _read_until(stream, text: str) -> str:
    """Lines of a child's stderr up to the one that contains TEXT (or its end)."""
    said = ""
    while text not in said:
        line = stream.readline()
        if not line:
            break
        said += line
    return said


@pytest.mark.slow
def test_scheduler_fires_due_timers_on_the_system_clock(tmp_path):
    manual = store_env(tmp_path) | {"CARTPATH_CLOCK_START": "2020-01-06T08:00:00+00:00"}
    http = make_http(tmp_path, env=manual)
    p = http.intake(http.start("P-1"), "ORD-1")
    assert http.slot("ORD-1", "COI-1").status_code == 200  # its one-day timer was due in 2020
    env = {**os.environ, **manual, "CARTPATH_CLOCK": "manual"}
    quiet = subprocess.Popen(_cartpath("scheduler", "--tick", "0.1"), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # SIGTERM only once it has said what it does: before its handler is installed (a slow start on a
    # loaded machine) the signal would kill it, which is not what this test is about.
    said = quiet.stderr.readline()
    time.sleep(0.5)
    quiet.send_signal(signal.SIGTERM)
    assert quiet.wait(timeout=10) == 0 and "manual clock" in said + quiet.stderr.read()
    assert not CartPath(env=manual).get_pathway(p["id"]).ready   # a manual clock moves only on request
    live = subprocess.Popen(_cartpath("scheduler", "--tick", "0.1"), env={**env, "CARTPATH_CLOCK": "system"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    standby = None
    try:
        # The second scheduler starts once the first holds the role: the manual-clock scheduler's
        # database session may release the role a moment after that process has exited.
        live_said = _read_until(live.stderr, "firing due timers")
        standby = subprocess.Popen(_cartpath("scheduler", "--tick", "0.1"), env={**env, "CARTPATH_CLOCK": "system"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(100):
            if CartPath(env=manual).get_pathway(p["id"]).ready:
                break
            time.sleep(0.1)
        standby_said = _read_until(standby.stderr, "standby")  # it has started, and only waits
        time.sleep(1.0)
    finally:
        for proc in (live, standby):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=10) == 0
    [task] = CartPath(env=manual).get_pathway(p["id"]).ready.values()
    assert task["name"] == "check" and "fired 1 timer" in live_said + live.stderr.read()
    waited = standby_said + standby.stderr.read()  # one scheduler per store: the second one only waits
    assert "standby" in waited and "timer-scheduler" in waited and "fired" not in waited
