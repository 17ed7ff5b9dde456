"""The plugin as shipped: descriptor, Python 3.9 syntax, and `unreal` imported by the adapter alone."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ue_test_support import PLUGIN, PLUGIN_PYTHON

PYTHON_FILES = sorted(PLUGIN_PYTHON.rglob("*.py"))


def test_the_plugin_ships_its_python() -> None:
    names = {p.relative_to(PLUGIN_PYTHON).as_posix() for p in PYTHON_FILES}
    assert {"init_unreal.py", "motionbridge_unreal/ue_adapter.py", "motionbridge_unreal/client.py",
            "motionbridge_unreal/retarget.py", "motionbridge_unreal/websocket.py",
            "motionbridge_unreal/msgpack_codec.py"} <= names


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: p.name)
def test_plugin_python_parses_as_python_3_9(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_adapter_imports_unreal_and_nothing_needs_pip() -> None:
    importers = [p.name for p in PYTHON_FILES if "unreal" in _imports(p)]
    assert importers == ["ue_adapter.py"]
    stdlib = set(sys.stdlib_module_names) | {"motionbridge_unreal", "unreal"}
    third_party = {p.name: _imports(p) - stdlib for p in PYTHON_FILES}
    assert all(not mods for mods in third_party.values()), third_party


def test_the_descriptor_enables_python_and_editor_scripting() -> None:
    descriptor = json.loads((PLUGIN / "MotionBridge.uplugin").read_text(encoding="utf-8"))
    plugins = {p["Name"]: p["Enabled"] for p in descriptor["Plugins"]}
    assert plugins == {"PythonScriptPlugin": True, "EditorScriptingUtilities": True}
    assert descriptor["CanContainContent"] is True, "Content/Python is only mounted for content plugins"
    assert descriptor["FileVersion"] == 3


def _python39() -> str | None:
    """A working Python 3.9 (pyenv shims may exist without the version being selected: run it to be sure)."""
    for candidate in (str(Path.home() / ".pyenv" / "versions" / "3.9.18" / "bin" / "python"), "python3.9"):
        found = shutil.which(candidate)
        if not found:
            continue
        probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                               text=True, timeout=30)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 9)":
            return found
    return None


def test_the_core_and_the_adapter_run_under_a_real_python_3_9() -> None:
    python = _python39()
    if python is None:
        pytest.skip("no Python 3.9 interpreter here (syntax is still checked with feature_version=(3, 9))")
    script = """
import sys
sys.modules['unreal'] = None  # the core must not need the editor
from motionbridge_unreal import client, clips, msgpack_codec, protocol, retarget, websocket
msg = protocol.generate('r1', 'a person walks', 2.0, 1)
assert protocol.decode(protocol.encode(msg)) == msg
rest = protocol.source_rest_in_unreal([[0, 0.95, 0], [0.1, -0.1, 0]])
skel = retarget.TargetSkeleton(['pelvis', 'thigh_l'], [-1, 0], rest, [(0, 0, 0, 1)] * 2)
pose = retarget.WorldDeltaRetargeter(skel, ['pelvis', 'thigh_l'], [-1, 0], rest).retarget(
    (0.0, 0.0, 95.0), [(0, 0, 0, 1), (0, 0, 0, 1)])
print(sys.version_info[:2], sorted(pose.local_rotations))
sys.path.insert(0, sys.argv[1])
import ue_fake_editor
sys.modules['unreal'] = ue_fake_editor.make_module()
from motionbridge_unreal import ue_adapter
ue_adapter.register_menus()
tools = sys.modules['unreal'].ToolMenus.get().find_menu(ue_adapter.TOOLS_MENU)
print('menu entries', len(tools.sections['MotionBridge']))
"""
    result = subprocess.run([python, "-c", script, str(Path(__file__).parent)], cwd=PLUGIN_PYTHON,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "(3, 9) ['pelvis', 'thigh_l']" in result.stdout
    assert "menu entries 5" in result.stdout, "the adapter imports and registers its menus under 3.9 too"
