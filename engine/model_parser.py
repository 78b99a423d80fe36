"""SpiffWorkflow's BPMN/DMN parser, bounded for untrusted files of any shape.

Two changes, both through the parser's own extension points:

* decision tables are evaluated by :class:`.decision_cells.SandboxDecisionEngine`;
* SpiffWorkflow finds the message (signal, error, escalation, data object) an event
  refers to with a whole-document XPath search, once per event: a file of many
  processes or events cost the square of its size (800 KiB: 13 s). Those lookups by
  id are answered from an index built in one pass over each document instead.
"""
from __future__ import annotations

import re
from typing import Any

from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from .decision_cells import SandboxDecisionEngine

_BY_ID = re.compile(r"""^\.//(\w+):(\w+)\[@id=["']([^"'\]]*)["']\]$""")


class _IndexedLookups:
    """Mixed into every node parser class: ``doc_xpath('.//bpmn:message[@id="x"]')`` by index."""

    node: Any
    nsmap: dict[str, str]
    process_parser: Any

    def doc_xpath(self, xpath):
        match = _BY_ID.match(xpath)
        namespace = self.nsmap.get(match[1]) if match else None
        if match is None or namespace is None:
            return super().doc_xpath(xpath)  # type: ignore[misc]
        index = self.process_parser.parser.document_index(self.node.getroottree().getroot())
        return list(index.get((namespace, match[2], match[3]), ()))


class ModelParser(SpiffBpmnParser):
    """The parser every deployed model is read with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexes: dict[int, tuple[Any, dict[tuple[str, str, str], list[Any]]]] = {}
        self._indexed_classes: dict[type, type] = {}

    def get_engine(self, decision_ref, node):
        return SandboxDecisionEngine(super().get_engine(decision_ref, node).decision_table)

    def _get_parser_class(self, tag):
        parser_class, spec_class = super()._get_parser_class(tag)
        if parser_class is None:
            return parser_class, spec_class
        indexed = self._indexed_classes.get(parser_class)
        if indexed is None:
            indexed = type(f"Indexed{parser_class.__name__}", (_IndexedLookups, parser_class), {})
            self._indexed_classes[parser_class] = indexed
        return indexed, spec_class

    def document_index(self, root) -> dict[tuple[str, str, str], list[Any]]:
        """(namespace, tag, id) -> elements of the document, built once per document."""
        known = self._indexes.get(id(root))
        if known is not None and known[0] is root:
            return known[1]
        index: dict[tuple[str, str, str], list[Any]] = {}
        for el in root.iter():
            element_id = el.get("id") if isinstance(el.tag, str) else None
            if element_id is not None and el.tag.startswith("{"):
                namespace, tag = el.tag[1:].split("}", 1)
                index.setdefault((namespace, tag, element_id), []).append(el)
        self._indexes[id(root)] = (root, index)  # the root is kept, so its id is not reused
        return index
