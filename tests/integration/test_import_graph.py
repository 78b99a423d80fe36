"""The package's shape: one installed name, and no circle between its modules."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cartpath

ROOT = Path(__file__).resolve().parent.parent.parent
FOLDERS = {"cartpath": ROOT / "cartpath", "cartpath.engine": ROOT / "engine", "cartpath.api": ROOT / "api",
           "cartpath.projections": ROOT / "projections"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every cartpath module this one imports, at the top or inside a function (both make a circle)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_circle_between_modules():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_layers_import_inwards_only():
    """engine <- projections <- api <- cartpath.cli: an inner layer never imports an outer one."""
    order = ["cartpath.engine", "cartpath.projections", "cartpath.api", "cartpath.cli"]
    modules = _modules()
    for name, path in modules.items():
        layer = next((i for i, prefix in enumerate(order) if name == prefix or name.startswith(prefix + ".")), None)
        if layer is None:
            continue
        for target in _imports(name, path, set(modules)):
            outer = [p for p in order[layer + 1:] if target == p or target.startswith(p + ".")]
            assert not outer, f"{name} imports {target}, an outer layer"


def test_only_the_cartpath_name_is_installed(tmp_path):
    """Outside the repository, `engine`, `api` and `projections` are not importable names."""
    for name in ("engine", "api", "projections"):
        result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode != 0 and "No module named" in result.stderr, (name, result.stderr)
    result = subprocess.run([sys.executable, "-m", "cartpath", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "Usage:" in result.stdout
    assert Path(cartpath.__file__).parent == ROOT / "cartpath"


def test_flask_commands_are_not_part_of_the_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cartpath", "--help"], cwd=tmp_path, capture_output=True, text=True)
    commands = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert {"start", "complete", "cancel", "serve", "projections", "db"} <= commands
    assert not commands & {"run", "shell", "routes"}
    assert "--env-file" not in result.stdout and "--app" not in result.stdout
