"""The Editor code and the sample compile with mcs against hand-written UnityEngine/UnityEditor stand-ins
(tests/unity/stubs, signatures of Unity 2021.3's public API). This catches wrong types, missing members and
C# that Mono cannot parse, without a Unity install; behaviour in the editor is not exercised here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.mono

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "unity_client"


def test_editor_compiles_against_unity_stand_ins(editor_dll: Path) -> None:
    assert editor_dll.stat().st_size > 10_000


def test_sample_compiles_against_runtime_and_editor(mono_tools: Any, runtime_dll: Path, unity_stubs: Path,
                                                    editor_dll: Path, build_dir: Path) -> None:
    files = sorted((PACKAGE / "Samples~").rglob("*.cs"))
    assert files, "the package ships no sample code"
    mono_tools.compile(files, build_dir / "MotionBridge.Samples.dll", references=[runtime_dll, unity_stubs, editor_dll])


def test_editor_code_uses_no_api_missing_from_the_stand_ins(mono_tools: Any, runtime_dll: Path, build_dir: Path,
                                                            tmp_path: Path) -> None:
    """The check has teeth: the same Editor sources against stand-ins lacking one member fail to compile."""
    stubs = (HERE / "stubs" / "UnityEngine.cs").read_text()
    broken = tmp_path / "UnityEngine.cs"
    member = "public static bool isBatchMode"
    assert stubs.count(member) == 1
    broken.write_text(stubs.replace(member, "private static bool isBatchMode"))
    crippled = mono_tools.compile([broken, HERE / "stubs" / "UnityEditor.cs"], tmp_path / "Crippled.dll",
                                  warnings_as_errors=False)
    with pytest.raises(AssertionError, match="isBatchMode"):
        mono_tools.compile(sorted((PACKAGE / "Editor").rglob("*.cs")), tmp_path / "Editor.dll",
                           references=[runtime_dll, crippled])
