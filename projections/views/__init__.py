"""The views the runner maintains, by name (``cartpath projections rebuild NAME``)."""
from __future__ import annotations

from .audit import AuditView
from .base import Context, EventFailed, View
from .custody import CustodyView
from .pathways import PathwaysView
from .timeline import TimelineView
from .worklists import WorklistsView


def all_views() -> list[View]:
    return [PathwaysView(), TimelineView(), WorklistsView(), CustodyView(), AuditView()]


VIEW_NAMES = ("pathways", "timeline", "worklists", "custody", "audit")
# Reports read these views; ``rebuild kpis`` means the view the KPI report reads.
REPORT_VIEWS = {
    "timeline": ("timeline",), "worklists": ("worklists",), "custody": ("custody",),
    "kpis": ("pathways",), "manufacturers": ("pathways",), "capacity": ("pathways", "worklists"),
    "audit_events": ("audit",), "process_nodes": ("timeline", "pathways"),
}

__all__ = ["Context", "EventFailed", "View", "all_views", "VIEW_NAMES", "REPORT_VIEWS"]
