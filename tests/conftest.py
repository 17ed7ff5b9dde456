"""Suite-wide rules.

On a developer's machine a test that needs a real outside tool (Mono, Mosquitto, Chromium, Blender) skips
with a reason when the tool is missing. In CI (`CI` set) those tools are installed by `.ci/run`, so such a
skip means the real part was never exercised: it is reported as a failure instead of a green skip.
"""

from __future__ import annotations

import os

import pytest

REAL_PART_MARKERS = ("mono", "mqtt", "browser", "blender")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped):
        return
    markers = [m for m in REAL_PART_MARKERS if item.get_closest_marker(m)]
    if markers:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI must run the real part ({', '.join(markers)}) but the test skipped: {reason}"
