"""Every `unreal.<Name>` and `unreal.<Class>.<member>` the adapter names exists in the UE 5 Python API stub.

The stub is the `unreal-stub` package (a test-only dependency, never committed). Its one big `unreal.py` is
generated from the editor and is not importable Python, so it is indexed with a line scanner: classes, their
bases, methods, properties and enum values, and module-level functions.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest
from conftest import PLUGIN_PYTHON

ADAPTER = PLUGIN_PYTHON / "motionbridge_unreal" / "ue_adapter.py"


class StubIndex:
    def __init__(self, text: str) -> None:
        self.members: dict[str, set[str]] = {}
        self.bases: dict[str, list[str]] = {}
        self.module: set[str] = set()
        current = None
        for line in text.splitlines():
            m = re.match(r"class (\w+)(?:\(([^)]*)\))?:", line)
            if m:
                current = m.group(1)
                self.members[current] = set()
                self.bases[current] = [b.strip() for b in (m.group(2) or "").split(",") if b.strip()]
                self.module.add(current)
                continue
            m = re.match(r"def (\w+)\(", line)
            if m:
                current = None
                self.module.add(m.group(1))
                continue
            if current is not None:
                m = re.match(r"    def (\w+)\(", line) or re.match(r"    (\w+)\s*[:=]", line)
                if m:
                    self.members[current].add(m.group(1))

    def has(self, cls: str, member: str) -> bool:
        if cls not in self.members:
            return False
        if member in self.members[cls]:
            return True
        return any(self.has(base, member) for base in self.bases[cls])


@lru_cache(maxsize=1)
def load_stub_index() -> StubIndex:
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        path = Path(str(distribution("unreal-stub").locate_file("unreal/unreal.py")))
    except PackageNotFoundError:
        pytest.skip("the UE 5 API stub is not installed: pip install unreal-stub (test-only dependency)")
    if not path.exists():
        pytest.skip(f"unreal-stub is installed but {path} is missing")
    return StubIndex(path.read_text(encoding="utf-8-sig"))


def _unreal_references(source: str) -> set[tuple[str, ...]]:
    """('X',) for unreal.X and ('X', 'y') for unreal.X.y anywhere in the source."""
    refs: set[tuple[str, ...]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "unreal":
            refs.add((node.attr,))
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "unreal"):
            refs.add((node.value.attr, node.attr))
    return refs


def test_the_stub_index_knows_the_engine_api() -> None:
    index = load_stub_index()
    assert index.has("AnimationDataController", "set_bone_track_keys")
    assert index.has("PoseableMeshComponent", "get_bone_name"), "inherited from SkinnedMeshComponent"
    assert not index.has("PoseableMeshComponent", "set_bone_rotation_by_index")
    assert "register_slate_post_tick_callback" in index.module


def test_every_unreal_name_in_the_adapter_exists_in_the_stub() -> None:
    index = load_stub_index()
    refs = _unreal_references(ADAPTER.read_text(encoding="utf-8"))
    assert ("AnimSequenceFactory",) in refs and ("BoneSpaces", "COMPONENT_SPACE") in refs
    missing = [".".join(r) for r in sorted(refs)
               if (r[0] not in index.module) or (len(r) == 2 and not index.has(r[0], r[1]))]
    assert not missing, f"not in the UE 5 API: {missing}"
