"""Which recorded fields a model's decisions read: what makes a correction ``decided_on_corrected_data``.

A correction never re-runs the engine (the pathway went where the data said at the
time), so the auditor must be told when the corrected field may have steered it. A
node *reads* a field when one of its expressions indexes it by name (``x["field"]``):
a gateway's outgoing conditions, a script (scripts copy task data into the names the
decisions read, e.g. ``assessment``), a timer's expression, or the input expressions
of the DMN decision a business rule task calls. That is a deliberately wide net: a
field of the same name in another task also counts, so the flag may say "possibly" but
never misses a decision that read the field.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from .definitions import ProcessModel
from .lint import BPMN_NS, local, parse_xml

_TEXT_TAGS = {"conditionExpression", "script", "preScript", "postScript", "timeDate", "timeDuration", "timeCycle"}
_cache: dict[str, dict[str, str]] = {}
_lock = threading.Lock()


def node_texts(model: ProcessModel) -> dict[str, str]:
    """Node id -> the text of every expression it evaluates (cached per definition fingerprint)."""
    with _lock:
        found = _cache.get(model.sha256)
    if found is not None:
        return found
    texts: dict[str, list[str]] = {}
    dmn_inputs: dict[str, list[str]] = {}
    for name in sorted(model.files):
        root, _ = parse_xml(name, model.files[name])
        if root is None:
            continue
        if name.endswith(".dmn"):
            for decision in root.iter():
                if local(decision.tag) == "decision":
                    dmn_inputs[decision.get("id") or ""] = [
                        el.text or "" for el in decision.iter() if local(el.tag) == "text"
                        and el.getparent() is not None and local(el.getparent().tag) == "inputExpression"]
            continue
        for el in root.iter():
            tag = local(el.tag) if isinstance(el.tag, str) else ""
            if tag not in _TEXT_TAGS:
                continue
            owner = _owner(el)
            if owner is not None:
                texts.setdefault(owner, []).append(el.text or "")
    for node, decision in model.decisions.items():
        texts.setdefault(node, []).extend(dmn_inputs.get(decision, []))
    result = {node: "\n".join(parts) for node, parts in texts.items()}
    with _lock:
        _cache[model.sha256] = result
    return result


def reads_field(text: str, field: str) -> bool:
    return re.search(r"\[\s*(['\"])" + re.escape(field) + r"\1\s*\]", text) is not None


def decided_on(model: ProcessModel, field: str, later_nodes: Iterable[str]) -> bool:
    """Whether a node completed after the task (``later_nodes``) read ``field``."""
    texts = node_texts(model)
    return any(reads_field(texts.get(node, ""), field) for node in later_nodes)


def _owner(el) -> str | None:
    """The flow node an expression belongs to: a flow's condition belongs to its source (the gateway)."""
    node = el.getparent()
    while node is not None:
        tag = local(node.tag)
        if tag == "sequenceFlow":
            return node.get("sourceRef")
        if tag in ("scriptTask", "businessRuleTask", "userTask", "task", "serviceTask", "sendTask", "receiveTask",
                   "intermediateCatchEvent", "boundaryEvent", "startEvent", "intermediateThrowEvent", "endEvent",
                   "callActivity", "subProcess") and node.get("id") and node.tag.startswith(f"{{{BPMN_NS}}}"):
            return node.get("id")
        node = node.getparent()
    return None
