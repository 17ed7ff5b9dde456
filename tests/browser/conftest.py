"""Fixtures for the browser-page tests: a live daemon on a free loopback port and headless Chromium.

The daemon is the real `bridge.server.MotionBridgeServer` around `engine.model.testing.tiny_random_model` (the real
DiT pipeline with random weights), run on its own asyncio loop in a background thread because the CDP
driver in `headless_chromium.py` is synchronous. `MOTIONBRIDGE_BROWSER_TEST_MODEL=tiny` (or a model path)
serves a real model instead, e.g. to refresh docs/img/browser.png with meaningful motion:
`MOTIONBRIDGE_BROWSER_TEST_MODEL=tiny MOTIONBRIDGE_DOCS_SCREENSHOT=1 python -m pytest tests/browser -k webgl`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from headless_chromium import Browser, find_chromium

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"


class LiveDaemon:
    """`MotionBridgeServer` on 127.0.0.1:<free port>, served from a background thread."""

    def __init__(self, output_dir: Path, token: str | None = None, live_off: bool = False) -> None:
        """`live_off`: serve with `--max-live 0`, whose hello leaves "live" out (as an older daemon's)."""
        self.output_dir = output_dir
        self.token = token
        self.live_off = live_off
        self.http_url = ""
        self.server = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="motionbridge-daemon", daemon=True)

    def start(self) -> LiveDaemon:
        self._thread.start()
        if not self._ready.wait(timeout=120):
            raise RuntimeError("the daemon did not start within 120 s")
        if self._error is not None:
            raise RuntimeError(f"the daemon failed to start: {self._error!r}") from self._error
        return self

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        import torch

        from bridge.server import DEFAULT_MAX_LIVE, MotionBridgeServer, ServerConfig
        from engine.model.testing import tiny_random_model

        torch.set_num_threads(1)
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            name = os.environ.get("MOTIONBRIDGE_BROWSER_TEST_MODEL")
            if name:
                from engine import load_model

                model = load_model(name, device="cpu")
            else:
                model = tiny_random_model(seed=0, device="cpu")
            config = ServerConfig(host="127.0.0.1", port=0, output_dir=self.output_dir, token=self.token,
                                  max_live=0 if self.live_off else DEFAULT_MAX_LIVE)
            self.server = MotionBridgeServer(model, config)
            await self.server.start()
            self.http_url = self.server.http_url
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.server.shutdown()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium), or MOTIONBRIDGE_CHROMIUM is wrong")
    return path


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    live = LiveDaemon(tmp_path_factory.mktemp("results")).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def token_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    live = LiveDaemon(tmp_path_factory.mktemp("token-results"), token="s3cret-token").start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def daemon_without_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    live = LiveDaemon(tmp_path_factory.mktemp("results-without-live"), live_off=True).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser(chromium, tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
