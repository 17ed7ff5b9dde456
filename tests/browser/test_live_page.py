"""Live mode on the preview page (issue 20, protocol v1.1 "live") in real headless Chromium against a live daemon.

The page is driven as a user drives it (clicks on the Live switch, typing in the prompt box, the Record button);
what the daemon streamed is read from the page's own state (`window.motionbridge.live`: the frames it holds,
the messages it logged, the replies it got) and from the file Record saved.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from headless_chromium import Browser, Page

from engine.core.motion import Motion

pytestmark = pytest.mark.browser

LIVE = "window.motionbridge.live"


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(1280, 720)
    page.goto(url)
    page.wait_for("document.body.dataset.connection === 'ready'", timeout=30)
    return page


def start_live(page: Page, prompt: str, area: float = 0) -> None:
    page.type_into("#prompt", prompt)
    page.type_into("#area", str(area))
    page.click("#live")
    page.wait_for("document.body.dataset.state === 'live'", timeout=10)
    page.wait_for(f"{LIVE}.clock !== null", timeout=60)  # the first frames are in and playing


def stop_live(page: Page) -> dict:
    page.click("#live")
    page.wait_for(f"{LIVE}.done !== null", timeout=30)
    return page.evaluate(f"{LIVE}.done")


def stream(page: Page) -> dict:
    return page.evaluate(f"(() => {{ const L = {LIVE}; return {{ first: L.buffer.first, end: L.buffer.end,"
                         " playhead: L.playhead, log: L.log }; })()")


def held_frames(page: Page, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Session frames start … stop − 1 as the page holds them: root (n, 3), rotations (n, J, 4)."""
    got = page.evaluate(f"(() => {{ const s = {LIVE}.buffer.slice({start}, {stop});"
                        " return [Array.from(s.root), Array.from(s.rotations)]; })()")
    n = stop - start
    return np.asarray(got[0]).reshape(n, 3), np.asarray(got[1]).reshape(n, -1, 4)


def download_record(browser: Browser, page: Page, folder: Path) -> tuple[Path, str]:
    folder.mkdir(exist_ok=True)
    browser.send("Browser.setDownloadBehavior",
                 {"behavior": "allowAndName", "downloadPath": str(folder), "eventsEnabled": True})
    page.click("#record")
    begin = browser.wait_event("Browser.downloadWillBegin", timeout=30)
    browser.wait_event("Browser.downloadProgress",
                       lambda p: p.get("guid") == begin["guid"] and p.get("state") == "completed", timeout=30)
    return folder / begin["guid"], begin["suggestedFilename"]


def test_live_streams_contiguous_frames_in_real_time_until_switched_off(
        browser: Browser, daemon, artifacts: Path) -> None:
    page = open_page(browser, daemon.http_url + "/")
    assert "live" in page.evaluate("window.motionbridge.hello.capabilities")
    assert page.evaluate("document.querySelector('#live-tools').hidden") is False
    assert page.evaluate("document.querySelector('#record').disabled") is True

    start_live(page, "a person walks forward", area=1.5)
    sent = page.evaluate(f"{LIVE}.request")
    assert sent == {"op": "live_start", "id": sent["id"], "prompt": "a person walks forward", "target": "smplh",
                    "seed": 0, "buffer_ms": 500, "area": 1.5}
    assert page.evaluate(f"{LIVE}.job")
    # One model stream per page: Generate waits while live is on.
    assert page.evaluate("[document.querySelector('#generate').disabled, document.querySelector('#area').disabled]"
                         ) == [True, True]

    fps = page.evaluate("window.motionbridge.hello.model.fps")
    t0, s0 = time.monotonic(), stream(page)
    ends = []
    for _ in range(4):
        time.sleep(1.0)
        ends.append(stream(page)["end"])
    elapsed, s1 = time.monotonic() - t0, stream(page)
    # Frames keep coming, every second, at about real time (paced by the daemon, a loaded CPU may lag a little).
    assert all(b > a for a, b in zip([s0["end"], *ends], ends, strict=False)), (s0["end"], ends)
    assert s1["end"] - s0["end"] >= 0.6 * elapsed * fps, (s0, s1, elapsed)
    # The playhead follows the wall clock, never running ahead of it or past the newest frame.
    advanced = s1["playhead"] - s0["playhead"]
    assert 0.6 * elapsed <= advanced <= elapsed + 0.1, (advanced, elapsed)
    assert s1["playhead"] <= (s1["end"] - 1) / fps + 1e-9
    # Contiguous: every message starts where the previous one ended, from the session's frame 0.
    log = s1["log"]
    assert log[0]["start"] == 0
    assert all(b["start"] == a["start"] + a["count"] for a, b in zip(log, log[1:], strict=False))
    assert log[-1]["start"] + log[-1]["count"] == s1["end"]

    # The avatar moves, and the follow camera keeps it in view: the camera aims near the shown root.
    root, rotations = held_frames(page, 0, s1["end"])
    assert np.abs(root[-1] - root[0]).max() + np.abs(rotations[-1] - rotations[0]).max() > 1e-2
    page.evaluate("new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))")
    aim = page.evaluate(f"(() => {{ const L = {LIVE}, b = L.buffer, f = Math.floor(L.playhead * b.fps) - b.first;"
                        " const t = window.motionbridge.camera.target;"
                        " return Math.hypot(t[0] - b.root[f * 3], t[2] - b.root[f * 3 + 2]); })()")
    assert page.evaluate("document.querySelector('#follow').checked") is True
    assert aim < 1.0, aim
    assert page.evaluate("document.querySelector('#overlay').textContent") == "Live · a person walks forward"
    assert page.evaluate("document.querySelector('#time').textContent").startswith("live ")
    page.screenshot(artifacts / "live.png")

    # Live off: live_stop, then the daemon's done counts exactly the frames the page received.
    done = stop_live(page)
    held = page.evaluate(f"{LIVE}.buffer.end")
    assert done["frames"] == held and done["job"] == page.evaluate(f"{LIVE}.job")
    assert page.evaluate("[document.body.dataset.state, document.querySelector('#live').checked]") == ["idle", False]
    assert page.evaluate("document.querySelector('#live-info').textContent").startswith(
        f"Live stopped · {held} frames")
    # What was played stays as a clip to review, and Generate works again.
    assert page.evaluate("[window.motionbridge.playing, window.motionbridge.clips[0].frames]") == [False, held]
    page.type_into("#seconds", "1")
    page.type_into("#steps", "4")
    page.click("#generate")
    page.wait_for("document.body.dataset.state === 'done'", timeout=120)
    assert page.evaluate("window.motionbridge.clips[0].frames") == fps
    assert page.exceptions() == []


