"""`pip install motionbridge` without the serve extra gives a working client and command line and no torch.

A fresh virtual environment gets the package from this checkout (its dependencies from the configured index);
where pip cannot reach an index the test is skipped, not failed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_INDEX = ("No matching distribution", "Could not find a version", "Failed to establish a new connection",
            "Network is unreachable", "Temporary failure in name resolution", "ConnectTimeoutError")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("client") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # A copy of the tree without build leftovers, so the wheel is built from sources only.
    src = tmp_path_factory.mktemp("src") / "motionbridge"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv*", ".git", "*.egg-info", "build", "__pycache__",
                                                            "unity_client", "unreal_client", "tests"))
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", str(src)], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        if any(marker in done.stderr for marker in NO_INDEX):
            pytest.skip(f"pip cannot reach a package index: {done.stderr.strip().splitlines()[-1]}")
        pytest.fail(f"pip install failed:\n{done.stderr}")
    return venv


def test_the_client_installs_and_imports_without_torch(client_venv: Path):
    code = (
        "import importlib.util, sys, time\n"
        "t = time.perf_counter()\n"
        "import bridge.client\n"
        "print(time.perf_counter() - t)\n"
        "assert importlib.util.find_spec('torch') is None, 'torch was installed'\n"
        "assert 'torch' not in sys.modules\n"
        "from bridge.client import MotionBridgeSyncClient, MotionBridgeClient  # noqa: F401\n"
    )
    done = subprocess.run([str(client_venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=client_venv)
    assert done.returncode == 0, done.stderr


def test_status_without_a_daemon_answers_at_once(client_venv: Path):
    url = f"ws://127.0.0.1:{_free_port()}/v1"
    start = time.perf_counter()
    done = subprocess.run([str(client_venv / "bin" / "motionbridge"), "status", "--url", url], capture_output=True,
                          text=True, timeout=120, cwd=client_venv)
    elapsed = time.perf_counter() - start
    assert done.returncode == 1
    assert f"no daemon at {url}" in done.stderr
    assert elapsed < 10  # generous on a loaded CI machine; the point is that no model stack is imported


def test_serving_without_the_extra_says_what_to_install(client_venv: Path):
    done = subprocess.run([str(client_venv / "bin" / "motionbridge"), "serve", "--port", "0"], capture_output=True,
                          text=True, timeout=120, cwd=client_venv)
    assert done.returncode != 0
    assert "pip install 'motionbridge[serve]'" in done.stderr
