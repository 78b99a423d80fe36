"""The README's walkthrough, pasted as is: the shell block of "Trying it from the command line"
runs with the real `cartpath` script in an empty directory, so it cannot rot."""
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.store import ROOT


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Trying it from the command line", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)[0]


def test_the_readme_walkthrough_runs_as_pasted(tmp_path):
    script = walkthrough()
    assert ".venv/bin/activate" in script and "patient_consent" in script and "place_order" in script
    assert "<" not in script  # no placeholder left for the reader to fill in
    # the repository's root as the reader has it: .venv, processes/
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "processes").symlink_to(ROOT / "processes")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CARTPATH_", "PERSISTENCE_", "SQLITE_", "POSTGRES_", "CREATE_TABLE"))}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert '"name": "apheresis"' in proc.stdout      # the first message moved the pathway on
    assert '"ok": true' in proc.stdout               # and verify agrees with its history
    assert (tmp_path / "var" / "try" / "cartpath.sqlite3").is_file()
