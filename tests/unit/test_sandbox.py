import pytest

from cartpath.engine import sandbox
from cartpath.engine.sandbox import ScriptFailed, ScriptRefused


def test_expressions_compute_over_task_data():
    scope = {"apheresis": {"adequate": False}, "count": 3}
    assert sandbox.evaluate('apheresis["adequate"] == False and count < 4', scope) is True
    assert sandbox.evaluate("max(count, 7) if count else 0", scope) == 7
    assert sandbox.evaluate('add_days("2026-01-01", 5)', {}) == "2026-01-06T00:00:00+00:00"
    assert sandbox.evaluate('days_between("2026-01-01", "2026-01-15T12:00:00+00:00")', {}) == 14.5


def test_scripts_assign_and_branch():
    scope = {"n": 1, "d": {}}
    sandbox.execute('n += 1\nif n > 1:\n    d["k"] = "big"\nelse:\n    d["k"] = "small"', scope)
    assert scope == {"n": 2, "d": {"k": "big"}}


@pytest.mark.parametrize("source", [
    "import os",
    "__import__('os').system('true')",
    "open('/etc/passwd').read()",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "[c for c in range(3)]",
    "lambda: 1",
    "eval('1')",
    "getattr(x, 'y')",
    "while True:\n    pass",
    "def f():\n    pass",
    "_secret",
])
def test_hostile_sources_are_refused_before_running(source):
    with pytest.raises(ScriptRefused):
        sandbox.execute(source, {"x": 1})


def test_budget_and_size_limits_stop_runaway_expressions():
    with pytest.raises(ScriptFailed):
        sandbox.evaluate("'x' * 10_000_000", {})
    with pytest.raises(ScriptRefused):
        sandbox.evaluate("9 ** 9 ** 9", {})  # no power operator at all
    big = " + ".join(["1"] * 30_000)
    with pytest.raises((ScriptFailed, ScriptRefused, RecursionError)):
        sandbox.evaluate(big, {})


def test_missing_names_fail_with_a_clear_message():
    with pytest.raises(ScriptFailed, match="'nope' is not defined"):
        sandbox.evaluate("nope + 1", {})
