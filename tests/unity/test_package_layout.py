"""The Unity package is loadable as an immutable UPM package: package.json and asmdefs are valid, every file and
folder has a committed .meta with a unique GUID (Unity ignores assets without one in read-only packages), and
the assembly boundaries match the design (engine-free Runtime, Editor-only editor code)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "unity_client"
GUID = re.compile(r"^guid: ([0-9a-f]{32})$", re.MULTILINE)
IMPORTER_BY_SUFFIX = {
    ".cs": "MonoImporter",
    ".asmdef": "AssemblyDefinitionImporter",
    ".md": "TextScriptImporter",
}
UNITY_TEST_ASSEMBLIES = {"UnityEngine.TestRunner", "UnityEditor.TestRunner"}


def is_hidden_by_unity(path: Path) -> bool:
    """Unity skips names starting with '.' and ending with '~' (like Samples~) when importing."""
    return path.name.startswith(".") or path.name.endswith("~")


def assets() -> list[Path]:
    """Every file and folder Unity imports from the package (not the .meta files themselves)."""
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        # Samples~ itself has no .meta, but its contents do: the Package Manager copies them into Assets/,
        # where committed .meta files keep the sample's GUIDs stable.
        if path.suffix == ".meta" or is_hidden_by_unity(path):
            continue
        found.append(path)
    return found


def asmdefs() -> dict[str, dict]:
    return {p.relative_to(PACKAGE).as_posix(): json.loads(p.read_text()) for p in PACKAGE.rglob("*.asmdef")}


def test_every_file_and_folder_has_a_meta() -> None:
    missing = [p.relative_to(PACKAGE).as_posix() for p in assets() if not p.with_name(p.name + ".meta").is_file()]
    assert not missing, f"missing .meta files: {missing}"


def test_no_meta_without_its_asset() -> None:
    orphans = [m.relative_to(PACKAGE).as_posix() for m in PACKAGE.rglob("*.meta") if not m.with_suffix("").exists()]
    assert not orphans, f".meta files whose asset is gone: {orphans}"


def test_guids_are_well_formed_and_unique() -> None:
    seen: dict[str, str] = {}
    for meta in sorted(PACKAGE.rglob("*.meta")):
        text = meta.read_text()
        assert text.startswith("fileFormatVersion: 2\n"), meta
        guids = GUID.findall(text)
        assert len(guids) == 1, f"{meta}: expected one 'guid: <32 hex>' line"
        other = seen.setdefault(guids[0], meta.relative_to(PACKAGE).as_posix())
        assert other == meta.relative_to(PACKAGE).as_posix(), f"GUID {guids[0]} used by {other} and {meta}"
    assert len(seen) >= 40


def test_meta_importers_match_the_asset_kind() -> None:
    for asset in assets():
        text = asset.with_name(asset.name + ".meta").read_text()
        if asset.is_dir():
            assert "folderAsset: yes" in text and "DefaultImporter:" in text, asset
        elif asset.name == "package.json":
            assert "PackageManifestImporter:" in text
        elif asset.suffix in IMPORTER_BY_SUFFIX:
            assert f"{IMPORTER_BY_SUFFIX[asset.suffix]}:" in text, asset


def test_package_json_is_a_valid_upm_manifest() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["name"] == "com.motionbridge.unity"
    assert re.fullmatch(r"[a-z0-9]+(\.[a-z0-9-]+)+", manifest["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", manifest["version"])
    assert manifest["unity"] == "2021.3"
    assert manifest["displayName"] and manifest["description"]
    for sample in manifest.get("samples", []):
        assert sample["path"].startswith("Samples~/")
        assert (PACKAGE / sample["path"]).is_dir(), sample["path"]
    for doc in ("README.md", "CHANGELOG.md"):
        assert (PACKAGE / doc).is_file(), doc
    assert manifest["version"] in (PACKAGE / "CHANGELOG.md").read_text(), "CHANGELOG has no entry for this version"


def test_package_json_declares_the_engine_modules_the_code_uses() -> None:
    """Projects can disable built-in modules; without these the package would not compile there."""
    dependencies = json.loads((PACKAGE / "package.json").read_text())["dependencies"]
    assert dependencies == {"com.unity.modules.animation": "1.0.0", "com.unity.modules.imgui": "1.0.0"}


@pytest.mark.parametrize("source", sorted(PACKAGE.rglob("*.cs")), ids=lambda p: p.name)
def test_package_code_never_names_the_test_stand_ins(source: Path) -> None:
    """tests/unity/stubs has a UnityStandIn namespace for tests to play the editor; Unity has none."""
    assert "UnityStandIn" not in source.read_text(), source.name


def test_asmdefs_are_valid_and_reference_known_assemblies() -> None:
    definitions = asmdefs()
    names = [d["name"] for d in definitions.values()]
    assert len(names) == len(set(names)), f"duplicate assembly names: {names}"
    for path, definition in definitions.items():
        for reference in definition.get("references", []):
            assert reference in names or reference in UNITY_TEST_ASSEMBLIES, f"{path}: unknown reference {reference}"
        for key in ("includePlatforms", "excludePlatforms"):
            assert isinstance(definition.get(key, []), list), f"{path}: {key} must be a list"


def test_runtime_is_engine_free_and_editor_is_editor_only() -> None:
    definitions = {d["name"]: d for d in asmdefs().values()}
    runtime = definitions["MotionBridge.Runtime"]
    assert runtime["noEngineReferences"] is True
    assert runtime["references"] == []
    editor = definitions["MotionBridge.Editor"]
    assert editor["includePlatforms"] == ["Editor"]
    assert "MotionBridge.Runtime" in editor["references"]
    tests = definitions["MotionBridge.Runtime.Tests"]
    assert tests["includePlatforms"] == ["Editor"] and "UNITY_INCLUDE_TESTS" in tests["defineConstraints"]
    assert "nunit.framework.dll" in tests["precompiledReferences"]


@pytest.mark.parametrize("source", sorted((PACKAGE / "Runtime").rglob("*.cs")), ids=lambda p: p.name)
def test_runtime_sources_never_touch_unity(source: Path) -> None:
    text = source.read_text()
    assert not re.search(r"^\s*using\s+Unity(Engine|Editor)\b", text, re.MULTILINE), source.name
    assert "UnityEngine." not in text and "UnityEditor." not in text, source.name
