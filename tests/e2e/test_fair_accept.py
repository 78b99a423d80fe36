"""A busy worker leaves new connections to a free one (api/server_errors.py, ProblemThreadWorker).

gunicorn's gthread worker accepted connections whenever its event loop ran, also while its only
thread was busy; a keep-alive connection stays with the worker that took it, so a client could
wait behind another client's long request while the other worker stood idle. Here one worker's
thread is held by a request whose body never comes; every new client must be answered at once by
the other worker, not queued behind it. On a real `cartpath serve` (two workers, one thread each)."""
from __future__ import annotations

import http.client
import socket

import pytest

from tests.support.server import Server, token

CLIENTS = 8  # without the fix, each would have an even chance of landing on the busy worker
ANSWER_WITHIN = 20  # seconds: a liveness bound, far above a health check; the held request waits longer


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path, workers=2).start()
    try:
        yield running
    finally:
        running.kill()


def test_a_worker_busy_with_a_slow_request_leaves_new_clients_to_the_other(server):
    # a request that holds its worker's thread: its headers announce a body that is never sent
    slow = socket.create_connection(("127.0.0.1", server.port))
    head = (f"POST /api/v1/pathways HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token('admin')}\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n")
    slow.sendall(head.encode())
    opened = []
    try:
        for _ in range(CLIENTS):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=ANSWER_WITHIN)
            opened.append(conn)
            conn.request("GET", "/api/v1/health")
            response = conn.getresponse()  # a client taken by the busy worker would time out here
            assert response.status == 200
            response.read()
        # the held request is still held: its worker was busy the whole time
        slow.settimeout(0.1)
        with pytest.raises(TimeoutError):
            slow.recv(1)
    finally:
        for conn in opened:
            conn.close()
        slow.close()
    assert server.proc.poll() is None
