import gc
import time

import pytest

from cartpath.engine import sandbox
from cartpath.engine.sandbox import BudgetExceeded, ScriptFailed, ScriptRefused


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


def test_literal_runaways_are_refused_before_running():
    with pytest.raises(ScriptRefused, match="repetition makes 10000000 items"):
        sandbox.evaluate("'x' * 10_000_000", {})
    with pytest.raises(ScriptRefused, match="repetition"):
        sandbox.execute("x = [0] * 100000", {})
    with pytest.raises(ScriptRefused, match="integer literal larger"):
        sandbox.evaluate("1" + "0" * 100, {})


def test_missing_names_fail_with_a_clear_message():
    with pytest.raises(ScriptFailed, match="'nope' is not defined"):
        sandbox.evaluate("nope + 1", {})


# -- budgets: one test per class of runaway; each is refused before it allocates or spins ------
# Every refusal is a BudgetExceeded (a ScriptFailed: at run time an incident of that pathway)
# or, when it shows in the source, a ScriptRefused (lint and deploy refuse the file).

NESTED = "a = [0] * 10000\nb = [a] * 10000\nc = [a] * 10000\n"  # cheap to make: 10^8 items deep


@pytest.mark.parametrize("line, message", [
    ("r = b == c", "compared value is larger than the result limit"),
    ("r = b < c", "compared value is larger than the result limit"),
    ("r = sorted(b)", "sorted"),
    ("r = max(b)", "max"),
    ("r = str(b)", "str"),
    ("r = [1] in b", "list searched is larger"),
    ("r = {(b, 1): 1}", "dict key is larger"),
    ("d = {}\nd[(b, 1)] = 1", "dict key is larger"),
    ("r = {b[0]: 1}", "TypeError"),  # a list is no key: refused by Python, cheaply
    ("r = '%s' % [b]", "formatting would make"),
])
def test_deep_work_on_huge_structures_is_refused(line, message):
    scope: dict = {}
    with pytest.raises(ScriptFailed, match=message):
        sandbox.execute(NESTED + line, scope)
    assert "r" not in scope


def test_a_script_whose_data_would_be_huge_fails_as_a_whole():
    # cheap to build by sharing, but stored (JSON) it would be 10^8 items: checked before it leaves
    with pytest.raises(BudgetExceeded, match="'b' is larger than the result limit of 1024 KiB"):
        sandbox.execute(NESTED, {})
    with pytest.raises(BudgetExceeded, match="the result is larger than the result limit"):
        sandbox.evaluate("[[0] * 9000] * 9000", {})


@pytest.mark.parametrize("source", [
    'r = "%0*d" % (1000000000, 1)',
    'r = "%01000000000d" % 1',
    'r = "%.1000000000f" % 1.0',
    'w = 1000000000\nr = "%*s" % (w, "x")',
    'r = "%(a)0999999999d" % {"a": 1}',
])
def test_formatting_widths_and_precisions_are_predicted(source):
    scope: dict = {}
    with pytest.raises(BudgetExceeded, match="formatting would make at least"):
        sandbox.execute(source, scope)
    assert "r" not in scope


def test_small_formatting_still_works():
    assert sandbox.evaluate('"%05.1f|%-4s|%d" % (3.14159, "ab", 7)', {}) == "003.1|ab  |7"


@pytest.mark.parametrize("source", [
    "x = [0] * 1000\nx *= 10000",
    "x = 'ab' * 1000\nn = 100000\nx *= n",
    "x = [0] * 1000\nn = 1000000000\ny = x * n",
    "x = [0] * 6000\nx = x + x",
])
def test_repetition_and_in_place_multiply_are_predicted(source):
    scope: dict = {}
    with pytest.raises(BudgetExceeded, match="would make"):
        sandbox.execute(source, scope)
    assert len(scope.get("x", [])) <= 6000 and "y" not in scope


@pytest.mark.parametrize("source", [
    "x = [0] * 9000\nx[0:0] = x",
    "x = [0]\nx[1:] = 'a' * 100000",
    "x = [0] * 5000\ny = x[::1]\ny[:0] = y\ny[:0] = y",
])
def test_slice_assignment_growth_is_predicted(source):
    scope: dict = {}
    with pytest.raises(BudgetExceeded, match="slice assignment would make"):
        sandbox.execute(source, scope)
    assert all(len(v) <= 10_000 for v in scope.values())


@pytest.mark.parametrize("source", ["2 ** 1000000000", "1 << 100000000", "x >> 3", "pow(2, 10)"])
def test_power_and_shift_are_outside_the_language(source):
    with pytest.raises(ScriptRefused):
        sandbox.validate_expression(source)


@pytest.mark.parametrize("source, message", [
    ("a = 10 ** 0" if False else "a = 340282366920938463463374607431768211456\nb = a * a", "product larger"),
    ("r = round(5, -100000000)", "round"),
    ("r = int('9' * 5000)", "int"),
    ("r = float('1' * 100000)", "float"),
    ("r = add_days('2026-01-01' * 1000, 1)", "not a date"),
])
def test_big_numbers_are_predicted(source, message):
    with pytest.raises(ScriptFailed, match=message):
        sandbox.execute(source, {})


