"""Checks a set of BPMN/DMN files before it may be deployed (``cartpath lint``).

The files are untrusted: they are parsed with a hardened parser (no DTD, no
entities, no network, a size cap) before SpiffWorkflow ever sees them. Every
problem names its file and line so a process owner can find it.
"""
from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from . import sandbox, timer_lint
from .decision_cells import validate_cell
from .forms import CARTPATH_NS, parse_task_form

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DMN_NSS = ("https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20180521/MODEL/",
           "https://www.omg.org/spec/DMN/20180521/MODEL/", "http://www.omg.org/spec/DMN/20151101/dmn.xsd")
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "c": CARTPATH_NS, "spiff": SPIFF_NS}
MAX_FILE_BYTES = 2 * 1024 * 1024

DEFAULT_LANES = ("coordination", "hematology", "apheresis", "pharmacy", "cell_therapy_unit", "ward",
                 "icu", "manufacturer")

FLOW_NODE_TAGS = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway",
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "message": self.message}

    def __str__(self) -> str:
        return f"{self.file}:{self.line or '?'}: {self.message}"


class _HardenedParser:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=False, dtd_validation=False)


def parse_xml(name: str, content: bytes) -> tuple[etree._Element | None, list[Problem]]:
    """Parse untrusted XML or say why not. DTDs are refused outright: they are
    how external entities and entity expansion ("billion laughs") get in."""
    if len(content) > MAX_FILE_BYTES:
        return None, [Problem(name, None, f"file is larger than {MAX_FILE_BYTES // 1024} KiB")]
    head = content[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in content.lower():
        line = content[: max(content.lower().find(b"<!doctype"), content.lower().find(b"<!entity"), 0)].count(b"\n") + 1
        return None, [Problem(name, line, "DOCTYPE/ENTITY declarations are not allowed in process files")]
    try:
        root = etree.fromstring(content, parser=_HardenedParser.parser)
    except etree.XMLSyntaxError as err:
        return None, [Problem(name, err.lineno, f"malformed XML: {err.msg}")]
    if root.getroottree().docinfo.internalDTD is not None:
        return None, [Problem(name, 1, "DOCTYPE declarations are not allowed in process files")]
    return root, []


def local(tag) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def lint_files(files: dict[str, bytes], lanes: Iterable[str] = DEFAULT_LANES, *, require_forms: bool = True,
               require_di: bool = True) -> list[Problem]:
    """Every convention a deployable file set must meet; [] means deployable."""
    problems: list[Problem] = []
    lanes = set(lanes)
    bpmn_docs: dict[str, etree._Element] = {}
    for name, content in files.items():
        root, errs = parse_xml(name, content)
        problems += errs
        if root is None:
            continue
        ns = etree.QName(root).namespace
        if name.endswith(".dmn") or ns in DMN_NSS or local(root.tag) == "definitions" and ns != BPMN_NS:
            problems += _lint_dmn(name, root)
        elif ns == BPMN_NS:
            bpmn_docs[name] = root
        else:
            problems.append(Problem(name, root.sourceline, f"not a BPMN or DMN document (root namespace {ns})"))
    if not bpmn_docs and not problems:
        problems.append(Problem("(set)", None, "no BPMN file in the set"))
    for name, root in bpmn_docs.items():
        problems += _lint_bpmn(name, root, lanes, require_forms, require_di)
    return problems


def _lint_dmn(name: str, root) -> list[Problem]:
    problems = []
    for el in root.iter():
        tag = local(el.tag)
        if tag in ("inputExpression", "outputEntry", "inputEntry"):
            text_el = next((c for c in el if local(c.tag) == "text"), None)
            text = (text_el.text or "").strip() if text_el is not None else ""
            if not text or text == "-":
                continue
            try:
                if tag == "inputEntry":
                    validate_cell(text)
                else:
                    sandbox.validate_expression(text)
            except sandbox.ScriptRefused as err:
                what = f"DMN {tag} {el.get('id')}" if el.get("id") else "DMN expression"
                problems.append(Problem(name, el.sourceline, f"{what} {quoted(text)}: {err}"))
    return problems


def quoted(text: str, limit: int = 60) -> str:
    """A source quoted in a problem: never the whole of a hostile megabyte."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def _lint_bpmn(name: str, root, lanes: set[str], require_forms: bool, require_di: bool) -> list[Problem]:
    problems: list[Problem] = []

    def say(el, message):
        problems.append(Problem(name, el.sourceline if el is not None else None, message))

    correlated_messages = {
        expr.get("messageRef")
        for expr in root.iterfind(".//bpmn:correlationPropertyRetrievalExpression", NS)
    }
    correlated_messages |= {
        el.getparent().getparent().get("messageRef") if el.getparent() is not None else None
        for el in root.iterfind(".//spiff:processVariableCorrelation", NS)
    }
    lane_of: dict[str, str] = {}
    for lane in root.iterfind(".//bpmn:lane", NS):
        lane_name = lane.get("name") or lane.get("id")
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lane_of[(ref.text or "").strip()] = lane_name
    di_ids = {s.get("bpmnElement") for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    di_ids |= {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}

    for process in root.iterfind("bpmn:process", NS):
        nodes = {el.get("id"): el for el in process.iter() if local(el.tag) in FLOW_NODE_TAGS}
        for node_id, el in nodes.items():
            tag = local(el.tag)
            if require_di and node_id not in di_ids:
                say(el, f"{tag} {node_id} has no diagram shape (BPMNDI)")
            if tag == "userTask":
                if node_id not in lane_of:
                    say(el, f"user task {node_id} is in no lane")
                elif lane_of[node_id] not in lanes:
                    say(el, f"user task {node_id} is in lane {lane_of[node_id]!r}, which is not configured "
                            f"(known lanes: {', '.join(sorted(lanes))})")
                ext = el.find("bpmn:extensionElements", NS)
                try:
                    form = parse_task_form(ext)
                except ValueError as err:
                    say(el, f"user task {node_id}: {err}")
                else:
                    if require_forms and not form.declared:
                        say(el, f"user task {node_id} declares no cartpath:form")
                    names = {f.name for f in form.fields}
                    for coi_field in form.coi_checks:
                        if coi_field not in names:
                            say(el, f"user task {node_id}: coiCheck names unknown field {coi_field!r}")
                    if form.due:
                        _check_duration(form.due, el, say, f"due duration of {node_id}")
            for ev in el.iterfind("bpmn:messageEventDefinition", NS):
                catching = tag in ("startEvent", "intermediateCatchEvent", "boundaryEvent")
                if catching and ev.get("messageRef") not in correlated_messages:
                    say(ev, f"message catch {node_id} has no correlation keys: it would accept "
                            f"a message meant for any patient")
            if tag == "receiveTask" and el.get("messageRef") not in correlated_messages:
                say(el, f"receive task {node_id} has no correlation keys")
            for timer in el.iterfind("bpmn:timerEventDefinition", NS):
                for expr in timer:
                    kind = local(expr.tag)
                    text = (expr.text or "").strip()
                    try:
                        sandbox.validate_expression(text)
                    except sandbox.ScriptRefused as err:
                        say(expr, f"timer {node_id} {kind} {quoted(text)} does not parse: {err}")
                        continue
                    literal = timer_lint.string_literal(text)
                    if literal is not None:
                        _check_timer_literal(kind, literal, expr, say, f"timer {node_id}")
            if tag == "scriptTask":
                script = el.find("bpmn:script", NS)
                try:
                    sandbox.validate_script((script.text or "") if script is not None else "")
                except sandbox.ScriptRefused as err:
                    say(script if script is not None else el, f"script task {node_id}: {err}")
        for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
            if require_di and flow.get("id") not in di_ids:
                say(flow, f"sequence flow {flow.get('id')} has no diagram edge (BPMNDI)")
            cond = flow.find("bpmn:conditionExpression", NS)
            if cond is not None:
                try:
                    sandbox.validate_expression(cond.text or "")
                except sandbox.ScriptRefused as err:
                    say(cond, f"condition on {flow.get('id')}: {err}")
        for payload in process.iter(f"{{{SPIFF_NS}}}messagePayload"):
            try:
                sandbox.validate_expression(payload.text or "")
            except sandbox.ScriptRefused as err:
                say(payload, f"message payload: {err}")
        for unreachable in _unreachable(process, nodes):
            say(nodes[unreachable],
                f"{local(nodes[unreachable].tag)} {unreachable} cannot be reached from a start event")
    for message in root.iterfind(".//bpmn:message", NS):
        payload = message.find(".//spiff:messagePayload", NS)
        if payload is not None:
            try:
                sandbox.validate_expression(payload.text or "")
            except sandbox.ScriptRefused as err:
                say(payload, f"message payload: {err}")
    return problems


def _check_duration(text: str, el, say, what: str) -> None:
    problem = timer_lint.duration_problem(text)
    if problem is not None:
        say(el, f"{what}: {problem}")


def _check_timer_literal(kind: str, text: str, el, say, what: str) -> None:
    """A literal timeDuration, timeCycle or timeDate, bounded (engine/timer_lint.py says how)."""
    check = {"timeDuration": timer_lint.duration_problem, "timeCycle": timer_lint.cycle_problem,
             "timeDate": timer_lint.date_problem}.get(kind)
    problem = check(text) if check is not None else None
    if problem is not None:
        say(el, f"{what} {kind}: {problem}")


def _unreachable(process, nodes: dict) -> list[str]:
    """Flow nodes with no path from a start event (boundary events ride on their host)."""
    succ: dict[str, set[str]] = defaultdict(set)
    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        succ[flow.get("sourceRef")].add(flow.get("targetRef"))
    for node_id, el in nodes.items():
        if local(el.tag) == "boundaryEvent":
            succ[el.get("attachedToRef")].add(node_id)
        if local(el.tag) == "subProcess":
            for child in el:
                if local(child.tag) == "startEvent":
                    succ[node_id].add(child.get("id"))
    starts = [n for n, el in nodes.items() if local(el.tag) == "startEvent" and local(el.getparent().tag) == "process"]
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for nxt in succ[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return [n for n in nodes if n not in seen]


def read_paths(paths: Iterable[str | Path]) -> dict[str, bytes]:
    """Collect .bpmn/.dmn files from files and directories, keyed by file name."""
    files: dict[str, bytes] = {}
    for raw in paths:
        path = Path(raw)
        candidates = sorted(p for p in path.iterdir() if p.suffix in (".bpmn", ".dmn")) if path.is_dir() else [path]
        if path.is_dir() and not candidates:
            raise ValueError(f"{raw}: no .bpmn or .dmn file in this directory")
        for p in candidates:
            if p.suffix not in (".bpmn", ".dmn"):
                raise ValueError(f"{raw}: not a process file (expected a .bpmn or .dmn file, or a directory of them)")
            if p.name in files:
                raise ValueError(f"two files named {p.name}")
            files[p.name] = p.read_bytes()
    return files
