"""A small interpreter for the expressions and scripts found in process models.

BPMN files are uploaded by people, so their conditions, scripts, timer
expressions and DMN cells are untrusted. Rather than ``eval``/``exec`` (which
SpiffWorkflow uses by default and which can ``import os``), this module parses
them with :mod:`ast` and walks a whitelisted subset of Python itself:

* expressions: literals, names, ``x["k"]``, dict/list/tuple/set literals,
  arithmetic (no ``**``, no shifts), comparisons, ``and``/``or``/``not``,
  ``a if c else b``, ``in``, and calls to the functions in :data:`FUNCTIONS` only;
* scripts: assignment to names or subscripts, augmented assignment,
  ``if``/``elif``/``else`` and ``pass``.

There is no attribute access at all, no import, loop, comprehension, lambda or
function definition, so there is no path to builtins, the file system or the
network. The source's length and nesting are capped before it is parsed, and
every evaluation runs under a :class:`Budget` of CPU time, memory and result
size: each operation's cost is predicted (:mod:`.script_costs`) and refused
*before* it allocates or computes, and the CPU deadline is checked as the tree
is walked. Exceeding it raises :class:`BudgetExceeded`.
"""
from __future__ import annotations

import ast
import contextvars
import gc
import operator
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .script_costs import FormatTooLarge, footprint, format_bound, repr_bound, shallow_bytes
from .times import parse_instant

MAX_SEQUENCE = 10_000
MAX_STRING = 100_000
MAX_INT_BITS = 256
# Static caps, checked before ast.parse (whose cost and recursion grow with them):
MAX_EXPRESSION_CHARS = 4_000  # conditions, DMN cells, timer and payload expressions
MAX_SCRIPT_CHARS = 20_000
MAX_NESTING = 50  # brackets open at once, and depth of the syntax tree / 2
MAX_DATE_CHARS = 64
MAX_NUMBER_CHARS = 400
CHECK_CPU_EVERY = 32  # thread_time() is a system call: once per this many nodes


class ScriptRefused(Exception):
    """The source uses something outside the allowed subset."""


class ScriptFailed(Exception):
    """The source is allowed but failed while running (budget, type, missing name)."""


class BudgetExceeded(ScriptFailed):
    """The evaluation would exceed its CPU, memory or result-size budget."""


@dataclass(frozen=True)
class ScriptLimits:
    cpu_ms: int = 200
    memory_mb: int = 64
    result_kb: int = 1024


_limits = ScriptLimits()
_limits_lock = threading.Lock()


def configure(limits: ScriptLimits) -> None:
    """Set the limits every later evaluation of this process runs under (from the settings)."""
    global _limits
    with _limits_lock:
        _limits = limits


def limits() -> ScriptLimits:
    return _limits


class Budget:
    """What one engine step may still spend in the sandbox. CPU time counts only time spent
    evaluating (this thread's CPU time, so other threads and waiting do not count, less the
    garbage collector's, which the evaluation did not choose: :func:`evaluation_cpu`); memory
    counts every allocation the interpreter makes, predicted before it is made."""

    def __init__(self, limits: ScriptLimits | None = None):
        self.limits = limits or _limits
        self.cpu_left = self.limits.cpu_ms / 1000.0
        self.memory_left = self.limits.memory_mb * 1024 * 1024
        self.value_cap = self.limits.result_kb * 1024
        self._deadline: float | None = None
        self._depth = 0

    @contextmanager
    def running(self) -> Iterator[Budget]:
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        started = evaluation_cpu()
        self._deadline = started + self.cpu_left
        self._depth = 1
        try:
            yield self
        finally:
            self._depth = 0
            self.cpu_left -= evaluation_cpu() - started
            self._deadline = None

    def check_cpu(self) -> None:
        if self._deadline is not None and evaluation_cpu() > self._deadline:
            raise BudgetExceeded(f"CPU budget of {self.limits.cpu_ms} ms exceeded")

    def allocate(self, nbytes: int, what: str) -> None:
        if nbytes > self.memory_left:
            raise BudgetExceeded(f"{what} would exceed the memory budget of {self.limits.memory_mb} MiB")
        self.memory_left -= nbytes

    def measure(self, value: Any, what: str) -> int:
        """The footprint of a value an operation is about to work through, refused when over the cap."""
        size = footprint(value, self.value_cap, self.check_cpu)
        if size > self.value_cap:
            raise BudgetExceeded(f"{what} is larger than the result limit of {self.limits.result_kb} KiB")
        return size


