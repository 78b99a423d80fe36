"""cartpath: event-sourced BPMN workflow backend for CAR-T cell therapy pathways.

Installed as one name: ``cartpath.engine``, ``cartpath.api`` and ``cartpath.projections``
map onto the top-level folders ``engine/``, ``api/`` and ``projections/`` (setup.cfg's
``package_dir``); this package holds only the command line's root.
"""
