"""A small interpreter for the expressions and scripts found in process models.

BPMN files are uploaded by people, so their conditions, scripts, timer
expressions and DMN cells are untrusted. Rather than ``eval``/``exec`` (which
SpiffWorkflow uses by default and which can ``import os``), this module parses
them with :mod:`ast` and walks a whitelisted subset of Python itself:

* expressions: literals, names, ``x["k"]``, dict/list/tuple/set literals,
  arithmetic, comparisons, ``and``/``or``/``not``, ``a if c else b``, ``in``,
  and calls to the functions in :data:`FUNCTIONS` only;
* scripts: assignment to names or subscripts, augmented assignment,
  ``if``/``elif``/``else`` and ``pass``.

There is no attribute access at all, no import, loop, comprehension, lambda or
function definition, so there is no path to builtins, the file system or the
network. Every evaluation has a step budget and sizes are capped, so a hostile
expression cannot spin or exhaust memory.
"""
from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .times import parse_instant

STEP_BUDGET = 20_000
MAX_SEQUENCE = 10_000
MAX_STRING = 100_000
MAX_INT_BITS = 256


class ScriptRefused(Exception):
    """The source uses something outside the allowed subset."""


class ScriptFailed(Exception):
    """The source is allowed but failed while running (budget, type, missing name)."""


def _parse_moment(value: Any) -> datetime:
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


@lru_cache(maxsize=4096)
def _parse(source: str, mode: str) -> ast.AST:
    try:
        tree = ast.parse(source.strip(), mode=mode)
    except SyntaxError as err:
        raise ScriptRefused(f"syntax error at line {err.lineno}: {err.msg}") from None
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
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            raise ScriptRefused("bytes literals are not allowed")


class _Interpreter:
    def __init__(self, scope: dict[str, Any]):
        self.scope = scope
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > STEP_BUDGET:
            raise ScriptFailed(f"step budget of {STEP_BUDGET} exceeded")

    @staticmethod
    def bounded(value: Any) -> Any:
        limit = MAX_STRING if isinstance(value, str) else MAX_SEQUENCE
        if isinstance(value, (str, list, dict, tuple, set)) and len(value) > limit:
            raise ScriptFailed("value too large")
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise ScriptFailed("integer too large")
        return value

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
            key = self.eval_slice(node.slice)
            try:
                return container[key]
            except (KeyError, IndexError, TypeError) as err:
                raise ScriptFailed(f"cannot read [{key!r}]: {type(err).__name__}") from None
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left), self.eval(node.right)
            if isinstance(node.op, ast.Mult):
                seq, count = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and count * len(seq) > MAX_STRING:
                    raise ScriptFailed("value too large")
            return self.bounded(self.apply(_BINOPS[type(node.op)], left, right))
        if isinstance(node, ast.UnaryOp):
            return self.apply(_UNARY[type(node.op)], self.eval(node.operand))
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
                if not self.apply(_CMPOPS[type(op)], left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)
        if isinstance(node, ast.Dict):
            return self.bounded({self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values) if k is not None})
        if isinstance(node, ast.List):
            return self.bounded([self.eval(e) for e in node.elts])
        if isinstance(node, ast.Tuple):
            return self.bounded(tuple(self.eval(e) for e in node.elts))
        if isinstance(node, ast.Set):
            return self.bounded({self.eval(e) for e in node.elts})
        if isinstance(node, ast.Call):
            func = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]
            args = [self.eval(a) for a in node.args]
            kwargs = {str(k.arg): self.eval(k.value) for k in node.keywords}
            return self.bounded(self.apply(func, *args, **kwargs))
        raise ScriptRefused(f"{type(node).__name__} is not allowed")

    def eval_slice(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Slice):
            return slice(*(self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step)))
        return self.eval(node)

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
            raise ScriptFailed(f"{type(err).__name__}: {err}") from None

    def execute(self, statements: list[ast.stmt]) -> None:
        for stmt in statements:
            self.tick()
            if isinstance(stmt, ast.Assign):
                value = self.eval(stmt.value)
                for target in stmt.targets:
                    self.assign(target, value)
            elif isinstance(stmt, ast.AugAssign):
                current = self.eval(_as_load(stmt.target))
                self.assign(stmt.target,
                            self.bounded(self.apply(_BINOPS[type(stmt.op)], current, self.eval(stmt.value))))
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
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            if not isinstance(container, (dict, list)):
                raise ScriptFailed("can only assign into a dict or list")
            try:
                container[self.eval_slice(target.slice)] = value
            except (IndexError, TypeError) as err:
                raise ScriptFailed(f"cannot assign: {err}") from None
        else:
            raise ScriptRefused(f"cannot assign to {type(target).__name__}")


def _as_load(target: ast.AST) -> ast.AST:
    if isinstance(target, ast.Name):
        return ast.Name(id=target.id, ctx=ast.Load())
    return target


def validate_expression(source: str) -> None:
    _parse(source, "eval")


def validate_script(source: str) -> None:
    _parse(source, "exec")


def evaluate(source: str, scope: dict[str, Any]) -> Any:
    tree = _parse(source, "eval")
    return _Interpreter(scope).eval(tree.body)  # type: ignore[attr-defined]


def execute(source: str, scope: dict[str, Any]) -> None:
    tree = _parse(source, "exec")
    _Interpreter(scope).execute(tree.body)  # type: ignore[attr-defined]


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


@lru_cache(maxsize=4096)
def _syntax_check(expression: str) -> None:
    ast.parse(expression)  # a SyntaxError is not cached: lru_cache keeps only returns


class SandboxScriptEngine(PythonScriptEngine):
    def __init__(self) -> None:
        super().__init__(environment=SandboxEnvironment())

    def validate(self, expression):
        # DMN asks whether a cell parses on its own (for every cell of every row it tries):
        # a syntax question, answered once per distinct text
        _syntax_check(expression)


SCRIPT_ENGINE = SandboxScriptEngine()
