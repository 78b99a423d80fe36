"""The cartpath command line as a user runs it: the installed script, in a real process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = [str(Path(sys.executable).parent / "cartpath")]


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``cartpath ARGS`` with ``env``; a failure raises with its stderr unless ``check`` is off."""
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"cartpath {' '.join(args)} failed: {proc.stderr}")
    return proc
