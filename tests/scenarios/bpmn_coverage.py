"""Which parts of the BPMN model the scenarios exercised (in the spirit of
camunda-process-test-coverage).

The engine records a ``NodeCompleted`` outcome for every flow node a pathway passes
(user tasks, gateways, events, subprocesses and their contents), with the sequence
flows it arrived by. Reading those events back from each scenario's store gives the
covered flow nodes and sequence flows, with no hook into the engine itself.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from lxml import etree

from cartpath.engine.definitions import parse_model
from cartpath.engine.lint import read_paths

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class BpmnCoverage:
    """The elements of one process and how often the recorded scenarios passed each."""

    def __init__(self, directory: Path, key: str = "cart_pathway"):
        files = read_paths([directory])
        self.key = key
        self.model = parse_model(key, 0, files)
        self.sha256 = self.model.sha256
        self.nodes: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, dict[str, Any]] = {}
        self._read_elements(files)
        self.node_hits: Counter[str] = Counter()
        self.flow_hits: Counter[str] = Counter()
        self.by_scenario: dict[str, set[str]] = defaultdict(set)
        self.scenarios: dict[str, int] = {}  # scenario -> pathways it ran

    def _read_elements(self, files: dict[str, bytes]) -> None:
        for name, content in sorted(files.items()):
            if not name.endswith(".bpmn"):
                continue
            root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
            for process in root.iterfind(f"{{{BPMN_NS}}}process"):
                if process.get("id") == self.key:
                    self._walk(process, None)

    def _walk(self, container, parent: str | None) -> None:
        for el in container:
            if not isinstance(el.tag, str):
                continue
            tag, ident = etree.QName(el).localname, el.get("id")
            if tag == "sequenceFlow":
                self.flows[ident] = {"id": ident, "source": el.get("sourceRef"), "target": el.get("targetRef"),
                                     "parent": parent}
            elif ident in self.model.kinds:
                self.nodes[ident] = {"id": ident, "type": tag, "name": el.get("name") or "", "parent": parent,
                                     "lane": self.model.lanes.get(ident)}
                if tag == "subProcess":
                    self._walk(el, ident)

    # -- recording ------------------------------------------------------------------
    def record(self, scenario: str, app) -> None:
        """Add what every pathway of ``app``'s store passed through."""
        pathways = 0
        for pathway_id in app.pathway_ids():
            events = list(app.events.get(pathway_id))
            if events[0].definition.get("sha256") != self.sha256:
                continue  # another process (or another version of this one)
            pathways += 1
            for ev in events:
                if type(ev).__name__ == "Migrated":
                    break  # what follows ran on another version (issue 13): not this model's coverage
                if type(ev).__name__ != "NodeCompleted":
                    continue
                self.node_hits[ev.node_id] += 1
                self.by_scenario[ev.node_id].add(scenario)
                for flow in ev.flows:
                    self.flow_hits[flow] += 1
                    self.by_scenario[flow].add(scenario)
        self.scenarios[scenario] = self.scenarios.get(scenario, 0) + pathways

    # -- reporting --------------------------------------------------------------------
    def uncovered_nodes(self) -> list[str]:
        return [n for n in self.nodes if not self.node_hits[n]]

    def uncovered_flows(self) -> list[str]:
        return [f for f in self.flows if not self.flow_hits[f]]

    def unknown(self) -> list[str]:
        """Recorded ids the model does not have: a sign the recording is wrong."""
        return sorted((set(self.node_hits) - set(self.nodes)) | (set(self.flow_hits) - set(self.flows)))

    def summary(self) -> dict[str, Any]:
        def part(total: int, missing: list[str]) -> dict[str, Any]:
            covered = total - len(missing)
            return {"total": total, "covered": covered,
                    "percent": round(100.0 * covered / total, 2) if total else 100.0,
                    "uncovered": missing}
        return {"flow_nodes": part(len(self.nodes), self.uncovered_nodes()),
                "sequence_flows": part(len(self.flows), self.uncovered_flows())}

    def as_dict(self) -> dict[str, Any]:
        def element(info: dict[str, Any], hits: Counter) -> dict[str, Any]:
            return {**info, "hits": hits[info["id"]], "covered": hits[info["id"]] > 0,
                    "scenarios": sorted(self.by_scenario[info["id"]])}
        return {
            "process": self.key, "sha256": self.sha256,
            "scenarios": dict(sorted(self.scenarios.items())),
            **self.summary(),
            "unknown_recorded_ids": self.unknown(),
            "nodes": [element(n, self.node_hits) for n in self.nodes.values()],
            "flows": [element(f, self.flow_hits) for f in self.flows.values()],
        }

    def text(self) -> str:
        s = self.summary()
        lines = [f"BPMN coverage of process {self.key} (sha256 {self.sha256[:12]}), "
                 f"{len(self.scenarios)} scenarios, {sum(self.scenarios.values())} pathways",
                 f"flow nodes:     {s['flow_nodes']['covered']}/{s['flow_nodes']['total']} "
                 f"({s['flow_nodes']['percent']}%)",
                 f"sequence flows: {s['sequence_flows']['covered']}/{s['sequence_flows']['total']} "
                 f"({s['sequence_flows']['percent']}%)", ""]
        for title, items, hits in (("FLOW NODES", self.nodes, self.node_hits),
                                   ("SEQUENCE FLOWS", self.flows, self.flow_hits)):
            lines.append(f"{title} (hits  id  [inside]  description)")
            for ident, info in items.items():
                mark = "  " if hits[ident] else "!!"
                where = f"[{info['parent']}]" if info["parent"] else ""
                what = (f"{info['type']} {info['name']!r}" if "type" in info
                        else f"{info['source']} -> {info['target']}")
                lines.append(f"{mark} {hits[ident]:5d}  {ident:55s} {where:24s} {what}")
            lines.append("")
        if self.unknown():
            lines.append("recorded ids missing from the model: " + ", ".join(self.unknown()))
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        as_json, as_text = directory / f"{self.key}.json", directory / f"{self.key}.txt"
        as_json.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        as_text.write_text(self.text())
        return as_json, as_text
