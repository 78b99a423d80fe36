"""Task forms and the one instant parser: what a completion may carry, checked without a store."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cartpath.engine.errors import InvalidTaskData
from cartpath.engine.forms import FormField, TaskForm, parse_datetime
from cartpath.engine.times import parse_instant

FORM = TaskForm(fields=(
    FormField("adequate", "bool"),
    FormField("cells", "number", minimum=0, maximum=50),
    FormField("bags", "int", required=False, default=1),
    FormField("collected_on", "date"),
    FormField("received_at", "datetime"),
    FormField("grade", "enum", values=("mild", "severe")),
    FormField("note", "string", required=False),
), declared=True)
GOOD = {"adequate": True, "cells": 2.5, "collected_on": "2026-02-01", "received_at": "2026-02-01T10:00:00+02:00",
        "grade": "mild"}


def test_a_good_completion_comes_back_in_its_stored_form():
    clean = FORM.validate(dict(GOOD))
    assert clean == {**GOOD, "bags": 1, "received_at": "2026-02-01T08:00:00+00:00"}  # default filled, UTC


@pytest.mark.parametrize("change, field, says", [
    ({"adequate": None}, "adequate", "required"),
    ({"adequate": "yes"}, "adequate", "must be true or false"),
    ({"cells": 51}, "cells", "must be at most 50"),
    ({"cells": True}, "cells", "must be a number"),
    ({"bags": 1.5}, "bags", "must be an integer"),
    ({"cells": float("nan")}, "cells", "must be finite"),
    ({"collected_on": "01/02/2026"}, "collected_on", "must be a date (YYYY-MM-DD)"),
    ({"received_at": "2026-02-01T10:00:00"}, "received_at", "must include a UTC offset (e.g. +00:00 or Z)"),
    ({"received_at": "tomorrow"}, "received_at", "must be an ISO 8601 date-time with offset"),
    ({"grade": "moderate"}, "grade", "must be one of mild, severe"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_each_bad_value_is_named_with_its_reason(change, field, says):
    data = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(InvalidTaskData) as err:
        FORM.validate(data)
    assert err.value.errors == {field: [says]}


def test_not_an_object_is_refused():
    with pytest.raises(InvalidTaskData):
        FORM.validate(["adequate", True])


def test_form_description_lists_fields_for_clients():
    described = {f["name"]: f for f in FORM.describe()}
    assert described["grade"]["values"] == ["mild", "severe"] and described["note"]["required"] is False


def test_one_parser_for_instants():
    utc = datetime(2026, 2, 1, 8, tzinfo=UTC)
    assert parse_instant("2026-02-01T10:00:00+02:00") == utc
    assert parse_instant("2026-02-01T08:00:00Z") == utc
    assert parse_instant(datetime(2026, 2, 1, 8), naive_is_utc=True) == utc
    assert parse_instant(date(2026, 2, 1), naive_is_utc=True) == datetime(2026, 2, 1, tzinfo=UTC)
    for refused in ("2026-02-01T08:00:00", "soon", 20260201):
        with pytest.raises(ValueError):
            parse_instant(refused)
    assert parse_datetime("2026-02-01T08:00:00Z") == utc


def test_a_field_carries_its_french_label_when_the_model_gives_one():
    from xml.etree import ElementTree

    from cartpath.engine.forms import CARTPATH_NS, _parse_field
    both = _parse_field(ElementTree.fromstring(
        f'<f xmlns:c="{CARTPATH_NS}" name="doses" type="int" label="Doses" label-fr="Doses réservées"/>'))
    assert (both.label, both.label_fr) == ("Doses", "Doses réservées")
    assert both.describe()["label_fr"] == "Doses réservées"
    english = _parse_field(ElementTree.fromstring('<f name="note" type="string" label="Note" label-fr=" "/>'))
    assert english.label_fr is None and "label_fr" not in english.describe()
