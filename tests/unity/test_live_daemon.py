"""A C# console program built from the package's Runtime sources (tests/unity/probe) talks to a real MotionBridge
daemon on loopback: handshake, generate with previews and chunks, cancel, and reconnect after a daemon restart.
The final rotations it decodes must be bit-identical to what the Python client decodes for the same job.
A second program (tests/unity/editor_probe) runs the package's Editor connection logic, driven through the
editor update loop as Unity drives it, against the same daemon."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bridge.client import MotionBridgeSyncClient
from bridge.server import MotionBridgeServer, ServerConfig
from engine.core.targets import TARGETS
from engine.model.generation import MotionModel
from engine.model.testing import tiny_random_model

pytestmark = pytest.mark.mono

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "unity_client"
PROMPT = "a person walks forward and waves"


@dataclass
class Daemon:
    """A daemon serving on its own event-loop thread, as `motionbridge serve` does in its own process."""

    server: MotionBridgeServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """Graceful shutdown: clients see close code 1001, like Ctrl+C on `motionbridge serve`."""
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(timeout=60)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)


def serve(model: MotionModel, port: int, output_dir: Path) -> Daemon:
    loop = asyncio.new_event_loop()
    started: Future = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            server = MotionBridgeServer(model, ServerConfig(port=port, output_dir=output_dir, shutdown_timeout=5.0))
            loop.run_until_complete(server.start())
        except BaseException as exc:  # surfaced to the test through the future
            started.set_exception(exc)
            return
        started.set_result(server)
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="unity-test-daemon", daemon=True)
    thread.start()
    return Daemon(started.result(timeout=60), loop, thread)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_values(output: str) -> dict[str, str]:
    """The probe's `key=value` tokens (later ones win)."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        for token in line.split():
            key, sep, value = token.partition("=")
            if sep:
                values[key] = value
    return values


@pytest.fixture(scope="module")
def tiny_model() -> MotionModel:
    torch.set_num_threads(1)
    return tiny_random_model(seed=0)


@pytest.fixture(scope="module")
def daemon(tiny_model: MotionModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = serve(tiny_model, 0, tmp_path_factory.mktemp("jobs"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def probe_exe(mono_tools: Any, build_dir: Path) -> Path:
    """The probe compiled together with the Runtime sources, as one console program."""
    files = sorted((PACKAGE / "Runtime").rglob("*.cs")) + [HERE / "probe" / "MotionBridgeProbe.cs"]
    return mono_tools.compile(files, build_dir / "MotionBridgeProbe.exe", target="exe")


def run_probe(mono_tools: Any, probe: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([mono_tools.mono, str(probe), *args], capture_output=True, text=True, timeout=timeout)


def test_csharp_client_generates_and_decodes_bit_identical_to_the_python_client(
    mono_tools: Any, probe_exe: Path, daemon: Daemon, tmp_path: Path
) -> None:
    out = tmp_path / "probe"
    run = run_probe(mono_tools, probe_exe, "--url", daemon.url, "--out", str(out), "--prompt", PROMPT,
                    "--seconds", "2", "--seed", "3", "--samples", "2", "--steps", "8")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = key_values(run.stdout)
    print(run.stdout)  # latencies for the record (shown with -s or on failure)
    assert found["probe"] == "ok" and found["cancel"] == "ok"
    assert found["model"] == daemon.server.model.name
    frames, samples = int(found["frames"]), int(found["samples"])
    assert samples == 2 and frames == 60
    assert int(found["progress"]) == 8 * samples or int(found["progress"]) == 8
    assert int(found["previews"]) >= 1
    assert int(found["chunks"]) == samples * -(-frames // 16)

    with MotionBridgeSyncClient(daemon.url) as python_client:
        result = python_client.fetch(found["job"], target="unity")
        hello = python_client.hello
    unity = TARGETS["unity"]
    assert len(result.samples) == samples
    for k, sample in enumerate(result.samples):
        assert sample.seed == 3 + k
        csharp_rotations = (out / f"rotations_{k}.f32").read_bytes()
        csharp_root = (out / f"root_{k}.f32").read_bytes()
        assert csharp_rotations == np.ascontiguousarray(sample.rotations, dtype="<f4").tobytes()
        assert csharp_root == np.ascontiguousarray(sample.root, dtype="<f4").tobytes()
        assert (out / f"joints_{k}.txt").read_text().split("\n") == list(unity.joints)
        # Not a constant clip: the comparison above compared real motion.
        assert np.ptp(sample.rotations, axis=0).max() > 1e-3
    rest = np.frombuffer((out / "rest_unity.f32").read_bytes(), dtype="<f4").reshape(-1, 3)
    np.testing.assert_array_equal(rest, unity.convert_positions(np.array(hello["skeleton"]["rest"])))


@pytest.mark.slow
def test_csharp_client_reconnects_after_the_daemon_restarts(
    mono_tools: Any, probe_exe: Path, tiny_model: MotionModel, tmp_path: Path
) -> None:
    port = free_port()
    first = serve(tiny_model, port, tmp_path / "jobs")
    probe = subprocess.Popen([mono_tools.mono, str(probe_exe), "--url", first.url, "--mode", "reconnect"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline:
            line = probe.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("WAITING_FOR_RESTART"):
                break
        assert lines and lines[-1].startswith("WAITING_FOR_RESTART"), "".join(lines) + probe.stderr.read()
        first.stop()
        second = serve(tiny_model, port, tmp_path / "jobs")
        rest, errors = probe.communicate(timeout=120)
    finally:
        if probe.poll() is None:
            probe.kill()
        if second is not None:
            second.stop()
    output = "".join(lines) + rest
    assert probe.returncode == 0, output[-3000:] + errors[-3000:]
    found = key_values(output)
    assert found["reconnected"] == "ok" and found["connections"] == "2"
    assert "server shutting down" in output, "the client should report the daemon's 1001 close"


def test_editor_window_logic_generates_cancels_and_closes_for_reload(
    mono_tools: Any, editor_dll: Path, runtime_dll: Path, unity_stubs: Path, daemon: Daemon
) -> None:
    probe = mono_tools.compile([HERE / "editor_probe" / "EditorSessionProbe.cs"],
                               editor_dll.parent / "EditorSessionProbe.exe", target="exe",
                               references=[runtime_dll, unity_stubs, editor_dll])
    run = run_probe(mono_tools, probe, daemon.url)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = dict(line.partition("=")[::2] for line in run.stdout.splitlines() if "=" in line)
    assert found["editor_probe"] == "ok"
    assert found["connected_status"].startswith("connected to motionbridge/")
    assert found["done_status"].startswith("done: 2 × 60 frames")
    assert found["takes"] == "2" and found["frames"] == "60" and found["seeds"] == "11,12"
    assert found["progress"] == "1" and found["samples_shown"] == "2" and found["current_final"] == "True"
    assert found["history"] == "a person walks forward and waves", "the prompt is trimmed and remembered"
    assert found["skeleton_joints"] == "22"
    assert float(found["play_time"]) > 0.1, "the playhead advances with wall-clock time"
    assert found["preview_problem"] == "select a character with an Animator"
    assert found["cancel_status"] == "cancelled" and found["takes_after_cancel"] == "0"
    assert found["after_reload_client"] == "closed" and found["want_connected"] == "True"
