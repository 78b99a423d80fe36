"""Singleton roles (engine.locks): one projection runner, one timer scheduler per store.

On PostgreSQL an advisory lock on its own connection, on SQLite an flock next to the
database file; the same behaviour is asserted on both.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from cartpath.engine.application import CartPath
from cartpath.engine.locks import RoleTaken, singleton
from tests.support.store import store_env


def test_a_second_holder_is_refused_while_the_first_runs(env):
    with singleton(env, "timer-scheduler") as role:
        assert role.held()
        with pytest.raises(RoleTaken) as refused:
            with singleton(env, "timer-scheduler"):
                pass
        # the refusal says who holds the role, so an operator can find it
        assert f"pid {os.getpid()}" in refused.value.detail
        assert "timer-scheduler" in refused.value.detail
    assert not role.held()
    with singleton(env, "timer-scheduler") as again:  # released at the end of the with
        assert again.held()


def test_an_application_and_its_environment_name_the_same_store(env):
    app = CartPath(env=env)
    with singleton(app, "projections"):
        with pytest.raises(RoleTaken):
            with singleton(dict(env), "projections"):
                pass


def test_other_roles_and_other_stores_do_not_contend(env, tmp_path):
    other_store = store_env(tmp_path / "other")
    with singleton(env, "projections"), singleton(env, "timer-scheduler"), singleton(other_store, "projections"):
        pass


def test_a_standby_waits_until_the_holder_stops(env):
    first = singleton(env, "projections")
    first.__enter__()
    released = threading.Event()

    def stop_soon():
        time.sleep(0.3)
        released.set()
        first.__exit__(None, None, None)

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    with singleton(env, "projections", wait=True, poll=0.05) as role:
        assert released.is_set() and role.held()
    stopper.join()


def test_a_standby_with_a_timeout_gives_up_with_a_refusal(env):
    with singleton(env, "projections"):
        with pytest.raises(RoleTaken):
            with singleton(env, "projections", wait=True, timeout=0.2, poll=0.05):
                pass


def test_a_holder_killed_outright_frees_the_role(env):
    """kill -9 runs no cleanup: the server (PostgreSQL) or the kernel (flock) must release it."""
    script = textwrap.dedent("""
        import json, sys, time
        from cartpath.engine.locks import singleton
        with singleton(json.loads(sys.argv[1]), "timer-scheduler"):
            print("held", flush=True)
            time.sleep(600)
    """)
    import json
    holder = subprocess.Popen([sys.executable, "-c", script, json.dumps(env)], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RoleTaken) as refused:
            with singleton(env, "timer-scheduler"):
                pass
        assert f"pid {holder.pid}" in refused.value.detail
    finally:
        holder.kill()
        holder.wait()
    # PostgreSQL notices the dropped connection asynchronously: a standby gets the role once it has.
    with singleton(env, "timer-scheduler", wait=True, timeout=30, poll=0.05) as role:
        assert role.held()


def test_role_names_are_checked():
    with pytest.raises(ValueError):
        with singleton({}, "../../etc/passwd"):
            pass
