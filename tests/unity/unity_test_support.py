"""Running a compiled C# test assembly with nunit-console and reading its results (NUnit 2.6 or 3 XML)."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class NUnitRun:
    """What nunit-console reported for one test assembly."""

    passed: int = 0
    failed: int = 0
    not_run: int = 0
    failures: list[str] = field(default_factory=list)
    output: str = ""


def count_results(xml_path: Path) -> NUnitRun:
    """Passed, failed, not run and failure texts from an NUnit 2.6 or 3 result file."""
    counted = NUnitRun()
    for case in ET.parse(xml_path).getroot().iter("test-case"):
        result = case.get("result", "")
        if case.get("executed") == "False" or result in ("Ignored", "Skipped", "NotRunnable", "Inconclusive"):
            counted.not_run += 1
        elif case.get("success") == "True" or result == "Passed":
            counted.passed += 1
        else:
            counted.failed += 1
            message = case.find(".//message")
            counted.failures.append(f"{case.get('name')}: {message.text if message is not None else result}")
    return counted


def run_nunit(tools: Any, tests_dll: Path, env: Mapping[str, str] | None = None) -> NUnitRun:
    """Run one test assembly with nunit-console in its own folder (its references must sit next to it)."""
    result_xml = tests_dll.with_suffix(".results.xml")
    run = subprocess.run(
        [tools.nunit_console, str(tests_dll), "-nologo", f"-xml={result_xml}"],
        capture_output=True, text=True, timeout=300, cwd=tests_dll.parent, env={**os.environ, **(env or {})},
    )
    if not result_xml.exists():
        pytest.fail(f"nunit-console produced no results (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    counted = count_results(result_xml)
    counted.output = run.stdout
    return counted
