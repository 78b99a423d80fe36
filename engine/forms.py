"""User task forms, declared in the BPMN with ``cartpath:form`` and checked here.

A completion is refused (nothing recorded) unless every required field is
present, every value has the declared type, and no unknown field is sent:
a misspelt field silently dropped would be a clinical fact lost.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from .errors import InvalidTaskData
from .text import text_problem
from .times import parse_instant

CARTPATH_NS = "urn:cartpath:bpmn:1.0"
FIELD_TYPES = ("string", "bool", "int", "number", "date", "datetime", "enum")
MAX_STRING = 2000


@dataclass(frozen=True)
class FormField:
    name: str
    type: str
    required: bool = True
    label: str = ""
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    # the label in French (`label-fr` in the model), for the web app's French pages; None: not given
    label_fr: str | None = None

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        out["required"] = self.required
        if self.values:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class TaskForm:
    """Everything the model declares about a user task beyond BPMN itself."""

    fields: tuple[FormField, ...] = ()
    signed: bool = False
    # two-person checks (engine/signatures.py): a witness from another person, a countersignature by a role
    witness: bool = False
    countersign: str | None = None
    coi_checks: tuple[str, ...] = ()
    due: str | None = None
    declared: bool = field(default=False, compare=False)

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.fields]

    def validate(self, data: Any, *, what: str = "task data") -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InvalidTaskData(f"{what} must be a JSON object", {"data": ["must be an object"]})
        errors: dict[str, list[str]] = {}
        known = {f.name for f in self.fields}
        for name in data:
            if name not in known:
                errors.setdefault(str(name), []).append("unknown field")
        clean: dict[str, Any] = {}
        for spec in self.fields:
            value = data.get(spec.name)
            if value is None:
                if spec.default is not None:
                    clean[spec.name] = spec.default
                elif spec.required:
                    errors.setdefault(spec.name, []).append("required")
                continue
            try:
                clean[spec.name] = coerce(spec, value)
            except ValueError as err:
                errors.setdefault(spec.name, []).append(str(err))
        if errors:
            listed = ", ".join(f"{k}: {'; '.join(v)}" for k, v in sorted(errors.items()))
            raise InvalidTaskData(f"invalid {what}: {listed}", errors)
        return clean


def coerce(spec: FormField, value: Any) -> Any:
    """Check one value against its declared type; return its stored form."""
    kind = spec.type
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > MAX_STRING:
            raise ValueError(f"at most {MAX_STRING} characters")
        problem = text_problem(value, prose=True)  # a free-text field: line breaks allowed, controls not
        if problem is not None:
            raise ValueError(problem)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number" if kind == "number" else "must be an integer")
        if kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
            raise ValueError("must be an integer")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be finite")
        value = int(value) if kind == "int" else value
        if spec.minimum is not None and value < spec.minimum:
            raise ValueError(f"must be at least {_num(spec.minimum)}")
        if spec.maximum is not None and value > spec.maximum:
            raise ValueError(f"must be at most {_num(spec.maximum)}")
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise ValueError("must be a date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD)") from None
    if kind == "datetime":
        return parse_datetime(value).isoformat()
    if kind == "enum":
        if not isinstance(value, str) or value not in spec.values:
            raise ValueError(f"must be one of {', '.join(spec.values)}")
        return value
    raise ValueError(f"unknown field type {kind}")


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 date-time with an offset; naive times are refused, not guessed."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time with offset")
    try:
        return parse_instant(value)
    except ValueError:
        pass
    try:
        parse_instant(value, naive_is_utc=True)
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time with offset") from None
    raise ValueError("must include a UTC offset (e.g. +00:00 or Z)")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_task_form(extension_elements) -> TaskForm:  # an lxml element or None
    """Read ``cartpath:*`` children of a task's ``bpmn:extensionElements``."""
    if extension_elements is None:
        return TaskForm()
    ns = {"c": CARTPATH_NS}
    form = extension_elements.find("c:form", ns)
    fields = []
    if form is not None:
        for node in form.findall("c:field", ns):
            fields.append(_parse_field(node))
    coi_checks = tuple(n.get("field", "") for n in extension_elements.findall("c:coiCheck", ns))
    due_node = extension_elements.find("c:due", ns)
    signed = extension_elements.find("c:signed", ns)
    return TaskForm(
        fields=tuple(fields),
        signed=signed is not None,
        witness=signed is not None and (signed.get("witness") or "false").lower() == "true",
        countersign=(signed.get("countersign") or None) if signed is not None else None,
        coi_checks=coi_checks,
        due=due_node.get("duration") if due_node is not None else None,
        declared=form is not None,
    )


def _parse_field(node) -> FormField:
    name = node.get("name") or ""
    kind = node.get("type") or ""
    if not name or kind not in FIELD_TYPES:
        raise ValueError(f"form field {name or '?'} has type {kind!r}; expected one of {', '.join(FIELD_TYPES)}")
    values = tuple(v.strip() for v in (node.get("values") or "").split(",") if v.strip())
    if kind == "enum" and not values:
        raise ValueError(f"enum field {name} declares no values")
    required = (node.get("required") or "true").lower() != "false"
    spec = FormField(name=name, type=kind, required=required, label=node.get("label") or name,
                     values=values, minimum=_float(node.get("min")), maximum=_float(node.get("max")),
                     label_fr=(node.get("label-fr") or "").strip() or None)
    default = node.get("default")
    if default is not None:
        spec = FormField(**{**asdict(spec), "values": values, "default": coerce(spec, _typed_default(kind, default))})
    return spec


def _typed_default(kind: str, text: str) -> Any:
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        return int(text)
    if kind == "number":
        return float(text)
    return text


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None
