"""The write side: runs BPMN with SpiffWorkflow and owns the event-sourced Pathway aggregate.

Stores written before the package was installed as ``cartpath.engine`` name their event
and aggregate classes ``engine.<module>:<Class>``; the old module name is registered as a
topic so those stores keep loading (eventsourcing resolves ``engine.x`` to
``cartpath.engine.x``).
"""
import sys

from eventsourcing.utils import register_topic

register_topic("engine", sys.modules[__name__])
