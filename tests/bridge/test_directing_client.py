"""Directing (protocol v1.1) from the Python client and `motionbridge generate` (daemon and in-process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from bridge.cli import main
from bridge.client import (
    MotionBridgeClient,
    MotionBridgeError,
    effector_key,
    end_pose,
    pose_key,
    segment,
    start_from,
    start_from_job,
    waypoint,
)
from engine.core.motion import Motion

STEPS = 4


def angle_deg(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    q1 = q1 / np.linalg.norm(q1, axis=-1, keepdims=True)
    q2 = q2 / np.linalg.norm(q2, axis=-1, keepdims=True)
    return np.degrees(2 * np.arccos(np.clip(np.abs((q1 * q2).sum(-1)), 0.0, 1.0)))


def test_client_helpers_build_the_v1_1_fields(daemon) -> None:
    async def scenario():
        async with MotionBridgeClient(daemon.url) as client:
            assert client.hello["capabilities"] == ["constraints", "timeline", "live"]
            first = await client.generate_motion("a person walks", seconds=2.0, steps=STEPS, target="unity")
            a = first.samples[0]
            directed = await client.generate_motion(
                "a person walks on", seconds=2.0, steps=STEPS, target="unity",
                start=start_from(a.root, a.rotations),
                keys=[pose_key(1.0, a.rotations[10]), effector_key(0.5, "RightHand", a.root[-1] + [0.0, 0.5, 0.0])],
                path=[waypoint(1.5, a.root[-1] + [0.3, 0.0, 0.4], facing=0.2)],
                end=end_pose(a.rotations[0]),
            )
            b = directed.samples[0]
            np.testing.assert_allclose(b.root[0], a.root[-1], atol=1e-3)
            assert angle_deg(b.rotations[30], a.rotations[10]).max() < 2.0
            assert np.linalg.norm((b.root[45] - (a.root[-1] + [0.3, 0.0, 0.4]))[[0, 2]]) < 0.05
            assert directed.segments is None
            again = await client.generate_motion("a person sits", seconds=1.0, steps=STEPS, target="unity",
                                                 start=start_from_job(first.job))
            np.testing.assert_allclose(again.samples[0].root[0], a.root[-1], atol=1e-3)
            segments = [segment("walk", 1.0), segment("sit", 1.0)]
            timeline = await client.generate_motion("", steps=STEPS, segments=segments)
            assert timeline.segments == [{"start": 0, "count": 30}, {"start": 30, "count": 30}]
            with pytest.raises(MotionBridgeError) as info:
                await client.generate_motion("walk", steps=STEPS, keys=[effector_key(1.0, "Tail", (0, 0, 0))])
            assert info.value.code == "bad_request" and "keys[0].effector" in info.value.message

    asyncio.run(scenario())


def _generate(args: list[str], out: Path) -> Motion:
    assert main(["generate", *args, "--steps", str(STEPS), "-o", str(out)]) == 0
    return Motion.load_npz(out)


@pytest.mark.parametrize("where", ["daemon", "in-process"])
def test_generate_command_directing_flags(daemon, tmp_path, where) -> None:
    place = ["--url", daemon.url] if where == "daemon" else ["--in-process", "--model", "random:test"]
    first = _generate(["a person walks", "--seconds", "2", *place], tmp_path / "first.npz")
    pose_frame = 12
    directed = _generate(
        ["a person walks on", "--seconds", "2", *place,
         "--start-from", str(tmp_path / "first.npz"),
         "--key", f"1.0:{tmp_path / 'first.npz'}:{pose_frame}",
         "--path", "1.5,0.5,1.0,0.3; 1.9,0.6,1.2"],
        tmp_path / "directed.npz",
    )
    np.testing.assert_allclose(directed.root[0], first.root[-1], atol=1e-3)
    assert angle_deg(directed.rotations[0], first.rotations[-1]).max() < 0.5
    assert angle_deg(directed.rotations[30, :22], first.rotations[pose_frame, :22]).max() < 2.0
    assert np.linalg.norm(directed.root[45, [0, 2]] - [0.5, 1.0]) < 0.05
    timeline = _generate(["--timeline", "walk forward:1|sit down:0.5", *place], tmp_path / "timeline.npz")
    assert timeline.frames == 45


def test_generate_command_directing_errors(daemon, tmp_path, capsys) -> None:
    out = str(tmp_path / "x.npz")
    with pytest.raises(SystemExit) as info:
        main(["generate", "walk", "--url", daemon.url, "--path", "1,2", "-o", out])
    assert "--path" in str(info.value)
    with pytest.raises(SystemExit) as info:
        main(["generate", "walk", "--url", daemon.url, "--timeline", "walk", "-o", out])
    assert "--timeline" in str(info.value)
    with pytest.raises(SystemExit) as info:
        main(["generate", "walk", "--url", daemon.url, "--path", "9,0,1", "--seconds", "1", "-o", out])
    assert "bad_request" in str(info.value) and "path[0].time" in str(info.value)
    assert main(["generate", "--url", daemon.url, "-o", out]) == 2
    assert "give a prompt" in capsys.readouterr().err
