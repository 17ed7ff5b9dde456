"""Shared pieces of the Unreal plugin's tests: where the plugin lives (put on sys.path) and a live daemon."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "unreal_client" / "MotionBridge"
PLUGIN_PYTHON = PLUGIN / "Content" / "Python"
if str(PLUGIN_PYTHON) not in sys.path:
    sys.path.insert(0, str(PLUGIN_PYTHON))


class LiveDaemon:
    """The real MotionBridge daemon (tiny random-weight model) serving on a free loopback port in a thread."""

    def __init__(self, output_dir: Path, port: int = 0, model: Any = None) -> None:
        import torch

        from bridge.server import ServerConfig, run_server
        from engine.model.testing import tiny_random_model

        torch.set_num_threads(1)
        self.model = model if model is not None else tiny_random_model(seed=0, device="cpu")
        self._config = ServerConfig(host="127.0.0.1", port=port, output_dir=output_dir)
        self._run_server = run_server
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.server: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="motionbridge-daemon", daemon=True)

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def started(server: Any) -> None:
                self.server = server
                self._started.set()

            await self._run_server(self.model, self._config, self._stop, on_started=started)

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported to the test thread by start()
            self.error = exc
            self._started.set()

    def start(self) -> LiveDaemon:
        self._thread.start()
        if not self._started.wait(60) or self.error is not None or self.server is None:
            raise RuntimeError(f"the daemon did not start: {self.error!r}")
        return self

    @property
    def port(self) -> int:
        return int(self.server.port)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
