"""The `motionbridge` command line: generate and status against a running daemon, `serve` as a real
subprocess stopped by a signal, dispatch of other modules' commands, and `bench bridge`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bridge import bench, cli
from bridge.cli import COMMANDS, Command, available_commands, main
from engine.core.motion import Motion

REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_generate_command_uses_the_running_daemon(daemon, tmp_path) -> None:
    out = tmp_path / "walk.npz"
    done = run_cli(
        "generate",
        "a person walks forward",
        "--url",
        daemon.url,
        "-o",
        str(out),
        "--seconds",
        "1.5",
        "--steps",
        "4",
        "--seed",
        "3",
        "--samples",
        "2",
    )
    assert done.returncode == 0, done.stderr
    assert "4/4 steps" in done.stderr and f"daemon {daemon.url}" in done.stderr
    first, second = Motion.load_npz(tmp_path / "walk_0.npz"), Motion.load_npz(tmp_path / "walk_1.npz")
    assert first.frames == 45 and first.text == "a person walks forward"
    assert (first.seed, second.seed) == (3, 4)
    assert daemon.call(lambda: daemon.server.scheduler.jobs_done) == 1


def test_generate_errors_are_one_clear_line(daemon, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["generate", "walk", "--url", daemon.url, "--seconds", "1000", "-o", str(tmp_path / "x.npz")])
    assert "too_long" in str(info.value)
    with pytest.raises(SystemExit) as info:
        main(["generate", "walk", "--url", f"ws://127.0.0.1:{free_port()}/v1", "-o", str(tmp_path / "x.npz")])
    assert "cannot reach the daemon" in str(info.value)
    assert main(["generate", "walk", "--url", daemon.url, "-o", str(tmp_path / "x.fbx")]) == 2
    assert ".npz, .bvh or .glb" in capsys.readouterr().err


def test_generate_in_process_without_a_daemon(tmp_path, capsys) -> None:
    out = tmp_path / "in.npz"
    code = main(
        [
            "generate",
            "a person turns",
            "--in-process",
            "--model",
            "random:test",
            "--seconds",
            "1",
            "--steps",
            "3",
            "--in-place",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    motion = Motion.load_npz(out)
    assert motion.frames == 30
    assert abs(motion.root[:, [0, 2]]).max() < 1e-6
    assert "in-process model random:test" in capsys.readouterr().err
    bvh = tmp_path / "in.bvh"
    assert (
        main(
            [
                "generate",
                "a person turns",
                "--in-process",
                "--model",
                "random:test",
                "--seconds",
                "1",
                "--steps",
                "2",
                "--target",
                "unity",
                "-o",
                str(bvh),
            ]
        )
        == 0
    )
    assert bvh.read_text().startswith("HIERARCHY") and "LeftUpperLeg" in bvh.read_text()


def test_status_command(daemon, capsys) -> None:
    assert main(["status", "--url", daemon.url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["model"]["name"] == "tiny-random" and status["queue"] == 0
    assert main(["status", "--url", daemon.url]) == 0
    assert "tiny-random" in capsys.readouterr().out
    assert main(["status", "--url", f"ws://127.0.0.1:{free_port()}/v1"]) == 1
    assert "motionbridge serve" in capsys.readouterr().err


def _wait_for_health(url: str, process: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("daemon did not come up")


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_serve_subprocess_shuts_down_gracefully_on_signal(raw, tmp_path, sig) -> None:
    port = free_port()
    out = tmp_path / "jobs"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.cli",
            "serve",
            "--port",
            str(port),
            "--model",
            "random:test",
            "--output-dir",
            str(out),
            "--log-level",
            "warning",
            "--shutdown-timeout",
            "60",
        ],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/health", process)
        assert health["status"] == "ok" and health["model"] == "random-test"

        async def scenario():
            client = await raw.ready(f"ws://127.0.0.1:{port}/v1")
            await client.send({"op": "generate", "id": "g", "prompt": "a person spins", "seconds": 2.0, "steps": 40})
            while (await client.recv(timeout=60))["op"] != "progress":
                pass
            process.send_signal(sig)
            messages = await client.until("g", timeout=60)
            return messages, await client.close_code(timeout=60)

        messages, code = asyncio.run(scenario())
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert messages[-1]["op"] == "done"
    assert code == 1001
    job = messages[-1]["job"]
    assert (out / f"{job}.mbjob").is_file()
    assert "shutting down" in process.stderr.read()


def test_serve_refuses_a_public_bind_without_token(capsys) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without a token" in capsys.readouterr().err


def test_serve_with_a_missing_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--port", "0", "--model", str(tmp_path / "no-such-model"), "--output-dir", str(tmp_path)])
    assert "cannot load model" in str(info.value)


def test_commands_of_missing_modules_are_hidden(monkeypatch, capsys) -> None:
    ghost = Command(("ghost",), "engine.no_such_module_anywhere", "a command whose module is not installed")
    monkeypatch.setattr(cli, "COMMANDS", (*COMMANDS, ghost))
    assert ghost not in available_commands()
    assert {c.words for c in available_commands()} >= {("serve",), ("generate",), ("status",), ("bench", "bridge")}
    with pytest.raises(SystemExit):
        main(["ghost"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "ghost" not in capsys.readouterr().out


def test_bench_bridge_reports_latency_and_codec_ratios(capsys) -> None:
    args = argparse.Namespace(clients=3, requests=2, seconds=1.0, steps=3, overhead_requests=4, json=True)
    assert bench.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    daemon, overhead, codec = report["daemon"], report["overhead"], report["codec"]
    assert daemon["requests"] == 6 and daemon["requests_per_s"] > 0
    assert 0 < daemon["latency_p50_ms"] <= daemon["latency_p99_ms"]
    # accepted, 3 progress, 1 motion, done: the bare server replays exactly these frames.
    assert overhead["requests"] == 4 and overhead["frames_per_request"] == 6
    assert 0 < overhead["bare_p50_ms"] <= overhead["bare_p99_ms"]
    assert 0 < overhead["daemon_p50_ms"] <= overhead["daemon_p99_ms"]
    assert overhead["overhead_p99_ms"] == overhead["daemon_p99_ms"] - overhead["bare_p99_ms"]
    assert codec["frames"] == 30
    assert codec["msgpack_bytes"] < codec["json_base64_bytes"] < codec["json_lists_bytes"]
    assert codec["size_ratio_json_lists_over_msgpack"] > 1.5
