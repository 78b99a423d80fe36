"""What changed between two versions of a process definition, in a process owner's words.

SpiffWorkflow's own ``SpecDiff`` aligns the task specs of the two versions (by BPMN id,
then by structure) and names the attributes that changed; it is the same alignment
``migrate_workflow`` uses, so what this diff calls removed or changed is what a
migration has to care about. SpiffWorkflow does not know cartpath's extensions
(forms, signatures, due times), and it folds the timers that follow an event-based
gateway into the gateway, so those, the sequence flows' conditions and the timer
expressions are read from the BPMN itself; DMN tables come from ``decision_diff``.

Every change is also one sentence (``changes``), e.g.
``Task 'Thaw and dispense product' (thaw_product): field 'thaw_ended_at' is now required``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, diff_dependencies

from .decision_diff import decision_tables, diff_decisions
from .definitions import SERIALIZER, ProcessModel, parse_model, top_level_processes
from .form_diff import diff_forms, duration_words
from .lint import NS, local, parse_xml

Files = Mapping[str, bytes | str]
Source = ProcessModel | Files

# SpiffWorkflow's serialised attribute -> the aspect a process owner recognises
ASPECTS = {"bpmn_name": "name", "lane": "lane", "typename": "type", "inputs": "flows", "outputs": "flows",
           "cond_task_specs": "flows", "default_task_spec": "flows", "choice": "flows", "script": "script",
           "prescript": "script", "postscript": "script", "event_definition": "event",
           "decision_table": "decision", "documentation": "documentation"}
# aspects whose own section of the diff says what changed (no sentence on the node itself)
TOLD_ELSEWHERE = {"flows", "decision", "form", "timer", "event"}
KINDS = {"userTask": "Task", "manualTask": "Manual task", "scriptTask": "Script step", "task": "Step",
         "businessRuleTask": "Decision step", "serviceTask": "Service step", "sendTask": "Send step",
         "receiveTask": "Wait", "callActivity": "Call", "subProcess": "Subprocess", "startEvent": "Start",
         "endEvent": "End", "intermediateCatchEvent": "Event", "intermediateThrowEvent": "Event",
         "boundaryEvent": "Boundary event", "exclusiveGateway": "Gateway", "parallelGateway": "Gateway",
         "inclusiveGateway": "Gateway", "eventBasedGateway": "Gateway"}
NODE_SENTENCES = {"name": "{said} renamed to '{after}'", "lane": "{said} moved from lane '{before}' to lane '{after}'",
                  "type": "{said} is now a {after} (was a {before})",
                  "message": "{said} now waits for message '{after}' (was '{before}')",
                  "process": "{said} moved from '{before}' to '{after}'", "script": "{said}: its script changed",
                  "documentation": "{said}: its description changed"}
TIMER_KINDS = {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}


def diff_versions(old: Source, new: Source, *, key: str | None = None) -> dict[str, Any]:
    """Compare two versions of one process: parsed models (``ProcessModel``) or their files.

    Returns ``{key, from_version, to_version, identical, summary, nodes: {added, removed, changed},
    flows: {added, removed, changed}, forms, timers, decisions, changes}``; ``changes`` lists
    one sentence per change. ``nodes.changed[*].new_id`` is set when SpiffWorkflow aligned a
    node with a different id in the new version (a candidate task mapping for a migration).
    """
    before = _as_model(old, key)
    after = _as_model(new, key or before.key)
    old_xml, new_xml = _read_bpmn(before.files), _read_bpmn(after.files)
    nodes, alignment = _diff_nodes(before, after)
    timers = _diff_timers(before, after, old_xml["timers"], new_xml["timers"], alignment)
    flows, flow_sentences = _diff_flows(before, after, _through(old_xml["flows"], alignment), new_xml["flows"])
    forms = diff_forms(before.forms, after.forms, alignment, after.titles)
    decisions = diff_decisions(decision_tables(SERIALIZER.registry, _specs(before), before.files),
                               decision_tables(SERIALIZER.registry, _specs(after), after.files))
    _mark(nodes, {f["task"] for f in forms}, "form", before, after)
    _mark(nodes, {t["node"] for t in timers if t["change"] == "changed"}, "timer", before, after)
    _mark_messages(nodes, before, after, old_xml["messages"], new_xml["messages"], alignment)
    changes = (_node_sentences(nodes) + flow_sentences + [f["sentence"] for f in forms]
               + [t["sentence"] for t in timers] + [s for d in decisions for s in d["sentences"]])
    summary = {"nodes_added": len(nodes["added"]), "nodes_removed": len(nodes["removed"]),
               "nodes_changed": len(nodes["changed"]), "flows_added": len(flows["added"]),
               "flows_removed": len(flows["removed"]), "flows_changed": len(flows["changed"]),
               "form_changes": len(forms), "timer_changes": len(timers), "decisions_changed": len(decisions),
               "rule_changes": sum(len(d["rules"][k]) for d in decisions if "rules" in d
                                   for k in ("added", "removed", "changed")),
               "changes": len(changes)}
    return {"key": after.key, "from_version": _version(old, before), "to_version": _version(new, after),
            "identical": before.sha256 == after.sha256, "summary": summary, "nodes": nodes, "flows": flows,
            "forms": forms, "timers": timers, "decisions": decisions, "changes": changes}


def diff_lines(result: dict[str, Any]) -> list[str]:
    """A diff as a person reads it in a terminal: a heading with the counts, then one line per change."""
    ends = [f"version {n}" if n is not None else "the files" for n in (result["from_version"], result["to_version"])]
    versions = f"{result['key']} {ends[0]} -> {ends[1]}"
    if not result["changes"]:
        same = "the same files" if result["identical"] else "no change the engine would see"
        return [f"{versions}: {same}"]
    counts = result["summary"]
    parts = [f"{counts[k]} {word}" for k, word in (
        ("nodes_added", "node(s) added"), ("nodes_removed", "node(s) removed"), ("nodes_changed", "node(s) changed"),
        ("flows_added", "path(s) added"), ("flows_removed", "path(s) removed"), ("flows_changed", "path(s) changed"),
        ("form_changes", "form change(s)"), ("timer_changes", "timer change(s)"),
        ("decisions_changed", "decision(s) changed"), ("rule_changes", "rule change(s)")) if counts[k]]
    return [f"{versions}: {counts['changes']} change(s) ({', '.join(parts)})"] + [
        f"  - {sentence}" for sentence in result["changes"]]


def _as_model(source: Source, key: str | None) -> ProcessModel:
    if isinstance(source, ProcessModel):
        return source
    files = {n: (c.encode("utf-8") if isinstance(c, str) else c) for n, c in source.items()}
    if key is None:
        keys = top_level_processes(files)
        if len(keys) != 1:
            raise ValueError(f"the files define {len(keys)} top-level processes ({', '.join(keys)}): name the key")
        key = keys[0]
    return parse_model(key, 0, files)


def _version(source: Source, model: ProcessModel) -> int | None:
    return model.version if isinstance(source, ProcessModel) else None


def _specs(model: ProcessModel) -> list[Any]:
    return list(model.spec.task_specs.values()) + [
        s for name in sorted(model.subprocess_specs) for s in model.subprocess_specs[name].task_specs.values()]


# -- nodes: SpiffWorkflow's alignment ----------------------------------------------------------------
def _diff_nodes(old: ProcessModel, new: ProcessModel) -> tuple[dict[str, list], dict[str, str | None]]:
    """Nodes added/removed/changed, and the alignment old id -> new id (None: removed)."""
    diffs = [(old.key, SpecDiff(SERIALIZER.registry, old.spec, new.spec))]
    by_name, fresh = diff_dependencies(SERIALIZER.registry, old.subprocess_specs, new.subprocess_specs)
    added: dict[str, dict] = {}
    removed: dict[str, dict] = {}
    changed: dict[str, dict] = {}
    alignment: dict[str, str | None] = {}
    for name in sorted(by_name):
        spec_diff = by_name[name]
        if spec_diff is None:  # the whole subprocess is gone
            for spec in _bpmn(old.subprocess_specs[name].task_specs.values()):
                removed[spec.name] = _node(old, spec, name)
                alignment[spec.name] = None
        else:
            diffs.append((name, spec_diff))
    for name in fresh:
        for spec in _bpmn(new.subprocess_specs[name].task_specs.values()):
            added[spec.name] = _node(new, spec, name)
    for process, spec_diff in diffs:
        for spec in _bpmn(spec_diff.added):
            added[spec.name] = _node(new, spec, process)
        for spec in _bpmn(spec_diff.removed):
            removed[spec.name] = _node(old, spec, process)
            alignment[spec.name] = None
        for spec, target in spec_diff.alignment.items():
            if spec is None or target is None or getattr(spec, "bpmn_id", None) is None:
                continue
            alignment[spec.name] = target.name
            aspects = sorted({ASPECTS.get(attr, attr) for attr in spec_diff.comparisons.get(spec, [])})
            if aspects or target.name != spec.name:
                changed[spec.name] = _changed_node(old, new, spec, target, process, aspects)
    # a node that moved into another subprocess is one node that changed, not one removed and one added
    for node_id in sorted(added.keys() & removed.keys()):
        was, now = removed.pop(node_id), added.pop(node_id)
        changed[node_id] = {**now, "changes": ["process"], "before": {"process": was["process"]},
                            "after": {"process": now["process"]}}
        alignment[node_id] = node_id
    return ({"added": _sorted(added), "removed": _sorted(removed), "changed": _sorted(changed)}, alignment)


def _bpmn(specs) -> list[Any]:
    """Only the specs that are BPMN elements (SpiffWorkflow adds Start, End, joins and splits of its own)."""
    return [s for s in specs if getattr(s, "bpmn_id", None) is not None]


def _sorted(nodes: dict[str, dict]) -> list[dict]:
    return [nodes[k] for k in sorted(nodes)]


def _node(model: ProcessModel, spec: Any, process: str) -> dict[str, Any]:
    return {"id": spec.name, "name": model.titles.get(spec.name) or spec.bpmn_name or spec.name,
            "type": model.kinds.get(spec.name) or type(spec).__name__,
            "lane": model.lanes.get(spec.name) or getattr(spec, "lane", None), "process": process}


def _changed_node(old: ProcessModel, new: ProcessModel, spec: Any, target: Any, process: str,
                  aspects: list[str]) -> dict[str, Any]:
    was, now = _node(old, spec, process), _node(new, target, process)
    item = {**was, "changes": aspects, "before": {}, "after": {}}
    for field in ("name", "type", "lane"):
        if was[field] != now[field]:
            item["before"][field], item["after"][field] = was[field], now[field]
            if field not in aspects:
                aspects.append(field)
    if target.name != spec.name:
        item["new_id"] = target.name
    aspects.sort()
    return item


def _mark(nodes: dict[str, list], ids: set[str], aspect: str, old: ProcessModel, new: ProcessModel) -> None:
    """Add a cartpath-only aspect (form, timer, message) to nodes, listing them as changed if needed."""
    listed = {n["id"]: n for n in nodes["changed"]}
    gone_or_new = {n["id"] for n in nodes["added"] + nodes["removed"]}
    for node_id in sorted(ids - gone_or_new):
        node = listed.get(node_id)
        if node is None:
            node = {"id": node_id, **_describe(old, new, node_id), "changes": [], "before": {}, "after": {}}
            nodes["changed"].append(node)
            listed[node_id] = node
        if aspect not in node["changes"]:
            node["changes"] = sorted(node["changes"] + [aspect])
    nodes["changed"].sort(key=lambda n: n["id"])


def _mark_messages(nodes, old: ProcessModel, new: ProcessModel, before: dict[str, str], after: dict[str, str],
                   alignment: dict[str, str | None]) -> None:
    moved = {}
    for node_id, message in before.items():
        target = alignment.get(node_id, node_id)
        if target is not None and target in after and after[target] != message:
            moved[node_id] = (message, after[target])
    _mark(nodes, set(moved), "message", old, new)
    for node in nodes["changed"]:
        if node["id"] in moved:
            node["before"]["message"], node["after"]["message"] = moved[node["id"]]


def _describe(old: ProcessModel, new: ProcessModel, node_id: str) -> dict[str, Any]:
    model = old if node_id in old.kinds else new
    return {"name": model.titles.get(node_id, node_id), "type": model.kinds.get(node_id, "?"),
            "lane": model.lanes.get(node_id), "process": _process_of(model, node_id)}


def _process_of(model: ProcessModel, node_id: str) -> str:
    for name, spec in model.subprocess_specs.items():
        if node_id in spec.task_specs:
            return name
    return model.key


def label(kind: str, node_id: str, title: str, *, timer: bool = False) -> str:
    """How a sentence names a node: ``Task 'Thaw and dispense product' (thaw_product)``."""
    word = "Timer" if timer else KINDS.get(kind, kind)
    return f"{word} {node_id}" if title in ("", node_id) else f"{word} '{title}' ({node_id})"


def _node_sentences(nodes: dict[str, list]) -> list[str]:
    out = []
    for node in nodes["added"]:
        lane = f" in lane '{node['lane']}'" if node.get("lane") else ""
        out.append(f"New {_name(node)}{lane}")
    for node in nodes["removed"]:
        out.append(f"{_name(node)} removed")
    for node in nodes["changed"]:
        said = _name(node)
        if "new_id" in node:
            out.append(f"{said} is now {node['new_id']}")
        for aspect in node["changes"]:
            if aspect in TOLD_ELSEWHERE:
                continue
            before, after = node["before"].get(aspect), node["after"].get(aspect)
            if aspect == "type":
                before, after = KINDS.get(before, before), KINDS.get(after, after)
            template = NODE_SENTENCES.get(aspect, "{said}: {aspect} changed")
            out.append(template.format(said=said, aspect=aspect, before=before, after=after))
    return out


def _name(node: dict[str, Any]) -> str:
    return label(node.get("type", ""), node["id"], node.get("name", node["id"]))


# -- the BPMN itself: flows, timers, messages ---------------------------------------------------------
def _read_bpmn(files: dict[str, bytes]) -> dict[str, dict]:
    flows: dict[tuple[str, str], dict] = {}
    timers: dict[str, dict] = {}
    messages: dict[str, str] = {}
    for name in sorted(files):
        if not name.endswith(".bpmn"):
            continue
        root, _ = parse_xml(name, files[name])
        if root is None:
            continue
        names = {m.get("id"): m.get("name") or m.get("id") for m in root.iterfind(".//bpmn:message", NS)}
        defaults = {el.get("default") for el in root.iter() if el.get("default")}
        for el in root.iterfind(".//bpmn:sequenceFlow", NS):
            condition = el.find("bpmn:conditionExpression", NS)
            flows[(el.get("sourceRef"), el.get("targetRef"))] = {
                "id": el.get("id"), "source": el.get("sourceRef"), "target": el.get("targetRef"),
                "condition": (condition.text or "").strip() or None if condition is not None else None,
                "default": el.get("id") in defaults}
        for definition in root.iterfind(".//bpmn:timerEventDefinition", NS):
            node = definition.getparent()
            expression = next((c for c in definition if isinstance(c.tag, str) and local(c.tag) in TIMER_KINDS), None)
            timers[node.get("id")] = {
                "kind": TIMER_KINDS[local(expression.tag)] if expression is not None else None,
                "expression": (expression.text or "").strip() if expression is not None else None,
                "attached_to": node.get("attachedToRef"),
                "interrupting": node.get("cancelActivity", "true").lower() == "true"
                if node.get("attachedToRef") else None}
        for definition in root.iterfind(".//bpmn:messageEventDefinition", NS):
            messages[definition.getparent().get("id")] = names.get(definition.get("messageRef"), "")
        for el in root.iterfind(".//bpmn:receiveTask", NS):
            messages[el.get("id")] = names.get(el.get("messageRef"), "")
    return {"flows": flows, "timers": timers, "messages": messages}


def _through(flows: dict[tuple[str, str], dict], alignment: dict[str, str | None]) -> dict[tuple[str, str], dict]:
    """Old flows keyed by the new ids of their ends, so a node whose id changed keeps its paths."""
    def new_id(node_id: str) -> str:
        return alignment.get(node_id) or node_id
    return {(new_id(source), new_id(target)): flow for (source, target), flow in flows.items()}


def _diff_flows(old: ProcessModel, new: ProcessModel, before: dict, after: dict) -> tuple[dict[str, list], list[str]]:
    """Sequence flows matched by (source, target): their ids are often generated, their ends are not."""
    out: dict[str, list] = {"added": [], "removed": [], "changed": []}
    sentences: list[str] = []

    def path(model: ProcessModel, flow: dict) -> str:
        return f"path from {_titled(model, flow['source'])} to {_titled(model, flow['target'])}"

    for pair in sorted(after.keys() - before.keys()):
        flow = dict(after[pair])
        out["added"].append(flow)
        when = f" when `{flow['condition']}`" if flow["condition"] else ""
        default = " (the default path)" if flow["default"] else ""
        sentences.append(f"New {path(new, flow)}{when}{default}")
    for pair in sorted(before.keys() - after.keys()):
        flow = dict(before[pair])
        out["removed"].append(flow)
        sentences.append(f"{_cap(path(old, flow))} removed")
    for pair in sorted(before.keys() & after.keys()):
        was, now = before[pair], after[pair]
        if was["condition"] == now["condition"] and was["default"] == now["default"]:
            continue
        out["changed"].append({"id": now["id"], "source": now["source"], "target": now["target"],
                               "condition_before": was["condition"], "condition_after": now["condition"],
                               "default_before": was["default"], "default_after": now["default"]})
        said = _cap(path(new, now))
        if was["condition"] != now["condition"]:
            if now["condition"] is None:
                text = f"{said}: no longer conditional (was `{was['condition']}`)"
            elif was["condition"] is None:
                text = f"{said}: now only when `{now['condition']}`"
            else:
                text = f"{said}: condition `{was['condition']}` -> `{now['condition']}`"
            sentences.append(text)
        if was["default"] != now["default"]:
            sentences.append(f"{said}: {'now' if now['default'] else 'no longer'} the default path")
    return out, sentences


def _titled(model: ProcessModel, node_id: str) -> str:
    title = model.titles.get(node_id, node_id)
    return node_id if title == node_id else f"'{title}' ({node_id})"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _diff_timers(old: ProcessModel, new: ProcessModel, before: dict[str, dict], after: dict[str, dict],
                 alignment: dict[str, str | None]) -> list[dict[str, Any]]:
    out = []
    matched = set()
    for node_id in sorted(before):
        target = alignment.get(node_id, node_id)
        was = before[node_id]
        said = label("", node_id, old.titles.get(node_id, node_id), timer=True)
        if target is None or target not in after:
            out.append({"node": node_id, "name": old.titles.get(node_id, node_id), "change": "removed",
                        "before": was, "after": None, "sentence": f"{said} removed (it was {_when(was)})"})
            continue
        matched.add(target)
        now = after[target]
        if was == now:
            continue
        parts = []
        if (was["kind"], was["expression"]) != (now["kind"], now["expression"]):
            then = _when(now)
            parts.append(f"{_when(was)} -> {then.split(' ', 1)[1] if was['kind'] == now['kind'] else then}")
        if was["attached_to"] != now["attached_to"]:
            parts.append(f"now on {_titled(new, now['attached_to'])} (was on {_titled(old, was['attached_to'])})"
                         if now["attached_to"] and was["attached_to"] else "attachment changed")
        if was["interrupting"] != now["interrupting"]:
            parts.append("now interrupts the task" if now["interrupting"] else "no longer interrupts the task")
        out.append({"node": node_id, "name": new.titles.get(target, target), "change": "changed",
                    "before": was, "after": now, "sentence": f"{said}: {'; '.join(parts)}"})
    for node_id in sorted(set(after) - matched):
        now = after[node_id]
        said = label("", node_id, new.titles.get(node_id, node_id), timer=True)
        out.append({"node": node_id, "name": new.titles.get(node_id, node_id), "change": "added",
                    "before": None, "after": now, "sentence": f"New {said}: {_when(now)}"})
    return out


def _when(timer: dict[str, Any]) -> str:
    expression = timer["expression"] or ""
    if timer["kind"] in ("duration", "cycle"):
        words = duration_words(expression.strip("\"'"))
        if words:
            return f"{timer['kind']} {words}"
    return f"{timer['kind']} `{expression}`"
