"""What changed in the DMN decision tables between two versions, rule by rule.

The tables are read as SpiffWorkflow itself serialises them on the business rule
tasks that call them (the registry of the workflow serializer), so the diff shows
exactly what the engine will evaluate: a table no task calls decides nothing and
is not listed. Rules are matched by their DMN id (process owners' tools keep ids
when a row moves), by row number when a rule has none.
"""
from __future__ import annotations

from typing import Any

from .lint import local, parse_xml

Table = dict[str, Any]


def decision_tables(registry: Any, specs: list[Any], files: dict[str, bytes]) -> dict[str, Table]:
    """Decision id -> the table the engine evaluates (with the decision's name from its DMN file)."""
    names = _decision_names(files)
    tables: dict[str, Table] = {}
    for spec in specs:
        if getattr(spec, "dmnEngine", None) is None:  # only business rule tasks carry a table
            continue
        table = registry.convert(spec)["decision_table"]
        decision = (getattr(spec, "extensions", None) or {}).get("calledDecisionId") or table["id"]
        tables.setdefault(decision, {**table, "decision_name": names.get(decision) or table.get("name") or decision})
    return tables


def _decision_names(files: dict[str, bytes]) -> dict[str, str]:
    names: dict[str, str] = {}
    for name, content in sorted(files.items()):
        if not name.endswith(".dmn"):
            continue
        root, _ = parse_xml(name, content)
        for el in root.iter() if root is not None else ():
            if isinstance(el.tag, str) and local(el.tag) == "decision" and el.get("id"):
                names[el.get("id")] = el.get("name") or el.get("id")
    return names


def diff_decisions(old: dict[str, Table], new: dict[str, Table]) -> list[dict[str, Any]]:
    """One item per decision that was added, removed or changed, each with its sentences."""
    items = []
    for decision in sorted(old.keys() | new.keys()):
        before, after = old.get(decision), new.get(decision)
        if before is None and after is not None:
            items.append({"decision": decision, "name": after["decision_name"], "change": "added",
                          "hit_policy": after["hit_policy"], "rule_count": len(after["rules"]),
                          "sentences": [f"New decision '{decision}' ({after['decision_name']}) with "
                                        f"{len(after['rules'])} rule(s), hit policy {after['hit_policy']}"]})
        elif after is None and before is not None:
            items.append({"decision": decision, "name": before["decision_name"], "change": "removed",
                          "sentences": [f"Decision '{decision}' ({before['decision_name']}) is no longer used"]})
        elif before is not None and after is not None:
            item = _diff_table(decision, before, after)
            if item["sentences"]:
                items.append(item)
    return items


def _diff_table(decision: str, old: Table, new: Table) -> dict[str, Any]:
    said = f"Decision '{decision}'"
    sentences: list[str] = []
    item: dict[str, Any] = {"decision": decision, "name": new["decision_name"], "change": "changed"}
    if old["hit_policy"] != new["hit_policy"]:
        item["hit_policy"] = {"before": old["hit_policy"], "after": new["hit_policy"]}
        sentences.append(f"{said}: hit policy {old['hit_policy']} -> {new['hit_policy']}")
    for what, fields in (("inputs", ("label", "expression", "typeRef")), ("outputs", ("label", "name", "typeRef"))):
        columns = _diff_columns(old[what], new[what], fields)
        if any(columns.values()):
            item[what] = columns
            sentences += _column_sentences(said, what[:-1], columns)
    rules = _diff_rules(old, new)
    if any(rules.values()):
        item["rules"] = rules
        sentences += _rule_sentences(said, rules)
    item["sentences"] = sentences
    return item


def _diff_columns(old: list[dict], new: list[dict], fields: tuple[str, ...]) -> dict[str, list]:
    before = {c["id"]: c for c in old}
    after = {c["id"]: c for c in new}
    out: dict[str, list] = {"added": [], "removed": [], "changed": []}
    for cid, col in after.items():
        if cid not in before:
            out["added"].append({"id": cid, **{f: col.get(f) for f in fields}})
    for cid, col in before.items():
        if cid not in after:
            out["removed"].append({"id": cid, **{f: col.get(f) for f in fields}})
        else:
            moved = {f: {"before": col.get(f), "after": after[cid].get(f)} for f in fields
                     if col.get(f) != after[cid].get(f)}
            if moved:
                out["changed"].append({"id": cid, "label": _column_label(after[cid]), **moved})
    return out