def test_prompt_edit_steers_the_stream_and_record_saves_the_last_seconds(
        browser: Browser, daemon, tmp_path: Path) -> None:
    page = open_page(browser, daemon.http_url + "/")
    start_live(page, "a person walks forward")
    fps = page.evaluate("window.motionbridge.hello.model.fps")

    # Two edits within the debounce: one live_prompt, with the final text.
    page.type_into("#prompt", "a person")
    page.type_into("#prompt", "a person waves with both hands")
    page.wait_for(f"{LIVE}.states.length > 0", timeout=20)
    time.sleep(0.6)
    prompts, states = page.evaluate(f"[{LIVE}.prompts, {LIVE}.states]")
    assert [p["prompt"] for p in prompts] == ["a person waves with both hands"]
    assert states == [{"prompt": "a person waves with both hands", "frame": states[0]["frame"]}]
    # The new prompt takes over after the frames already sent when the page asked for it.
    assert states[0]["frame"] >= prompts[0]["at"]
    info = page.evaluate("document.querySelector('#live-info').textContent")
    assert info.startswith(f"Following: “a person waves with both hands” from frame {states[0]['frame']}")
    page.wait_for("document.querySelector('#overlay').textContent === 'Live · a person waves with both hands'")

    # Record the last 2 s played: a file of exactly 2 s of the frames streamed, ending at the playhead.
    page.type_into("#record-seconds", "2")
    page.wait_for(f"{LIVE}.playhead >= 2.5", timeout=60)
    path, name = download_record(browser, page, tmp_path / "downloads")
    rec = page.evaluate(f"{LIVE}.recording")
    assert name == rec["name"] and name.endswith(".npz") and name.startswith("a-person-walks-forward-live-")
    assert rec["count"] == round(2 * fps)
    playhead = page.evaluate(f"{LIVE}.playhead")
    assert rec["from"] + rec["count"] <= playhead * fps + 1
    motion = Motion.load_npz(path)
    assert motion.frames == round(2 * fps) and motion.fps == fps
    root, rotations = held_frames(page, rec["from"], rec["from"] + rec["count"])
    np.testing.assert_allclose(motion.root, root, atol=1e-6)
    same = np.minimum(np.abs(motion.rotations - rotations).max(-1), np.abs(motion.rotations + rotations).max(-1))
    assert same.max() < 1e-4, same.max()
    change = states[0]["frame"]
    end = rec["from"] + rec["count"]
    expected = ("a person walks forward → a person waves with both hands" if rec["from"] < change < end
                else "a person waves with both hands" if change <= rec["from"] else "a person walks forward")
    assert motion.text == expected
    with np.load(path) as data:
        assert data["poses"].shape == (round(2 * fps), 156) and str(data["gender"]) == "neutral"

    done = stop_live(page)
    assert done["frames"] == page.evaluate(f"{LIVE}.buffer.end")
    assert page.exceptions() == []


def test_live_switch_is_absent_when_the_daemon_does_not_serve_live(browser: Browser, daemon_without_live) -> None:
    page = open_page(browser, daemon_without_live.http_url + "/")
    caps = page.evaluate("window.motionbridge.hello.capabilities")
    assert "live" not in caps and "constraints" in caps
    assert page.evaluate("document.querySelector('#live-tools').hidden") is True
    assert page.evaluate("document.querySelector('#live').offsetParent") is None  # not rendered at all
    assert page.evaluate("document.querySelector('#generate').disabled") is False
    assert page.exceptions() == []