_collecting = threading.local()


def _time_collections(phase: str, info: dict[str, int]) -> None:
    """gc callback: add the CPU time this thread spends collecting garbage to its own total.

    A collection runs inside whatever allocation triggers it; in a process with a large heap
    (a server or a test run holding many pathways) a full collection costs hundreds of
    milliseconds, and it would be charged to the model's script that happened to allocate
    then: an honest one-line script would stop its pathway with an incident, at random."""
    if phase == "start":
        _collecting.started = time.thread_time()
        return
    started = getattr(_collecting, "started", None)
    if started is not None:
        _collecting.total = getattr(_collecting, "total", 0.0) + time.thread_time() - started
        _collecting.started = None


gc.callbacks.append(_time_collections)


def evaluation_cpu() -> float:
    """This thread's CPU time less the time it spent collecting garbage: the clock budgets run on."""
    return time.thread_time() - getattr(_collecting, "total", 0.0)


_active: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("cartpath_script_budget", default=None)


@contextmanager
def step_budget() -> Iterator[Budget]:
    """One budget shared by every evaluation inside (an engine step: all its scripts,
    conditions and DMN cells), so a decision table of many cells cannot multiply it."""
    current = _active.get()
    if current is not None:
        yield current
        return
    budget = Budget()
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


def _parse_moment(value: Any) -> datetime:
    if isinstance(value, str) and len(value) > MAX_DATE_CHARS:
        raise ScriptFailed(f"not a date or datetime: a string of {len(value)} characters")
    try:
        return parse_instant(value, naive_is_utc=True)  # a date the model computes with is UTC midnight
    except ValueError:
        raise ScriptFailed(f"not a date or datetime: {value!r}") from None


def add_days(moment: Any, days: float) -> str:
    """ISO datetime ``days`` after ``moment`` (a date means UTC midnight)."""
    return (_parse_moment(moment) + timedelta(days=float(days))).isoformat()


def days_between(start: Any, end: Any) -> float:
    return (_parse_moment(end) - _parse_moment(start)).total_seconds() / 86400.0


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "add_days": add_days,
    "days_between": days_between,
    "len": len, "min": min, "max": max, "int": int, "float": float, "str": str,
    "bool": bool, "abs": abs, "round": round, "any": any, "all": all, "sorted": sorted,
}
CONSTANTS = {"True": True, "False": False, "None": None}

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMPOPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_SAFE_VALUES = (str, int, float, bool, type(None), list, dict, tuple, set)
_SEQUENCES = (str, list, tuple)
_DEEP = (list, dict, tuple, set, frozenset)


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# -- parsing: capped before, checked after -------------------------------------------------

def code_characters(source: str) -> Iterator[tuple[str, bool]]:
    """Each character with whether it lies inside a string literal: one linear pass
    (what a cheap check before parsing needs; the parser itself is the judge of syntax)."""
    quote = ""
    escaped = False
    for char in source:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""  # the closing quote is still part of the literal
            yield char, True
        elif char in "\"'":
            quote = char
            yield char, True
        else:
            yield char, False


def _nesting(source: str) -> int:
    """Deepest bracket nesting outside string literals."""
    depth = deepest = 0
    for char, quoted in code_characters(source):
        if quoted:
            continue
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _tree_depth(tree: ast.AST) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _ParseCache:
    """Parsed trees by source, bounded by the total length of the sources kept (a tree costs
    some hundred bytes a character: a count of entries alone would not bound memory)."""

    def __init__(self, max_chars: int = 512 * 1024):
        self.max_chars = max_chars
        self._trees: dict[tuple[str, str], ast.AST] = {}
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, source: str, mode: str) -> ast.AST | None:
        with self._lock:
            return self._trees.get((source, mode))

    def put(self, source: str, mode: str, tree: ast.AST) -> None:
        with self._lock:
            if (source, mode) in self._trees:
                return
            while self._trees and self._chars + len(source) > self.max_chars:
                (old, _), _tree = next(iter(self._trees.items()))
                del self._trees[(old, _)]
                self._chars -= len(old)
            self._trees[(source, mode)] = tree
            self._chars += len(source)


