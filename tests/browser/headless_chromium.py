"""Headless Chromium driven over the Chrome DevTools Protocol (CDP), with the `websockets` we already ship.

A real browser, no WebDriver layer: launch Chromium with a fresh profile and `--remote-debugging-port=0`,
read the port from the profile's `DevToolsActivePort`, attach to a page target (flat sessions) and send
CDP commands. Mouse clicks and typing go through `Input.*`, so pages see trusted events as from a user.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

LAUNCH_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
)


class CdpError(RuntimeError):
    """A CDP command failed, or the browser did not start / answer in time."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None. `MOTIONBRIDGE_CHROMIUM` overrides the search."""
    override = os.environ.get("MOTIONBRIDGE_CHROMIUM")
    if override:
        return override if Path(override).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One Chromium process with a throwaway profile; use as a context manager."""

    def __init__(self, executable: str, profile_dir: Path, extra_flags: tuple[str, ...] = ()) -> None:
        self.profile_dir = Path(profile_dir)
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.profile_dir / "chromium.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [executable, *LAUNCH_FLAGS, *extra_flags, f"--user-data-dir={self.profile_dir}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._stack = ExitStack()
        try:
            port, path = self._devtools_endpoint(timeout=30.0)
            self.ws = self._stack.enter_context(connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=10))
        except BaseException:
            self.close()
            raise

    def _devtools_endpoint(self, timeout: float) -> tuple[int, str]:
        marker = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CdpError(f"chromium exited with {self.proc.returncode}; log: {self.log_path}")
            if marker.is_file():
                lines = marker.read_text().split()
                if len(lines) >= 2:
                    return int(lines[0]), lines[1]
            time.sleep(0.05)
        raise CdpError(f"chromium did not open its DevTools port within {timeout:.0f} s; log: {self.log_path}")

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        """Sends one command and returns its result; events that arrive meanwhile are kept in `events`."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline, f"reply to {method}")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}")
                return reply.get("result", {})

    def _receive(self, deadline: float, what: str) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CdpError(f"timed out waiting for {what}")
        try:
            raw = self.ws.recv(timeout=left)
        except TimeoutError:
            raise CdpError(f"timed out waiting for {what}") from None
        msg = json.loads(raw)
        if "method" in msg:
            self.events.append(msg)
        return msg

    def wait_event(self, method: str, predicate: Callable[[dict], bool] = lambda p: True,
                   timeout: float = 30.0) -> dict[str, Any]:
        """The params of the first event `method` (already received or arriving) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if ev["method"] == method and predicate(ev.get("params", {})):
                    self.events.remove(ev)
                    return ev.get("params", {})
            seen = len(self.events)
            self._receive(deadline, f"event {method}")

    def new_page(self, width: int = 1280, height: int = 720) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return page

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                ws.send(json.dumps({"id": 0, "method": "Browser.close"}))
            except Exception:  # noqa: BLE001 - the browser may already be gone; we kill it below anyway
                pass
        self._stack.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """A page target attached with a flat session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def goto(self, url: str, timeout: float = 30.0) -> None:
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """Value of a JavaScript expression (promises are awaited); page exceptions raise CdpError."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in res:
            details = res["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"evaluating {expression[:80]!r} threw: {text}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.05) -> Any:
        """Polls a JavaScript expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"timed out after {timeout:.0f} s waiting for {expression!r} (last value {value!r})")
            time.sleep(interval)

    def box(self, selector: str) -> tuple[float, float, float, float]:
        """(x, y, width, height) of an element in CSS pixels, scrolled into view first."""
        rect = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()"
        )
        if rect is None:
            raise CdpError(f"no element matches {selector!r}")
        return tuple(rect)

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element."""
        x, y, w, h = self.box(selector)
        cx, cy = x + w / 2, y + h / 2
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": cx, "y": cy})
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": cx, "y": cy, "button": "left", "clickCount": 1})

    def type_into(self, selector: str, text: str) -> None:
        """Clicks into a field, selects what is there and types `text` over it."""
        self.click(selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        self.call("Input.insertText", {"text": text})

    def press(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        """One key press on the focused element (modifiers: 2 = Ctrl, 8 = Shift)."""
        base = {"key": key, "code": code, "windowsVirtualKeyCode": key_code, "modifiers": modifiers}
        self.call("Input.dispatchKeyEvent", {"type": "rawKeyDown", **base})
        self.call("Input.dispatchKeyEvent", {"type": "keyUp", **base})

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def exceptions(self) -> list[str]:
        """Uncaught page exceptions and console errors so far."""
        out = []
        for ev in self.browser.events:
            if ev.get("sessionId") != self.session:
                continue
            if ev["method"] == "Runtime.exceptionThrown":
                d = ev["params"]["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text", "?"))
            elif ev["method"] == "Runtime.consoleAPICalled" and ev["params"].get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in ev["params"]["args"]))
        return out
