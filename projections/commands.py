"""CLI commands of the read side (``cartpath projections ...``), registered on ``cartpath``."""
from engine.cli import main  # noqa: F401