def _column_label(column: dict) -> str:
    return column.get("label") or column.get("name") or column.get("expression") or column["id"]


def _column_sentences(said: str, kind: str, columns: dict[str, list]) -> list[str]:
    out = [f"{said}: new {kind} '{_column_label(c)}'" for c in columns["added"]]
    out += [f"{said}: {kind} '{_column_label(c)}' removed" for c in columns["removed"]]
    for c in columns["changed"]:
        parts = [f"{f} {_q(c[f]['before'])} -> {_q(c[f]['after'])}" for f in c if isinstance(c[f], dict)]
        out.append(f"{said}: {kind} '{c['label']}': {'; '.join(parts)}")
    return out


def _q(value: Any) -> str:
    return "(none)" if value in (None, "") else f"`{value}`"


def _diff_rules(old: Table, new: Table) -> dict[str, list]:
    before = _rules_by_key(old)
    after = _rules_by_key(new)
    out: dict[str, list] = {"added": [], "removed": [], "changed": []}
    for key, rule in after.items():
        if key not in before:
            out["added"].append(_rule_view(new, rule))
    for key, rule in before.items():
        if key not in after:
            out["removed"].append(_rule_view(old, rule))
            continue
        was, now = _rule_view(old, rule), _rule_view(new, after[key])
        inputs = _cells(was["when"], now["when"])
        outputs = _cells(was["then"], now["then"])
        if inputs or outputs or was["description"] != now["description"]:
            item = {"rule": now["rule"], "row_before": was["row"], "row_after": now["row"],
                    "inputs": inputs, "outputs": outputs}
            if was["description"] != now["description"]:
                item["description"] = {"before": was["description"], "after": now["description"]}
            out["changed"].append(item)
    return out


def _rules_by_key(table: Table) -> dict[str, dict]:
    return {rule.get("id") or f"row {rule['row_number']}": rule for rule in table["rules"]}


def _rule_view(table: Table, rule: dict) -> dict[str, Any]:
    """A rule as a process owner reads it: its row, `when` per input label, `then` per output label."""
    inputs = {c["id"]: _column_label(c) for c in table["inputs"]}
    outputs = {c["id"]: _column_label(c) for c in table["outputs"]}
    when = {inputs.get(e["input_id"], e["input_id"]): _entry(e.get("lhs")) for e in rule["input_entries"]}
    then = {outputs.get(e["output_id"], e["output_id"]): e.get("text") for e in rule["output_entries"]}
    return {"rule": rule.get("id") or f"row {rule['row_number']}", "row": rule["row_number"],
            "description": rule.get("description") or "", "when": when, "then": then}


def _entry(lhs: list | None) -> str:
    """An input cell's text; '-' (any value) for an empty cell, as DMN editors show it."""
    texts = [t for t in (lhs or []) if t not in (None, "")]
    return ", ".join(texts) if texts else "-"


def _cells(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"column": label, "before": before.get(label), "after": after.get(label)}
            for label in list(before) + [k for k in after if k not in before]
            if before.get(label) != after.get(label)]


def _conditions(when: dict[str, str]) -> str:
    parts = [f"{label} {text}" for label, text in when.items() if text != "-"]
    return ", ".join(parts) if parts else "always"


def _results(then: dict[str, Any]) -> str:
    return ", ".join(f"{label} {value}" for label, value in then.items())


def _rule_sentences(said: str, rules: dict[str, list]) -> list[str]:
    out = [f"{said}: new rule {r['row']}: when {_conditions(r['when'])} then {_results(r['then'])}"
           for r in rules["added"]]
    out += [f"{said}: rule {r['row']} removed (it said: when {_conditions(r['when'])} then {_results(r['then'])})"
            for r in rules["removed"]]
    for r in rules["changed"]:
        parts = [f"{c['column']} {c['before']} -> {c['after']}" for c in r["inputs"]]
        parts += [f"{c['column']} {c['before']} -> {c['after']}" for c in r["outputs"]]
        if not parts:
            parts = [f"description '{r['description']['before']}' -> '{r['description']['after']}'"]
        out.append(f"{said}: rule {r['row_after']} changed: {'; '.join(parts)}")
    return out
