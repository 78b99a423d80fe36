"""Issue 11, input and isolation, as a user runs cartpath: the real `cartpath serve` (gunicorn) answers
what it refuses itself as problem+json, a huge body without a token is answered before it is sent, and
the CLI creates the store private."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import Server, call, token, wait_until

pytestmark = pytest.mark.slow
CLI = str(Path(sys.executable).parent / "cartpath")
STORE_VARS = ("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_", "CREATE_TABLE")
START = {"patient_ref": "P-0001", "center": "FR-01", "indication": "DLBCL", "product": "axi-cel",
         "process_key": "mini_mfr"}


def raw(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], dict]:
    """Send ``head`` (and only ``body`` of whatever it announces); the answer's status, headers and JSON."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # the server closed with our unsent body still announced
                break
            if not chunk:
                break
            chunks.append(chunk)
            answer = b"".join(chunks)
            if b"\r\n\r\n" in answer:
                header_text, _, rest = answer.partition(b"\r\n\r\n")
                lines = header_text.decode("latin-1").split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                if len(rest) >= int(headers.get("content-length", "0")):
                    return int(lines[0].split()[1]), headers, json.loads(rest)
    raise AssertionError(f"no complete answer: {b''.join(chunks)[:300]!r}")


def assert_problem(status: int, headers: dict[str, str], body: dict, expected: int) -> None:
    assert status == expected, (status, body)
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == expected and body["type"].startswith("https://cartpath.invalid/problems/")
    assert headers["x-content-type-options"] == "nosniff" and "frame-ancestors 'none'" in \
        headers["content-security-policy"]


def test_the_server_refuses_hostile_requests_as_problems_and_goes_on(tmp_path):
    server = Server(tmp_path, workers=1).start()
    try:
        coordination = token("coordination")
        first = call(server.port, "POST", "/pathways", coordination, START)
        assert first.status == 201, first
        # an over-long URL (gunicorn: 414), one huge header and too many headers (431); the URL's text is
        # not quoted in the log
        long_url = b"GET /api/v1/pathways?patient_ref=P-SECRET-" + b"9" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        assert_problem(*raw(server.port, long_url), 414)
        huge_header = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        assert_problem(*raw(server.port, huge_header), 431)
        many = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
        assert_problem(*raw(server.port, many + b"\r\n"), 431)
        assert_problem(*raw(server.port, b"NOT HTTP AT ALL\r\n\r\n"), 400)
        # 16 MB announced without a token: answered 401 after 1 KB was sent, the rest never asked for
        sixteen = (b"POST /api/v1/pathways HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 16777216\r\n\r\n")
        assert_problem(*raw(server.port, sixteen, b"[" * 1024), 401)
        # a body nested too deep, with a valid token: 422, no stack trace
        deep = b"[" * 100_000 + b"]" * 100_000
        status, headers, body = raw(server.port, b"POST /api/v1/pathways HTTP/1.1\r\nHost: x\r\n"
                                    b"Authorization: Bearer " + coordination.encode() + b"\r\n"
                                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(deep), deep)
        assert_problem(status, headers, body, 422)
        # everything else goes on: the first pathway is there, a new one starts
        assert call(server.port, "GET", f"/pathways/{first.body['id']}", coordination).status == 200
        assert call(server.port, "POST", "/pathways", coordination, dict(START, patient_ref="P-0002")).status == 201
    finally:
        server.kill()
    log = server.log()
    assert "P-SECRET" not in log and "Traceback" not in log, log[-3000:]


def test_the_cli_creates_the_store_private(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(STORE_VARS)}
    data = tmp_path / "site" / "var"
    env |= {"CARTPATH_DATA_DIR": str(data), "CARTPATH_CLOCK": "manual"}

    def permissive() -> None:  # a umask many shells have: cartpath must not pass it on to its files
        os.umask(0o022)

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300,
                              preexec_fn=permissive)
        assert proc.returncode == 0, proc.stderr
        return proc
    run("db", "init")
    run("token", "--sub", "n", "--role", "admin")
    run("start", "--patient-ref", "PSN-0001", "--center", "FR-01", "--indication", "DLBCL", "--product", "axi-cel")
    # SQLite's -wal and -shm files exist while a process has the store open: the projection runner does
    runner = subprocess.Popen([CLI, "projections", "run"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, preexec_fn=permissive)
    try:
        wait_until(lambda: {"cartpath.sqlite3-wal", "projections.sqlite3-shm"} <= {p.name for p in data.iterdir()},
                   "the runner to open both stores", timeout=60)
        found = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [data, *data.rglob("*")]}
    finally:
        runner.terminate()
        runner.wait(timeout=60)
    assert {"var", "cartpath.sqlite3", "cartpath.sqlite3-shm", "jwt_secret", "projections.sqlite3"} <= set(found)
    loose = {name: oct(mode) for name, mode in found.items() if mode & 0o077}
    assert not loose, loose
    assert found["var"] == 0o700 and found["cartpath.sqlite3"] == 0o600
