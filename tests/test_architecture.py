"""The layout of docs/architecture.md, enforced: which part may import which, no import cycles, a torch-free
client, and no module past LONG_MODULE_LINES lines without a reason at its top.

Imports are read from the source (every `import`, also inside functions), so a lazy import counts as much
as one at the top of a file; the torch-free client is also checked by importing it in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "bridge")
LONG_MODULE_LINES = 450
LONG_MODULE_MARK = "Long module:"

ENGINE_PARTS: dict[str, set[str]] = {
    # part: the engine parts it may import (besides itself)
    "core": set(),
    "post": {"core"},
    "retarget": {"core"},
    "model": {"core", "post"},
    "io": {"core", "post", "retarget", "model"},
    "train": {"core", "post", "retarget", "model", "io"},
    "commands": {"core", "post", "retarget", "model", "io", "train"},
}
CLIENT_SIDE = ("bridge.codec", "bridge.protocol", "bridge.client", "bridge.cli", "bridge.commands.status")
"""Modules a client installation imports: from the engine they may use `engine.core` and `engine.io.formats`."""
CLIENT_ENGINE_MODULES = ("engine.core", "engine.io.formats")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every module name `path` imports (absolute imports; `from a import b` also counts `a.b`; a literal
    `importlib.import_module("a.b")` counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


MODULES = _modules()
IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _internal_edges() -> dict[str, set[str]]:
    return {m: {n for n in names if n in MODULES and n != m} for m, names in IMPORTS.items()}


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "engine" and len(parts) > 1 and parts[1] in ENGINE_PARTS else None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_modules():
    assert _cycles(_internal_edges()) == []


def test_engine_never_imports_bridge():
    offenders = {m: sorted(n for n in names if n.split(".")[0] == "bridge")
                 for m, names in IMPORTS.items() if m.startswith("engine")}
    assert {m: n for m, n in offenders.items() if n} == {}


def test_engine_parts_import_only_the_parts_below_them():
    wrong = []
    for module, names in IMPORTS.items():
        part = _part(module)
        if part is None:
            continue
        for name in names:
            other = _part(name)
            if other is not None and other != part and other not in ENGINE_PARTS[part]:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_core_imports_neither_torch_nor_the_model():
    allowed_third_party = {"numpy"}
    wrong = []
    for module, names in IMPORTS.items():
        if _part(module) != "core":
            continue
        for name in names:
            top = name.split(".")[0]
            if top in ("engine", "bridge"):
                if not name.startswith("engine.core"):
                    wrong.append(f"{module} imports {name}")
            elif top not in sys.stdlib_module_names and top not in allowed_third_party:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_client_side_imports_only_the_engine_core_and_the_format_names():
    wrong = []
    for module in CLIENT_SIDE:
        for name in IMPORTS[module]:
            if name.startswith("engine") and not name.startswith(CLIENT_ENGINE_MODULES) and name != "engine":
                wrong.append(f"{module} imports {name}")
            if name.split(".")[0] == "torch":
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_importing_the_client_and_the_cli_loads_no_torch():
    code = (
        "import sys\n"
        "import bridge.client, bridge.cli, bridge.commands.status\n"
        "from bridge.cli import build_parser\n"
        "build_parser(['status'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'safetensors') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_client_imports_the_codec_without_the_validation_models():
    code = "import sys, bridge.client; print('pydantic' in sys.modules, 'bridge.protocol' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_long_modules_say_why_at_their_top():
    silent = []
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= LONG_MODULE_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if LONG_MODULE_MARK not in doc:
            silent.append(f"{module} ({text.count(chr(10))} lines)")
    assert silent == []


@pytest.mark.parametrize("part", sorted(ENGINE_PARTS))
def test_every_engine_part_says_what_it_holds(part: str):
    doc = ast.get_docstring(ast.parse((ROOT / "engine" / part / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"engine/{part}/__init__.py needs a docstring listing its modules"
    modules = sorted(p.stem for p in (ROOT / "engine" / part).iterdir()
                     if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file())
    listed = [m for m in modules if f"`{m}`" in doc]
    assert listed == modules, f"engine/{part}/__init__.py does not name {sorted(set(modules) - set(listed))}"
