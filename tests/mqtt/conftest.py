"""A real Mosquitto 2 broker on a free loopback port, with a generated config in a temp dir.

Every test module here is marked `mqtt`; the fixtures skip cleanly when /usr/sbin/mosquitto is absent.
`broker.restart()` stops and starts the same broker on the same port (for reconnect tests).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MOSQUITTO = Path("/usr/sbin/mosquitto")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One Mosquitto process; `users` switches on username/password auth (anonymous refused)."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, tls: bool = False):
        self.workdir = workdir
        self.port = free_port()
        self.users = users
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "set_tcp_nodelay true",
        ]
        if users:
            pwfile = workdir / "passwd"
            pwfile.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True)
            # Started as root, Mosquitto drops to user "mosquitto", who cannot read a private tmp dir.
            lines += ["allow_anonymous false", f"password_file {pwfile}", f"user {getpass.getuser()}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            # A self-signed certificate for localhost/127.0.0.1 that clients trust through ?ca=.
            self.ca = workdir / "broker.pem"
            key = workdir / "broker.key"
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    str(key),
                    "-out",
                    str(self.ca),
                    "-days",
                    "1",
                    "-subj",
                    "/CN=localhost",
                    "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                ],
                check=True,
                capture_output=True,
            )
            lines += [f"certfile {self.ca}", f"keyfile {key}", f"user {getpass.getuser()}"]
        self.config = workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = workdir / "mosquitto.log"

    def url(self, prefix: str = "mbtest", auth: str = "") -> str:
        if self.tls:
            return f"mqtts://{auth}127.0.0.1:{self.port}/{prefix}?ca={self.ca}"
        return f"mqtt://{auth}127.0.0.1:{self.port}/{prefix}"

    def start(self) -> None:
        log = self.log.open("ab")
        self.proc = subprocess.Popen([str(MOSQUITTO), "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port in 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


def _need_mosquitto() -> None:
    if not MOSQUITTO.exists():
        pytest.skip("Mosquitto is not installed at /usr/sbin/mosquitto (apt-get install mosquitto)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    _need_mosquitto()
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Broker]:
    _need_mosquitto()
    b = Broker(tmp_path, users={"studio": "s3cret:pw"})
    b.start()
    yield b
    b.stop()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    _need_mosquitto()
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test broker's certificate")
    b = Broker(tmp_path, tls=True)
    b.start()
    yield b
    b.stop()


class WorkerProcess:
    """`python -m bridge.cli worker` (= `motionbridge worker`) as a real subprocess on the paced test model."""

    def __init__(self, url: str, node: str, log: Path, step_s: float = 0.02, steps: int = 8):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        env["PACED_STEP_S"], env["PACED_STEPS"] = str(step_s), str(steps)
        self.log = log
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bridge.cli",
                "worker",
                "--mqtt",
                url,
                "--node",
                node,
                "--model",
                "tests.mqtt.mqtt_paced_model:make_model",
                "--heartbeat",
                "0.5",
            ],
            cwd=REPO,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator:
    started: list[WorkerProcess] = []

    def spawn(url: str, node: str, **kw: float) -> WorkerProcess:
        w = WorkerProcess(url, node, tmp_path / f"{node}.log", **kw)
        started.append(w)
        return w

    yield spawn
    for w in started:
        w.terminate()
