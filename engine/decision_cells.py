"""DMN input cells evaluated in linear time, through the sandbox.

SpiffWorkflow rewrites the ``?`` of a cell (``4 < ? < 6``) with a regular expression
whose look-ahead rescans the rest of the cell for every ``?``: quadratic in the cell's
length, before the sandbox sees the text. :class:`SandboxDecisionEngine` replaces that
step with one pass over the cell (:func:`cell_expression`); everything else (rows, hit
policies, outputs) stays SpiffWorkflow's. :class:`.model_parser.ModelParser` hands it out
for every business rule task, so every parsed model uses it.
"""
from __future__ import annotations

from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

from . import sandbox

PLACEHOLDER = "dmninputexpr"


def cell_expression(cell: str) -> str:
    """The cell with each ``?`` outside string literals replaced by the input's name."""
    return "".join(PLACEHOLDER if char == "?" and not quoted else char
                   for char, quoted in sandbox.code_characters(cell))


def cell_source(input_expression: str, cell: str) -> tuple[str, bool]:
    """The expression a cell stands for, and whether it needs the input's value bound to
    the placeholder: ``? > 3`` as is; ``"a"`` as ``(input) == ("a")``; ``> 3`` as ``input > 3``."""
    replaced = cell_expression(cell)
    if replaced != cell:
        return replaced, True
    try:
        sandbox.validate_expression(cell)
    except sandbox.ScriptRefused as err:
        if not str(err).startswith("syntax error"):
            raise
        return f"{input_expression} {cell}", False
    return f"({input_expression}) == ({cell})", False


def validate_cell(cell: str) -> None:
    """Deploy-time check of an input cell, the same reading as at run time."""
    source, _ = cell_source(PLACEHOLDER, cell)
    sandbox.validate_expression(source)


class SandboxDecisionEngine(DMNEngine):
    def evaluate(self, input_expr: str, match_expr: str | None, task: Any) -> Any:
        if match_expr is None:
            return True
        script_engine = task.workflow.script_engine
        source, bound = cell_source(input_expr, match_expr)
        if bound:
            value = script_engine.evaluate(task, input_expr)
            return script_engine.evaluate(task, source, external_context={PLACEHOLDER: value})
        return script_engine.evaluate(task, source)
