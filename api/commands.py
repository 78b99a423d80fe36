"""CLI commands that belong to the HTTP side (serve, token), registered on ``cartpath``."""
from engine.cli import main  # noqa: F401
