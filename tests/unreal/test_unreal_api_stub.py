"""Every `unreal.<Name>` and `unreal.<Class>.<member>` the adapter names exists in the UE 5 Python API stub."""

from __future__ import annotations

import ast

from ue_api_stub import load_stub_index
from ue_test_support import PLUGIN_PYTHON

ADAPTER = PLUGIN_PYTHON / "motionbridge_unreal" / "ue_adapter.py"


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
