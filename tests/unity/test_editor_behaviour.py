"""The package's Editor code run, not only compiled: NUnit tests (tests/unity/editor_tests) and a start-up probe
(tests/unity/editor_probe/EditorStartupProbe.cs) drive the window, its connection, the preview and the clip baker
through the UnityEngine/UnityEditor stand-ins (a scene graph, IMGUI's layout passes, scene-save and play-mode
callbacks, a stand-in for Mecanim) against the package's scripted loopback daemon. Mecanim itself only runs in Unity."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from unity_test_support import NUnitRun, run_nunit

pytestmark = pytest.mark.mono

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "unity_client"
LOOPBACK_DAEMON = [PACKAGE / "Tests" / "Runtime" / "LoopbackWebSocketServer.cs",
                   PACKAGE / "Tests" / "Runtime" / "TestMessages.cs"]
"""The scripted daemon of the package's own client tests, reused to play the daemon for the editor code."""


@pytest.fixture(scope="module")
def editor_assemblies(mono_tools: Any, runtime_dll: Path, unity_stubs: Path, editor_dll: Path,
                      build_dir: Path) -> Path:
    """A folder holding the Runtime, the stand-ins and the Editor assembly side by side (nunit and mono load them)."""
    folder = build_dir / "editor-run"
    folder.mkdir(exist_ok=True)
    for dll in (runtime_dll, unity_stubs, editor_dll, mono_tools.nunit_framework):
        shutil.copy(dll, folder / dll.name)
    return folder


@pytest.fixture(scope="module")
def editor_nunit(mono_tools: Any, editor_assemblies: Path) -> NUnitRun:
    references = [editor_assemblies / name for name in
                  ("MotionBridge.Runtime.dll", "UnityStandIns.dll", "MotionBridge.Editor.dll", "nunit.framework.dll")]
    files = sorted((HERE / "editor_tests").glob("*.cs")) + LOOPBACK_DAEMON
    tests_dll = mono_tools.compile(files, editor_assemblies / "MotionBridge.Editor.Tests.dll", references=references)
    return run_nunit(mono_tools, tests_dll)


def test_editor_nunit_suite_passes(editor_nunit: NUnitRun, capsys: pytest.CaptureFixture) -> None:
    with capsys.disabled():
        print(f"\neditor: {editor_nunit.passed} passed, {editor_nunit.failed} failed")
    assert editor_nunit.failed == 0, "\n".join(editor_nunit.failures) + "\n" + editor_nunit.output[-4000:]
    assert editor_nunit.not_run == 0, "some editor tests were ignored or not run"
    assert editor_nunit.passed >= 21, f"only {editor_nunit.passed} editor tests ran: the suite lost tests"


@pytest.fixture(scope="module")
def startup_probe(mono_tools: Any, editor_assemblies: Path) -> Path:
    references = [editor_assemblies / name for name in
                  ("MotionBridge.Runtime.dll", "UnityStandIns.dll", "MotionBridge.Editor.dll")]
    files = [HERE / "editor_probe" / "EditorStartupProbe.cs", *LOOPBACK_DAEMON]
    return mono_tools.compile(files, editor_assemblies / "EditorStartupProbe.exe", target="exe", references=references)


def start_editor(mono_tools: Any, probe: Path, *args: str) -> dict[str, str]:
    """One editor start-up in its own process (a fresh domain); the probe's `key=value` lines."""
    run = subprocess.run([mono_tools.mono, str(probe), *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = dict(line.partition("=")[::2] for line in run.stdout.splitlines() if "=" in line)
    assert found["startup_probe"] == "ok"
    return found


def test_a_reload_before_the_daemon_accepted_ends_the_request_and_frees_generate(
        mono_tools: Any, startup_probe: Path) -> None:
    found = start_editor(mono_tools, startup_probe, "reload-before-accepted")
    assert found["status"] == "the script reload interrupted the request before the daemon accepted it: generate again"
    assert found["fetched_job"] == "none" and found["takes"] == "0"


def test_a_reload_after_the_daemon_accepted_fetches_the_job(mono_tools: Any, startup_probe: Path) -> None:
    found = start_editor(mono_tools, startup_probe, "reload-after-accepted")
    assert found["fetched_job"] == "j1" and found["takes"] == "1"
    assert found["status"].startswith("done: 1 × 3 frames")


@pytest.mark.parametrize("args", [("-batchmode",), ("-batchmode", "-name", "AssetImportWorker0")],
                         ids=["batch-mode", "import-worker"])
def test_batch_mode_and_import_workers_never_connect_by_themselves(mono_tools: Any, startup_probe: Path,
                                                                   args: tuple[str, ...]) -> None:
    found = start_editor(mono_tools, startup_probe, "startup", *args)
    assert found["client"] == "none" and found["daemon_connections"] == "0"


def test_an_interactive_editor_connects_by_itself(mono_tools: Any, startup_probe: Path) -> None:
    found = start_editor(mono_tools, startup_probe, "startup")
    assert found["client"] == "Ready" and found["daemon_connections"] == "1"