_CACHE = _ParseCache()


def _parse(source: str, mode: str) -> ast.AST:
    cached = _CACHE.get(source, mode)
    if cached is not None:
        return cached
    tree = _parse_checked(source, mode)
    _CACHE.put(source, mode, tree)
    return tree


def _parse_checked(source: str, mode: str) -> ast.AST:
    limit = MAX_EXPRESSION_CHARS if mode == "eval" else MAX_SCRIPT_CHARS
    what = "an expression" if mode == "eval" else "a script"
    if len(source) > limit:
        raise ScriptRefused(f"{what} of {len(source)} characters is longer than the limit of {limit}")
    if _nesting(source) > MAX_NESTING:
        raise ScriptRefused(f"brackets nested deeper than {MAX_NESTING}")
    try:
        tree = ast.parse(source.strip(), mode=mode)
    except SyntaxError as err:
        raise ScriptRefused(f"syntax error at line {err.lineno}: {err.msg}") from None
    except (RecursionError, MemoryError):  # the parser's own stack: nesting without brackets (- - - 1)
        raise ScriptRefused(f"nested deeper than {MAX_NESTING}") from None
    if _tree_depth(tree) > 2 * MAX_NESTING:
        raise ScriptRefused(f"nested deeper than {MAX_NESTING} (operators chained or nested too deeply)")
    _check(tree)
    return tree


_ALLOWED_NODES = (
    ast.Expression, ast.Module, ast.Expr, ast.Constant, ast.Name, ast.Load, ast.Store,
    ast.Subscript, ast.Slice, ast.Dict, ast.List, ast.Tuple, ast.Set, ast.BinOp,
    ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Assign, ast.AugAssign,
    ast.If, ast.Pass, ast.And, ast.Or, *(_BINOPS), *(_CMPOPS), *(_UNARY),
)