@pytest.mark.parametrize("source", [
    "(" * 100_000 + "1" + ")" * 100_000,
    "[" * 100_000 + "]" * 100_000,
    "-(" * 100_000 + "1" + ")" * 100_000,
    "-" * 3000 + "1",
    "not " * 900 + "1",
    "+".join(["1"] * 1500),
    "x" + "[0]" * 1000,
    "1 if 1 else " * 300 + "1",
    "(" * 60 + "1" + ")" * 60,
])
def test_deep_nesting_is_refused_at_parse_not_a_crash(source):
    with pytest.raises(ScriptRefused, match="nested deeper|longer than the limit"):
        sandbox.validate_expression(source)


def test_reasonable_nesting_and_length_pass():
    sandbox.validate_expression("(" * 20 + "1" + ")" * 20)
    sandbox.validate_expression("+".join(["1"] * 90))
    sandbox.validate_expression('"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("')


def test_sources_longer_than_the_limits_are_refused():
    with pytest.raises(ScriptRefused, match="longer than the limit of 4000"):
        sandbox.validate_expression("1" + " " * 5000)
    with pytest.raises(ScriptRefused, match="longer than the limit of 20000"):
        sandbox.validate_script("x = 1\n" * 5000)


def test_cpu_budget_stops_many_expensive_lines():
    # each line is allowed on its own; together they outrun the (here tiny) CPU budget
    source = "a = [0] * 9000\n" + "r = str(a)\nr = a == a\n" * 800
    with sandbox.step_budget() as budget:
        budget.cpu_left = 0.001
        budget.memory_left = 10 ** 12
        with pytest.raises(BudgetExceeded, match="CPU budget of 200 ms exceeded"):
            sandbox.execute(source, {})


def test_garbage_collection_during_an_evaluation_is_not_charged_to_it():
    # A full collection in a process with a large heap costs far more than the budget; it runs in
    # whatever allocation triggers it, so charging it would stop an honest script's pathway.
    heap = [[index, [index]] for index in range(400_000)]
    with sandbox.step_budget() as budget:
        budget.cpu_left = 0.02
        with budget.running():
            started = time.thread_time()
            gc.collect()
            collected_in = time.thread_time() - started
            assert collected_in > 0.02, "the heap is too small to make the point"
            budget.check_cpu()  # no BudgetExceeded: the collection was not the evaluation's work
        assert budget.cpu_left > 0.01
    assert len(heap) == 400_000


def test_memory_budget_counts_every_allocation_of_a_step():
    source = "a = [0] * 9000\n" + "r = a + [1]\n" * 200  # 200 lists of 72 KB: 14 MB
    with sandbox.step_budget() as budget:
        budget.memory_left = 10 * 1024 * 1024
        with pytest.raises(BudgetExceeded, match="memory budget of 64 MiB"):
            sandbox.execute(source, {})
    sandbox.execute(source, {})  # alone, under the default budget, it is fine


def test_one_budget_is_shared_by_the_evaluations_of_a_step():
    with sandbox.step_budget() as budget:
        sandbox.evaluate("[0] * 9000", {})
        left = budget.memory_left
        sandbox.evaluate("[0] * 9000", {})
        assert budget.memory_left < left


def test_self_containing_values_never_leave_the_sandbox():
    scope: dict = {}
    with pytest.raises(BudgetExceeded, match="contains itself"):
        sandbox.execute("a = [1]\na[0] = a", scope)


def test_limits_come_from_the_environment():
    from cartpath.engine.settings import BadSetting, script_limits
    assert script_limits({}) == sandbox.ScriptLimits(cpu_ms=200, memory_mb=64, result_kb=1024)
    assert script_limits({"CARTPATH_SCRIPT_CPU_MS": "50", "CARTPATH_SCRIPT_MEMORY_MB": "8",
                          "CARTPATH_SCRIPT_RESULT_KB": "16"}) == sandbox.ScriptLimits(50, 8, 16)
    for bad in ("0", "-1", "abc", "1.5", "99999999"):
        with pytest.raises(BadSetting, match="CARTPATH_SCRIPT_CPU_MS"):
            script_limits({"CARTPATH_SCRIPT_CPU_MS": bad})


def test_a_smaller_result_limit_applies():
    sandbox.configure(sandbox.ScriptLimits(result_kb=1))
    try:
        with pytest.raises(BudgetExceeded, match="result limit of 1 KiB"):
            sandbox.evaluate("'x' * 2000", {})
    finally:
        sandbox.configure(sandbox.ScriptLimits())


def test_dmn_cells_read_question_marks_outside_string_literals_in_one_pass():
    from cartpath.engine.decision_cells import cell_expression, cell_source, validate_cell
    assert cell_expression('? > 3 and "a?b" != ? and \'x\\\'?\' or ?') == \
        'dmninputexpr > 3 and "a?b" != dmninputexpr and \'x\\\'?\' or dmninputexpr'
    assert cell_source("grade", '"high?"') == ('(grade) == ("high?")', False)
    assert cell_source("grade", "> 3") == ("grade > 3", False)
    assert cell_source("grade", "1 < ? < 4") == ("1 < dmninputexpr < 4", True)
    # a cell of thousands of '?' costs one pass; past 4,000 characters it is refused at deploy
    with pytest.raises(ScriptRefused, match="longer than the limit of 4000"):
        validate_cell("? + " * 2000)
