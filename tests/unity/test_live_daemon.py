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
    if "live" in daemon.server.capabilities:
        assert found["live_unavailable"] == "none"
        assert found["live_hips_follow_the_stream"] == "True", "the frame under the live playhead is on the character"
        assert found["live_state_prompt"] == "a person jumps", "the edited prompt went out once it rested"
        assert found["live_record_status"].startswith("recorded 30 frames (1.0 s) to Assets/MotionBridge/live_a_person")
        assert found["live_stopped_pose"] == "0,1,0" and found["live_running"] == "False"
    else:
        assert found["live_unavailable"].startswith("this daemon does not serve \"live\"")


# ------------------------------------------------------------------------------------ protocol v1.1 on a real daemon


@pytest.fixture(scope="module")
def v11_probe(mono_tools: Any, build_dir: Path) -> Path:
    """tests/unity/probe/V11Probe.cs compiled with the Runtime sources, as one console program."""
    files = sorted((PACKAGE / "Runtime").rglob("*.cs")) + [HERE / "probe" / "V11Probe.cs"]
    return mono_tools.compile(files, build_dir / "V11Probe.exe", target="exe")


def run_v11(mono_tools: Any, probe: Path, daemon: Daemon, mode: str, out: Path) -> dict[str, str]:
    run = run_probe(mono_tools, probe, daemon.url, mode, str(out))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    print(run.stdout)  # timings for the record (shown with -s or on failure)
    found = dict(line.partition("=")[::2] for line in run.stdout.splitlines() if "=" in line)
    assert found["v11_probe"] == "ok"
    return found


def read_take(out: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    root = np.frombuffer((out / f"{name}_root.f32").read_bytes(), dtype="<f4").reshape(-1, 3)
    rotations = np.frombuffer((out / f"{name}_rotations.f32").read_bytes(), dtype="<f4").reshape(len(root), -1, 4)
    return root, rotations


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between unit quaternions (x, y, z, w), q and −q being the same rotation."""
    dot = np.abs(np.sum(a.astype(np.float64) * b, axis=-1)).clip(0.0, 1.0)
    return np.degrees(2 * np.arccos(dot))


def test_csharp_client_continues_a_clip_and_follows_a_timeline_along_a_path(
    mono_tools: Any, v11_probe: Path, daemon: Daemon, tmp_path: Path
) -> None:
    found = run_v11(mono_tools, v11_probe, daemon, "directing", tmp_path)
    assert {"constraints", "timeline"} <= set(found["capabilities"].split(","))
    first_root, first_rotations = read_take(tmp_path, "first")
    for name in ("by_job", "by_frames"):
        root, rotations = read_take(tmp_path, name)
        # Frame 0 of a continuation is the given last frame (unity convention on both sides).
        np.testing.assert_allclose(root[0], first_root[-1], atol=1e-3, err_msg=name)
        assert angle_deg(rotations[0], first_rotations[-1]).max() < 0.5, name
        assert len(root) == 60
    root, _ = read_take(tmp_path, "timeline")
    assert found["timeline_frames"] == "75" and len(root) == 75, "seconds is the segments' sum, 1.0 + 1.5 s"
    assert found["timeline_segments"] == "0+30,30+45"
    # The waypoint at 1.5 s (frame 45), (0.5, 1.0) on the ground of the unity target (x is not mirrored back).
    miss = np.hypot(root[45, 0] - 0.5, root[45, 2] - 1.0)
    assert miss < 0.05, f"the root passes {miss:.3f} m from the waypoint"


def test_csharp_client_runs_a_live_session_on_a_real_daemon(
    mono_tools: Any, v11_probe: Path, daemon: Daemon, tmp_path: Path
) -> None:
    if "live" not in daemon.server.capabilities:
        pytest.skip("this daemon does not list 'live' in its capabilities yet")
    found = run_v11(mono_tools, v11_probe, daemon, "live", tmp_path)
    assert "live" in found["capabilities"].split(",")
    assert found["second_live"] == "busy", "one live session per connection"
    assert found["state_prompt"] == "a person jumps on the spot"
    assert int(found["state_frame"]) >= 1
    received = int(found["received"])
    assert int(found["done_frames"]) == received, "done.frames counts the frames sent, and every one arrived"
    assert int(found["kept"]) == received >= int(found["state_frame"]) + 30
    # Paced to real time: frames 1 … 60 (2 s of motion) are spread over about 2 s less the 0.3 s buffer, not a burst.
    assert float(found["frames_1_to_60_s"]) > 1.2, found["frames_1_to_60_s"]
    root, rotations = read_take(tmp_path, "live")
    assert len(root) == received and rotations.shape[1] == 22
    np.testing.assert_allclose(np.linalg.norm(rotations, axis=-1), 1.0, atol=1e-3)
    assert np.ptp(root[:, [0, 2]], axis=0).max() > 1e-3, "the root moves: real motion streamed"