def _check(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            line = getattr(node, "lineno", "?")
            raise ScriptRefused(f"{type(node).__name__} is not allowed (line {line})")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ScriptRefused(f"name {node.id!r} is not allowed (line {node.lineno})")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ScriptRefused(f"only these functions may be called: {', '.join(sorted(FUNCTIONS))} "
                                    f"(line {node.lineno})")
            if any(isinstance(k.arg, type(None)) for k in node.keywords):
                raise ScriptRefused(f"**kwargs is not allowed (line {node.lineno})")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise ScriptRefused(f"*args is not allowed (line {node.lineno})")
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            raise ScriptRefused("bytes literals are not allowed")
        if isinstance(node, ast.Constant) and _int(node.value) and node.value.bit_length() > MAX_INT_BITS:
            raise ScriptRefused(f"integer literal larger than {MAX_INT_BITS} bits (line {node.lineno})")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            _check_literal_repeat(node)


def _check_literal_repeat(node: ast.BinOp) -> None:
    """A repetition whose sizes are both literals is refused at deploy, not on the day it runs."""
    for seq, count in ((node.left, node.right), (node.right, node.left)):
        times = count.value if isinstance(count, ast.Constant) else None
        if not _int(times):
            continue
        if isinstance(seq, ast.Constant) and isinstance(seq.value, str):
            length, limit = len(seq.value), MAX_STRING
        elif isinstance(seq, (ast.List, ast.Tuple)):
            length, limit = len(seq.elts), MAX_SEQUENCE
        else:
            continue
        if length * times > limit:
            raise ScriptRefused(f"repetition makes {length * times} items, more than the limit of "
                                f"{limit} (line {node.lineno})")


# -- the interpreter ----------------------------------------------------------------------

class _Interpreter:
    def __init__(self, scope: dict[str, Any], budget: Budget):
        self.scope = scope
        self.budget = budget
        self.steps = 0
        self.assigned: set[str] = set()

    def tick(self) -> None:
        self.steps += 1
        if self.steps % CHECK_CPU_EVERY == 0:
            self.budget.check_cpu()

    def made(self, value: Any) -> Any:
        """A value the interpreter just made: within the per-value caps."""
        limit = MAX_STRING if isinstance(value, str) else MAX_SEQUENCE
        if isinstance(value, (str, list, dict, tuple, set)) and len(value) > limit:
            raise BudgetExceeded(f"value of {len(value)} items is larger than the limit of {limit}")
        if _int(value) and value.bit_length() > MAX_INT_BITS:
            raise BudgetExceeded(f"integer larger than {MAX_INT_BITS} bits")
        return value

    def allocate_like(self, length: int, kind: Any, what: str) -> None:
        """Refuse a sequence of ``length`` items of ``kind``'s type before it exists."""
        limit = MAX_STRING if isinstance(kind, str) else MAX_SEQUENCE
        if length > limit:
            raise BudgetExceeded(f"{what} would make {length} items, more than the limit of {limit}")
        self.budget.allocate(49 + 4 * length if isinstance(kind, str) else 56 + 8 * length, what)

    def deep(self, value: Any, what: str) -> None:
        """Before an operation that walks ``value`` all through (compare, hash, str, sort)."""
        if isinstance(value, _DEEP):
            self.budget.measure(value, what)

    def eval(self, node: ast.AST) -> Any:  # noqa: C901 - a flat dispatch reads best
        self.tick()
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.scope:
                return self.scope[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise ScriptFailed(f"name {node.id!r} is not defined")
        if isinstance(node, ast.Subscript):
            container = self.eval(node.value)
            return self.read(container, self.eval_slice(node.slice))
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.UnaryOp):
            return self.made(self.apply(_UNARY[type(node.op)], self.eval(node.operand)))
        if isinstance(node, ast.BoolOp):
            result: Any = None
            for value_node in node.values:
                result = self.eval(value_node)
                if isinstance(node.op, ast.And) and not result:
                    return result
                if isinstance(node.op, ast.Or) and result:
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = self.eval(comparator)
                self.compare_cost(op, left, right)
                if not self.apply(_CMPOPS[type(op)], left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)
        if isinstance(node, ast.Dict):
            pairs = [(self.eval(k), self.eval(v)) for k, v in zip(node.keys, node.values) if k is not None]
            for key, _ in pairs:
                self.deep(key, "a dict key")
            self.budget.allocate(shallow_bytes(pairs), "a dict")
            return self.made(self.apply(dict, pairs))
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self.eval(e) for e in node.elts]
            self.budget.allocate(shallow_bytes(items), "a literal")
            if isinstance(node, ast.Set):
                for item in items:
                    self.deep(item, "a set item")
                return self.made(self.apply(set, items))
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            args = [self.eval(a) for a in node.args]
            kwargs = {str(k.arg): self.eval(k.value) for k in node.keywords}
            self.call_cost(name, args, kwargs)
            result = self.apply(FUNCTIONS[name], *args, **kwargs)
            if isinstance(result, (str, list)):
                self.budget.allocate(shallow_bytes(result), f"{name}()")
            return self.made(result)
        raise ScriptRefused(f"{type(node).__name__} is not allowed")

    def eval_slice(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Slice):
            return slice(*(self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step)))
        return self.eval(node)

    def read(self, container: Any, key: Any) -> Any:
        if isinstance(key, slice) and isinstance(container, _SEQUENCES):
            self.allocate_like(_slice_length(container, key), container, "a slice")
        elif isinstance(container, (dict, set)):
            self.deep(key, "a key")
        try:
            return container[key]
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise ScriptFailed(f"cannot read [{_short(key)}]: {type(err).__name__}") from None

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        """Predict the result's size from the operands, then compute it."""
        if isinstance(op, ast.Add) and isinstance(left, _SEQUENCES) and type(left) is type(right):
            self.allocate_like(len(left) + len(right), left, "concatenation")
        elif isinstance(op, ast.Mult):
            seq, count = (left, right) if isinstance(left, _SEQUENCES) else (right, left)
            if isinstance(seq, _SEQUENCES) and isinstance(count, int):
                self.allocate_like(len(seq) * max(count, 0), seq, "repetition")
            elif _int(left) and _int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                raise BudgetExceeded(f"product larger than {MAX_INT_BITS} bits")
        elif isinstance(op, ast.Mod) and isinstance(left, str):
            try:
                size = format_bound(left, right, MAX_STRING, self.budget.check_cpu)
            except FormatTooLarge as err:
                raise BudgetExceeded(f"formatting would make at least {err.args[0]} characters, more than the "
                                     f"limit of {MAX_STRING}") from None
            self.budget.allocate(49 + 4 * size, "formatting")
        return self.made(self.apply(_BINOPS[type(op)], left, right))

    def compare_cost(self, op: ast.cmpop, left: Any, right: Any) -> None:
        if isinstance(op, (ast.Is, ast.IsNot)):
            return
        if isinstance(op, (ast.In, ast.NotIn)):
            if isinstance(right, (dict, set)):
                self.deep(left, "the value looked up")
            elif isinstance(right, (list, tuple)):
                self.deep(right, "the list searched")
                self.deep(left, "the value searched for")
            return
        if isinstance(left, _DEEP) and isinstance(right, _DEEP):
            # the work is bounded by the smaller side: refuse only when both are over the cap
            try:
                self.deep(left, "a compared value")
            except BudgetExceeded:
                self.deep(right, "a compared value")

    def call_cost(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        first = args[0] if args else None
        if name == "str" and first is not None and not isinstance(first, str):
            size = repr_bound(first, MAX_STRING * 10, self.budget.check_cpu)
            if size > MAX_STRING * 10:
                raise BudgetExceeded(f"str() of a value larger than the limit of {MAX_STRING} characters")
            self.budget.allocate(49 + 4 * size, "str()")
        elif name in ("int", "float") and isinstance(first, str) and len(first) > MAX_NUMBER_CHARS:
            raise BudgetExceeded(f"{name}() of a string of {len(first)} characters (limit {MAX_NUMBER_CHARS})")
        elif name == "round" and len(args) > 1 and _int(args[1]) and abs(args[1]) > MAX_NUMBER_CHARS:
            raise BudgetExceeded(f"round() to {args[1]} digits (limit {MAX_NUMBER_CHARS})")
        elif name in ("sorted", "min", "max"):
            values = [first] if len(args) == 1 else args
            for value in values:
                self.deep(value, f"the values {name}() compares")
            for value in kwargs.values():
                self.deep(value, f"an argument of {name}()")
            if name == "sorted" and isinstance(first, (list, tuple, dict, set, str)):
                self.allocate_like(len(first), [], "sorted()")

    @staticmethod
    def apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            if not isinstance(arg, _SAFE_VALUES):
                raise ScriptFailed(f"unsupported value of type {type(arg).__name__}")
        try:
            return func(*args, **kwargs)
        except ScriptFailed:
            raise
        except Exception as err:  # arithmetic and type errors of the model's own making
            raise ScriptFailed(f"{type(err).__name__}: {_short(err)}") from None

    def execute(self, statements: list[ast.stmt]) -> None:
        for stmt in statements:
            self.tick()
            if isinstance(stmt, ast.Assign):
                value = self.eval(stmt.value)
                for target in stmt.targets:
                    self.assign(target, value)
            elif isinstance(stmt, ast.AugAssign):
                # a new value, never in place: ``x *= n`` is predicted like ``x * n``
                current = self.eval(_as_load(stmt.target))
                self.assign(stmt.target, self.binop(stmt.op, current, self.eval(stmt.value)))
            elif isinstance(stmt, ast.If):
                self.execute(stmt.body if self.eval(stmt.test) else stmt.orelse)
            elif isinstance(stmt, ast.Expr):
                self.eval(stmt.value)
            elif isinstance(stmt, ast.Pass):
                pass
            else:
                raise ScriptRefused(f"{type(stmt).__name__} is not allowed (line {stmt.lineno})")

    def assign(self, target: ast.AST, value: Any) -> None:
        if isinstance(target, ast.Name):
            if target.id in FUNCTIONS or target.id in CONSTANTS:
                raise ScriptFailed(f"cannot assign to {target.id!r}")
            self.scope[target.id] = value
            self.assigned.add(target.id)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            if not isinstance(container, (dict, list)):
                raise ScriptFailed("can only assign into a dict or list")
            key = self.eval_slice(target.slice)
            self.assign_cost(container, key, value)
            try:
                container[key] = value
            except (IndexError, TypeError, ValueError) as err:
                raise ScriptFailed(f"cannot assign: {_short(err)}") from None
            root = target.value
            while isinstance(root, ast.Subscript):
                root = root.value
            if isinstance(root, ast.Name):
                self.assigned.add(root.id)
        else:
            raise ScriptRefused(f"cannot assign to {type(target).__name__}")

    def assign_cost(self, container: dict | list, key: Any, value: Any) -> None:
        if isinstance(container, dict):
            self.deep(key, "a dict key")
            if key not in container:
                self.allocate_like(len(container) + 1, [], "a new key")
        elif isinstance(key, slice):
            if not hasattr(value, "__len__"):
                raise ScriptFailed("can only assign a list, tuple or string to a slice")
            grown = len(container) - _slice_length(container, key) + len(value)
            self.allocate_like(grown, container, "slice assignment")

    def check_result(self, value: Any, what: str) -> Any:
        """What leaves the sandbox (a value, or task data a script set) is stored and
        serialised later, outside any budget: its whole size is checked here."""
        size = footprint(value, self.budget.value_cap, self.budget.check_cpu)
        if size > self.budget.value_cap:
            raise BudgetExceeded(f"{what} is larger than the result limit of {self.budget.limits.result_kb} KiB "
                                 f"(or contains itself)")
        return value


def _slice_length(container: Any, key: slice) -> int:
    try:
        return len(range(*key.indices(len(container))))
    except (TypeError, ValueError) as err:
        raise ScriptFailed(f"bad slice: {_short(err)}") from None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _as_load(target: ast.AST) -> ast.AST:
    if isinstance(target, ast.Name):
        return ast.Name(id=target.id, ctx=ast.Load())
    return target


def validate_expression(source: str) -> None:
    _parse(source, "eval")


def validate_script(source: str) -> None:
    _parse(source, "exec")


@contextmanager
def _budgeted() -> Iterator[Budget]:
    with step_budget() as budget, budget.running():
        try:
            yield budget
        except (RecursionError, MemoryError) as err:  # a last line: never a dead worker
            raise BudgetExceeded(f"{type(err).__name__} while evaluating") from None


def evaluate(source: str, scope: dict[str, Any]) -> Any:
    tree = _parse(source, "eval")
    with _budgeted() as budget:
        interpreter = _Interpreter(scope, budget)
        return interpreter.check_result(interpreter.eval(tree.body), "the result")  # type: ignore[attr-defined]


def execute(source: str, scope: dict[str, Any]) -> None:
    tree = _parse(source, "exec")
    with _budgeted() as budget:
        interpreter = _Interpreter(scope, budget)
        interpreter.execute(tree.body)  # type: ignore[attr-defined]
        for name in sorted(interpreter.assigned):
            interpreter.check_result(scope[name], f"{name!r}")


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment backed by the interpreter above."""

    def evaluate(self, expression, context, external_context=None):
        scope = dict(context)
        scope.update(external_context or {})
        return evaluate(expression, scope)

    def execute(self, script, context, external_context=None):
        if external_context:
            overlap = set(external_context) & set(context)
            if overlap:
                raise ScriptFailed(f"task data hides names: {sorted(overlap)}")
            context.update(external_context)
        try:
            execute(script, context)
        finally:
            for key in external_context or ():
                context.pop(key, None)
        return True

    def call_service(self, context, **kwargs):
        raise ScriptRefused("service tasks are not supported")


class SandboxScriptEngine(PythonScriptEngine):
    def __init__(self) -> None:
        super().__init__(environment=SandboxEnvironment())

    def validate(self, expression):
        """SpiffWorkflow asks whether a text parses on its own: a SyntaxError says no; the
        length and nesting caps apply as to everything else."""
        try:
            _parse(expression, "eval")
        except ScriptRefused as err:
            if str(err).startswith("syntax error"):
                raise SyntaxError(str(err)) from None
            raise


SCRIPT_ENGINE = SandboxScriptEngine()
