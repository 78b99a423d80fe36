"""Process definitions: immutable, versioned sets of BPMN/DMN files.

A deploy records the files themselves in the event store (``VersionDeployed``),
so a pathway can always be re-executed against the exact bytes it ran on, and
``verify`` has something to verify against. A version is identified by
(key, number) and fingerprinted by the sha256 of its files.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .errors import DefinitionRejected
from .forms import CARTPATH_NS, TaskForm, parse_task_form
from .lint import BPMN_NS, NS, Problem, lint_files, local, parse_xml
from .model_parser import ModelParser
from .topics import pin_topics

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def fingerprint(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@dataclass
class ProcessModel:
    """One deployed version, parsed: what the engine and the API need from it."""

    key: str
    version: int
    sha256: str
    files: dict[str, bytes]
    spec: Any
    subprocess_specs: dict
    forms: dict[str, TaskForm]
    lanes: dict[str, str]
    titles: dict[str, str]
    kinds: dict[str, str]
    outcomes: dict[str, str]
    flows: dict[tuple[str, str], str]
    incoming: dict[str, list[str]]
    message_keys: dict[str, set[str]]
    timer_nodes: set[str] = field(default_factory=set)
    decisions: dict[str, str] = field(default_factory=dict)  # business rule task -> decision id

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "version": self.version, "sha256": self.sha256, "files": sorted(self.files)}

    @property
    def text(self) -> str:
        """The files as one text: an incident message may name what the model names, nothing else."""
        return "\n".join(content.decode("utf-8", "replace") for content in self.files.values())


def top_level_processes(files: dict[str, bytes]) -> list[str]:
    """Executable processes of the set that no call activity of the set calls."""
    ids, called = [], set()
    for name, content in files.items():
        if not name.endswith(".bpmn"):
            continue
        root, _ = parse_xml(name, content)
        if root is None:
            continue
        for process in root.iterfind("bpmn:process", NS):
            if process.get("isExecutable", "true").lower() == "true":
                ids.append(process.get("id"))
        called |= {el.get("calledElement") for el in root.iter(f"{{{BPMN_NS}}}callActivity")}
    return [i for i in ids if i not in called]


def parse_model(key: str, version: int, files: dict[str, bytes]) -> ProcessModel:
    """Parse a (linted) file set with SpiffWorkflow and read the cartpath extensions."""
    return parse_models([key], version, files)[key]


def parse_models(keys: list[str], version: int, files: dict[str, bytes]) -> dict[str, ProcessModel]:
    """The models of several processes of one file set, its files parsed once: a file that
    defines many processes costs what its size warrants, not its size times their number."""
    parser = ModelParser()
    forms: dict[str, TaskForm] = {}
    lanes: dict[str, str] = {}
    titles: dict[str, str] = {}
    kinds: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    flows: dict[tuple[str, str], str] = {}
    incoming: dict[str, list[str]] = {}
    message_keys: dict[str, set[str]] = {}
    timer_nodes: set[str] = set()
    decisions: dict[str, str] = {}
    models = {}
    sha256 = fingerprint(files)
    try:
        for name in sorted(files):
            root, problems = parse_xml(name, files[name])
            if root is None:
                raise DefinitionRejected(f"{name} cannot be parsed", [p.as_dict() for p in problems])
            if local(root.tag) == "definitions" and etree.QName(root).namespace == BPMN_NS:
                parser.add_bpmn_xml(etree.ElementTree(root), filename=name)
                _read_extensions(root, forms, lanes, titles, kinds, outcomes, flows, incoming,
                                 message_keys, timer_nodes)
                decisions.update(_called_decisions(root))
            else:
                parser.add_dmn_xml(root, filename=name)
        for key in keys:
            models[key] = ProcessModel(
                key=key, version=version, sha256=sha256, files=files, spec=parser.get_spec(key),
                subprocess_specs=parser.get_subprocess_specs(key), forms=forms, lanes=lanes, titles=titles,
                kinds=kinds, outcomes=outcomes, flows=flows, incoming=incoming, message_keys=message_keys,
                timer_nodes=timer_nodes, decisions=decisions)
    except ValidationException as err:
        problem = Problem(err.file_name or "?", err.line_number or None, str(err).splitlines()[0])
        raise DefinitionRejected(f"SpiffWorkflow refused the definition: {problem}", [problem.as_dict()]) from None
    return models


def _read_extensions(root, forms, lanes, titles, kinds, outcomes, flows, incoming, message_keys, timer_nodes) -> None:
    for lane in root.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id")
    messages = {m.get("id"): m.get("name") for m in root.iterfind(".//bpmn:message", NS)}
    for expr in root.iterfind(".//bpmn:correlationPropertyRetrievalExpression", NS):
        prop = expr.getparent().get("name") or expr.getparent().get("id")
        message_keys.setdefault(messages.get(expr.get("messageRef"), ""), set()).add(prop)
    for el in root.iter():
        tag = local(el.tag)
        node_id = el.get("id")
        if tag == "sequenceFlow":
            flows[(el.get("sourceRef"), el.get("targetRef"))] = node_id
            incoming.setdefault(el.get("targetRef"), []).append(node_id)
            continue
        if tag not in _NODE_TAGS or node_id is None:
            continue
        kinds[node_id] = tag
        titles[node_id] = el.get("name") or node_id
        if el.find("bpmn:timerEventDefinition", NS) is not None:
            timer_nodes.add(node_id)
        if tag == "userTask":
            forms[node_id] = parse_task_form(el.find("bpmn:extensionElements", NS))
        if tag == "endEvent" and local(el.getparent().tag) == "process":
            mark = el.find(f"bpmn:extensionElements/{{{CARTPATH_NS}}}outcome", NS)
            if mark is not None:
                outcomes[node_id] = mark.get("value")


def _called_decisions(root) -> dict[str, str]:
    found: dict[str, str] = {}
    for el in root.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        called = el.find("bpmn:extensionElements/spiff:calledDecisionId", NS)
        if called is not None and called.text:
            found[el.get("id")] = called.text.strip()
    return found


_NODE_TAGS = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway",
}


class ProcessDefinition(Aggregate):
    """All versions of one process key. Versions are appended, never edited."""

    @staticmethod
    def create_id(key: str):
        import uuid
        return uuid.uuid5(uuid.NAMESPACE_URL, f"cartpath:definition:{key}")

    @event("Registered")
    def __init__(self, key: str):
        self.key = key
        self.versions: list[dict[str, Any]] = []

    @event("VersionDeployed")
    def deploy_version(self, version: int, sha256: str, files: dict[str, str], deployed_by: str, at: datetime) -> None:
        """A version carrying its files (every version deployed before DefinitionFiles existed)."""
        self.versions.append({"version": version, "sha256": sha256, "files": files, "file_names": sorted(files),
                              "deployed_by": deployed_by, "at": at})

    @event("VersionOfFilesDeployed")
    def deploy_version_of(self, version: int, sha256: str, file_names: list[str], deployed_by: str,
                          at: datetime) -> None:
        """A version whose files are the DefinitionFiles of its sha256: a set defining many
        processes is stored once, not once per process."""
        self.versions.append({"version": version, "sha256": sha256, "files": None, "file_names": list(file_names),
                              "deployed_by": deployed_by, "at": at})

    def latest(self) -> dict[str, Any] | None:
        return self.versions[-1] if self.versions else None

    def find(self, version: int) -> dict[str, Any] | None:
        return self.versions[version - 1] if 0 < version <= len(self.versions) else None


class DefinitionFiles(Aggregate):
    """The files of one deployed set, by their fingerprint: stored once, whatever the number
    of processes they define and of versions (of any key) deployed from them."""

    @staticmethod
    def create_id(sha256: str):
        import uuid
        return uuid.uuid5(uuid.NAMESPACE_URL, f"cartpath:definition-files:{sha256}")

    @event("Stored")
    def __init__(self, sha256: str, files: dict[str, str]):
        self.sha256 = sha256
        self.files = files


class DefinitionCatalog(Aggregate):
    """The list of process keys, so that definitions can be listed without a scan."""

    @staticmethod
    def create_id():
        import uuid
        return uuid.uuid5(uuid.NAMESPACE_URL, "cartpath:definition-catalog")

    @event("Opened")
    def __init__(self):
        self.keys: list[str] = []

    @event("KeyAdded")
    def add_key(self, key: str) -> None:
        self.keys.append(key)


class ModelCache:
    """Parsed models by (key, version): parsing costs milliseconds, a pathway step far less."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], ProcessModel] = {}
        self._lock = threading.Lock()

    def peek(self, key: str, version: int) -> ProcessModel | None:
        with self._lock:
            return self._models.get((key, version))

    def get(self, key: str, version: int, files_text: dict[str, str]) -> ProcessModel:
        with self._lock:
            model = self._models.get((key, version))
            if model is None:
                files = {n: t.encode("utf-8") for n, t in files_text.items()}
                model = parse_model(key, version, files)
                self._models[(key, version)] = model
            return model


def check_deployable(files: dict[str, bytes], lanes) -> list[str]:
    """Lint, then parse each top-level process; raise DefinitionRejected or return keys."""
    problems = lint_files(files, lanes)
    if problems:
        raise DefinitionRejected(f"{len(problems)} problem(s) in the process files: {problems[0]}",
                                 [p.as_dict() for p in problems])
    keys = top_level_processes(files)
    if not keys:
        raise DefinitionRejected("the files define no executable process", [])
    parse_models(keys, 0, files)
    for name, content in files.items():
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise DefinitionRejected(f"{name} is not UTF-8",
                                     [{"file": name, "line": None, "message": "not UTF-8"}]) from None
    return keys


pin_topics("definitions", ProcessDefinition, DefinitionCatalog, DefinitionFiles)
