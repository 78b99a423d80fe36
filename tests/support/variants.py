"""Variants of the bundled processes, derived at test time from processes/ (so they follow it):
what a process owner does to a running system: a DMN threshold, a task removed, a field
added or retyped, a timer moved, a flow's condition changed.

Each helper takes a file set ``{name: bytes}`` and returns a new one; the files stay
deployable (lanes, DI shapes and edges are kept consistent), so the same variants serve
the unit tests (parsed only) and the end-to-end tests (deployed)."""
from __future__ import annotations

from lxml import etree

from cartpath.engine.lint import NS, local
from tests.support.store import ROOT

BPMN = "cart_pathway.bpmn"


def bundled() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((ROOT / "processes").iterdir()) if p.suffix in (".bpmn", ".dmn")}


def _edit(files: dict[str, bytes], name: str, change) -> dict[str, bytes]:
    root = etree.fromstring(files[name])
    change(root)
    return {**files, name: etree.tostring(root, xml_declaration=True, encoding="UTF-8")}


def _by_id(root, element_id: str):
    found = root.xpath("//*[@id=$id]", id=element_id)
    assert len(found) == 1, f"no single element {element_id!r}"
    return found[0]


def dmn_cell(files: dict[str, bytes], cell_id: str, text: str, name: str = "crs_grade.dmn") -> dict[str, bytes]:
    """One input or output cell of a decision table rewritten (e.g. ``crs_grade_rule_3_in_1`` -> ``>= 38.5``)."""
    def change(root):
        _by_id(root, cell_id).find("{*}text").text = text
    return _edit(files, name, change)


def dmn_rule_removed(files: dict[str, bytes], rule_id: str, name: str = "crs_grade.dmn") -> dict[str, bytes]:
    def change(root):
        rule = _by_id(root, rule_id)
        rule.getparent().remove(rule)
    return _edit(files, name, change)


def task_removed(files: dict[str, bytes], task_id: str) -> dict[str, bytes]:
    """A node with one way in and one way out removed; the way in now leads where the way out led."""
    def change(root):
        node = _by_id(root, task_id)
        (into,) = root.xpath("//bpmn:sequenceFlow[@targetRef=$id]", namespaces=NS, id=task_id)
        (out,) = root.xpath("//bpmn:sequenceFlow[@sourceRef=$id]", namespaces=NS, id=task_id)
        into.set("targetRef", out.get("targetRef"))
        target = _by_id(root, out.get("targetRef"))
        for ref in target.iterfind("bpmn:incoming", NS):
            if ref.text == out.get("id"):
                ref.text = into.get("id")
        for gone in (node, out, *root.xpath("//bpmn:flowNodeRef[text()=$id]", namespaces=NS, id=task_id),
                     *root.xpath("//*[@bpmnElement=$a or @bpmnElement=$b]", a=task_id, b=out.get("id"))):
            gone.getparent().remove(gone)
    return _edit(files, BPMN, change)


def field_added(files: dict[str, bytes], task_id: str, field: str, kind: str, *, required: bool) -> dict[str, bytes]:
    def change(root):
        form = _by_id(root, task_id).find("bpmn:extensionElements/c:form", NS)
        etree.SubElement(form, f"{{{NS['c']}}}field", name=field, type=kind,
                         required="true" if required else "false", label=field.replace("_", " "))
    return _edit(files, BPMN, change)


def field_changed(files: dict[str, bytes], task_id: str, field: str, **attributes: str) -> dict[str, bytes]:
    """Attributes of one form field rewritten (``type="number"``, ``required="false"``, ``values=...``)."""
    def change(root):
        (node,) = [f for f in _by_id(root, task_id).iterfind("bpmn:extensionElements/c:form/c:field", NS)
                   if f.get("name") == field]
        for key, value in attributes.items():
            node.set(key, value)
    return _edit(files, BPMN, change)


def timer_expression(files: dict[str, bytes], timer_id: str, expression: str) -> dict[str, bytes]:
    def change(root):
        definition = _by_id(root, timer_id).find("bpmn:timerEventDefinition", NS)
        (expr,) = [c for c in definition if isinstance(c.tag, str)]
        expr.text = expression
    return _edit(files, BPMN, change)


def timer_kind(files: dict[str, bytes], timer_id: str, kind: str, expression: str) -> dict[str, bytes]:
    """A timer turned into another kind (``timeDuration``, ``timeDate``, ``timeCycle``)."""
    def change(root):
        definition = _by_id(root, timer_id).find("bpmn:timerEventDefinition", NS)
        (expr,) = [c for c in definition if isinstance(c.tag, str)]
        expr.tag = f"{{{NS['bpmn']}}}{kind}"
        expr.text = expression
    return _edit(files, BPMN, change)


def flow_condition(files: dict[str, bytes], flow_id: str, condition: str) -> dict[str, bytes]:
    def change(root):
        _by_id(root, flow_id).find("bpmn:conditionExpression", NS).text = condition
    return _edit(files, BPMN, change)


def task_renamed(files: dict[str, bytes], task_id: str, name: str) -> dict[str, bytes]:
    def change(root):
        _by_id(root, task_id).set("name", name)
    return _edit(files, BPMN, change)


def flow_ids(files: dict[str, bytes], source: str) -> list[str]:
    root = etree.fromstring(files[BPMN])
    return [f.get("id") for f in root.iter() if isinstance(f.tag, str) and local(f.tag) == "sequenceFlow"
            and f.get("sourceRef") == source]
