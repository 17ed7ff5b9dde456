"""Fixtures for the Unity package tests: Mono's `mcs` builds the package's Runtime (C# 7.2 subset), its NUnit
tests and a console probe; `nunit-console` runs the tests. Everything skips cleanly, with the reason, when
Mono or NUnit is not installed (Debian: `apt-get install mono-devel nunit-console libnunit-cil-dev`)."""

from __future__ import annotations

import glob
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "unity_client"
HERE = Path(__file__).resolve().parent
LANGVERSION = "7.2"
"""Unity compiles C# 9, but the engine-free Runtime must stay inside what Mono's mcs accepts."""


class CompileError(AssertionError):
    """mcs refused the sources; the message carries its diagnostics."""


def sources(folder: Path) -> list[Path]:
    """Every .cs file under a folder, sorted so builds are reproducible."""
    return sorted(folder.rglob("*.cs"))


@dataclass(frozen=True)
class MonoTools:
    mcs: str
    mono: str
    nunit_console: str
    nunit_framework: Path

    def compile(
        self,
        files: Sequence[Path],
        out: Path,
        *,
        references: Sequence[Path | str] = (),
        target: str = "library",
        warnings_as_errors: bool = True,
    ) -> Path:
        """Compile with mcs -langversion:7.2; raise CompileError with the compiler's output on failure."""
        if not files:
            raise CompileError(f"no C# sources for {out.name}")
        command = [self.mcs, f"-langversion:{LANGVERSION}", f"-target:{target}", f"-out:{out}", "-nologo"]
        if warnings_as_errors:
            command.append("-warnaserror+")
        command += [f"-r:{ref}" for ref in references]
        command += [str(f) for f in files]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise CompileError(f"mcs failed for {out.name}:\n{result.stdout}\n{result.stderr}")
        return out


def _nunit_framework() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/cli/nunit.framework-*/nunit.framework.dll"))
    candidates += sorted(glob.glob("/usr/lib/mono/**/nunit.framework.dll", recursive=True))
    return Path(candidates[0]) if candidates else None


@pytest.fixture(scope="session")
def mono_tools() -> MonoTools:
    missing = [tool for tool in ("mcs", "mono", "nunit-console") if shutil.which(tool) is None]
    framework = _nunit_framework()
    if missing or framework is None:
        what = ", ".join(missing + ([] if framework else ["nunit.framework.dll"]))
        pytest.skip(
            f"Mono/NUnit not installed ({what} missing): apt-get install mono-devel nunit-console libnunit-cil-dev"
        )
    return MonoTools(shutil.which("mcs"), shutil.which("mono"), shutil.which("nunit-console"), framework)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unity-build")


@pytest.fixture(scope="session")
def runtime_dll(mono_tools: MonoTools, build_dir: Path) -> Path:
    """The package's Runtime assembly, compiled exactly as the asmdef scopes it (no UnityEngine reference)."""
    return mono_tools.compile(sources(PACKAGE / "Runtime"), build_dir / "MotionBridge.Runtime.dll")


@pytest.fixture(scope="session")
def unity_stubs(mono_tools: MonoTools, build_dir: Path) -> Path:
    """The UnityEngine/UnityEditor stand-ins (tests/unity/stubs) as one assembly."""
    # The stand-ins declare events nobody raises (CS0067): allowed there, never in the package.
    return mono_tools.compile(sources(HERE / "stubs"), build_dir / "UnityStandIns.dll", warnings_as_errors=False)


@pytest.fixture(scope="session")
def editor_dll(mono_tools: MonoTools, runtime_dll: Path, unity_stubs: Path, build_dir: Path) -> Path:
    """The package's Editor assembly compiled against the Runtime and the stand-ins."""
    return mono_tools.compile(
        sources(PACKAGE / "Editor"), build_dir / "MotionBridge.Editor.dll", references=[runtime_dll, unity_stubs]
    )
