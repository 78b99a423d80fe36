"""An incident's message names what failed and never quotes a data value."""
from __future__ import annotations

from cartpath.engine.incidents import incident_record, safe_message
from cartpath.engine.sandbox import ScriptFailed

MODEL = '<bpmn:script>ratio = dose["weight_kg"] / dose["divisor"]</bpmn:script>'


def test_quoted_values_and_numbers_are_dropped_and_model_names_kept():
    assert safe_message(KeyError("weight_kg"), MODEL) == "missing key 'weight_kg'"
    assert safe_message(KeyError("PSN-0042"), MODEL) == "missing key …"
    assert safe_message(ScriptFailed("cannot read ['PT0042']: KeyError"), MODEL) == "cannot read […]: KeyError"
    text = safe_message(ValueError("time data '2026-13-45' does not match format '%Y-%m-%d' (patient 4242)"), MODEL)
    assert "2026" not in text and "4242" not in text and text.startswith("time data … does not match format")
    assert safe_message(OverflowError("date value out of range"), MODEL) == "date value out of range"


def test_the_record_names_the_innermost_error_behind_spiffworkflows_wrapper():
    from SpiffWorkflow.exceptions import SpiffWorkflowException
    try:
        try:
            raise ZeroDivisionError("integer division or modulo by zero")
        except ZeroDivisionError:
            raise SpiffWorkflowException("ZeroDivisionError: 'PSN-1' failed")  # noqa: B904  (chained as SpiffWorkflow does)
    except SpiffWorkflowException as wrapped:
        record = incident_record("i-1", "compute", None, wrapped, MODEL)
    assert record["error_class"] == "ZeroDivisionError" and "PSN" not in record["message"]
    long = safe_message(RuntimeError("x" * 1000), MODEL)
    assert len(long) == 200
