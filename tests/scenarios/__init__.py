"""Scenarios of the CAR-T pathway (processes/cart_pathway.bpmn), run through the engine.

Each scenario is a plain function ``fn(app)`` (or ``fn(app, variant)``) registered with
:func:`scenario`. ``test_pathway_scenarios`` runs each as one test, then its coverage test
runs any that did not run in this session and checks that together they exercised every
flow node and sequence flow of the model (report in coverage/bpmn/).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

SCENARIOS: dict[str, Callable[[Any], None]] = {}
_MODULES = ("referral", "manufacturing", "infusion", "chain_of_identity", "after_infusion", "cancellation",
            "clinical_rules", "migration")


def scenario(*variants: str):
    """Register a scenario, once or once per variant (``name[variant]``)."""
    def register(fn):
        if not variants:
            SCENARIOS[fn.__name__] = fn
        for variant in variants:
            SCENARIOS[f"{fn.__name__}[{variant}]"] = functools.partial(fn, variant=variant)
        return fn
    return register


def all_scenarios() -> dict[str, Callable[[Any], None]]:
    import importlib
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return SCENARIOS
