"""Directing from the preview page (issue 19, protocol v1.1) in real headless Chromium against a live daemon.

The page is driven the way a user drives it (real clicks and typing over CDP); what the daemon sent back is
read from the page's own state (`window.motionbridge`: the clips it plays, the request it sent, done).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from headless_chromium import Browser, Page

pytestmark = pytest.mark.browser

CLIP = """(() => {{ const c = {expr}; return {{ fps: c.fps, frames: c.frames,
  root: Array.from(c.root), rotations: Array.from(c.rotations) }}; }})()"""


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(1280, 720)
    page.goto(url)
    page.wait_for("document.body.dataset.connection === 'ready'", timeout=30)
    return page


def generate_and_wait(page: Page, button: str = "#generate") -> None:
    page.click(button)
    page.wait_for("document.body.dataset.state === 'generating'", timeout=10)
    page.wait_for("document.body.dataset.state !== 'generating'", timeout=120)
    state, message = page.evaluate("[document.body.dataset.state, document.querySelector('#message').textContent]")
    assert state == "done", message


def shown_clip(page: Page, expr: str = "window.motionbridge.clips[0]") -> dict[str, np.ndarray]:
    c = page.evaluate(CLIP.format(expr=expr))
    frames = c["frames"]
    return {
        "fps": c["fps"], "frames": frames,
        "root": np.asarray(c["root"], dtype=np.float64).reshape(frames, 3),
        "rotations": np.asarray(c["rotations"], dtype=np.float64).reshape(frames, -1, 4),
    }


def test_continue_from_end_starts_where_the_shown_clip_ends(browser: Browser, daemon, artifacts: Path) -> None:
    page = open_page(browser, daemon.http_url + "/")
    assert "constraints" in page.evaluate("window.motionbridge.hello.capabilities")
    # Offered, but nothing to continue before a clip is done.
    assert page.evaluate("[document.querySelector('#continue').hidden, document.querySelector('#continue').disabled]"
                         ) == [False, True]

    page.type_into("#prompt", "a person walks forward")
    page.type_into("#seconds", "2")
    page.type_into("#steps", "8")
    generate_and_wait(page)
    assert page.evaluate("document.querySelector('#continue').disabled") is False
    first_job = page.evaluate("window.motionbridge.run.job")
    first = shown_clip(page)
    assert first["frames"] == 60

    page.type_into("#prompt", "the person stops and waves")
    page.type_into("#seconds", "1.5")
    generate_and_wait(page, "#continue")
    sent = page.evaluate("window.motionbridge.run.request")
    assert sent["start"] == {"job": first_job, "sample": 0}
    assert sent["prompt"] == "the person stops and waves"
    assert page.evaluate("window.motionbridge.run.job") != first_job

    second = shown_clip(page)
    assert second["frames"] == 45
    # Frame 0 of the new clip is the previous clip's last frame (root and rotations, float tolerance).
    np.testing.assert_allclose(second["root"][0], first["root"][-1], atol=1e-4)
    a, b = second["rotations"][0], first["rotations"][-1]
    same = np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1))  # q and -q are one rotation
    assert same.max() < 1e-4, same
    # The new clip plays: it is the one shown, and it moves on from its first frame.
    assert page.evaluate("window.motionbridge.playing") is True
    assert np.abs(second["root"][-1] - second["root"][0]).max() + np.abs(
        second["rotations"][-1] - second["rotations"][0]).max() > 1e-3
    assert "continued from the previous clip" in page.evaluate("document.querySelector('#result-info').textContent")
    page.screenshot(artifacts / "continue-from-end.png")
    assert page.exceptions() == []


def test_timeline_of_two_segments_makes_one_clip_with_marked_boundaries(
        browser: Browser, daemon, artifacts: Path) -> None:
    page = open_page(browser, daemon.http_url + "/")
    assert "timeline" in page.evaluate("window.motionbridge.hello.capabilities")
    assert page.evaluate("document.querySelector('#timeline').hidden") is False

    page.type_into("#prompt", "a person walks forward")
    page.type_into("#steps", "8")
    page.click("#add-segment")  # the first row takes the prompt box's text
    page.click("#add-segment")
    page.click("#add-segment")
    assert page.evaluate("document.querySelectorAll('#timeline-rows li').length") == 3
    page.click("#timeline-rows li:nth-child(3) .remove-segment")
    assert page.evaluate("document.querySelectorAll('#timeline-rows li').length") == 2
    row = "#timeline-rows li:nth-child({}) input[type={}]"
    assert page.evaluate(f"document.querySelector('{row.format(1, 'text')}').value") == "a person walks forward"
    page.type_into(row.format(1, "number"), "1.5")
    page.type_into(row.format(2, "text"), "then jumps in place")
    page.type_into(row.format(2, "number"), "2")
    assert page.evaluate("document.querySelector('#timeline-total').textContent").startswith("2 segments · 3.5 s")

    generate_and_wait(page)
    sent = page.evaluate("window.motionbridge.run.request")
    assert "prompt" not in sent
    assert sent["segments"] == [{"prompt": "a person walks forward", "seconds": 1.5},
                                {"prompt": "then jumps in place", "seconds": 2}]
    assert sent["seconds"] == 3.5
    done = page.evaluate("window.motionbridge.run.done")
    assert done["segments"] == [{"start": 0, "count": 45}, {"start": 45, "count": 60}]
    clip = shown_clip(page)
    assert clip["frames"] == done["frames"] == 45 + 60

    # The boundary is marked on the scrubber where the second segment starts, and listed in words.
    marks = page.evaluate("[...document.querySelectorAll('#segment-marks span')].map(s => parseFloat(s.style.left))")
    assert marks == pytest.approx([100 * 45 / 104])
    info = page.evaluate("document.querySelector('#result-info').textContent")
    assert "segments 1: 0.00–1.50 s, 2: 1.50–3.50 s" in info
    mark_x = page.evaluate("(() => { const r = document.querySelector('#segment-marks span').getBoundingClientRect();"
                           " return r.x + r.width / 2; })()")
    x, _, w, _ = page.box("#scrub")
    assert x + 0.3 * w < mark_x < x + 0.6 * w
    page.screenshot(artifacts / "timeline.png")

    # A plain prompt afterwards clears the marks again.
    page.click("#timeline-rows li:nth-child(2) .remove-segment")
    generate_and_wait(page)
    assert page.evaluate("document.querySelectorAll('#segment-marks span').length") == 0
    assert page.evaluate("window.motionbridge.run.request.prompt") == "a person walks forward"
    assert page.exceptions() == []


def click_at(page: Page, x: float, y: float) -> None:
    """A real left click at a viewport position (press and release without moving)."""
    page.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})


@pytest.mark.parametrize("renderer", ["auto", "webgl"])
def test_root_path_drawn_on_the_ground_is_followed(browser: Browser, daemon, artifacts: Path, renderer: str) -> None:
    page = open_page(browser, daemon.http_url + f"/?renderer={renderer}")
    if renderer == "webgl" and page.evaluate("document.body.dataset.renderer") != "webgl":
        pytest.skip("this Chromium offers no WebGL at all (not even SwiftShader)")
    assert page.evaluate("document.querySelector('#path-tools').hidden") is False
    page.type_into("#prompt", "a person walks forward")
    page.type_into("#seconds", "3")
    page.type_into("#steps", "8")

    x, y, w, h = page.box("canvas#view")
    spots = [(0.5, 0.75), (0.62, 0.68), (0.4, 0.6), (0.3, 0.7)]
    click_at(page, x + w * spots[0][0], y + h * spots[0][1])  # not drawing yet: no waypoint
    assert page.evaluate("window.motionbridge.path.length") == 0
    page.click("#draw-path")
    assert page.evaluate("document.querySelector('#draw-path').getAttribute('aria-pressed')") == "true"
    assert page.evaluate("document.querySelector('#follow').checked") is False
    for fx, fy in spots:
        click_at(page, x + w * fx, y + h * fy)
    assert page.evaluate("window.motionbridge.path.length") == 4
    page.click("#undo-waypoint")
    assert page.evaluate("document.querySelector('#path-info').textContent") == "3 waypoints"
    waypoints = np.asarray(page.evaluate("window.motionbridge.path"))
    # Clicks below the horizon land on the ground in front of the default camera, a few metres at most.
    assert np.all(np.abs(waypoints) < 4) and len(np.unique(waypoints.round(3), axis=0)) == 3
    # Each waypoint is drawn where it was clicked (the pick and the renderer's projection agree).
    page.evaluate("new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))")
    for fx, fy in spots[:3]:
        r, g, b = page.evaluate(
            "(() => { const c = document.querySelector('canvas#view'); const s = c.width / c.clientWidth;"
            " const t = document.createElement('canvas'); t.width = 1; t.height = 1;"
            f" t.getContext('2d').drawImage(c, Math.round({fx * w} * s), Math.round({fy * h} * s), 1, 1, 0, 0, 1, 1);"
            " return Array.from(t.getContext('2d').getImageData(0, 0, 1, 1).data.slice(0, 3)); })()")
        assert g > 150 and b > 150 and r < 140, (fx, fy, r, g, b)  # the path's cyan
    page.screenshot(artifacts / f"root-path-{renderer}.png")

    generate_and_wait(page)
    sent = page.evaluate("window.motionbridge.run.request")
    fps = page.evaluate("window.motionbridge.hello.model.fps")
    last = (round(3 * fps) - 1) / fps
    assert [p["time"] for p in sent["path"]] == pytest.approx([last / 3, 2 * last / 3, last])
    np.testing.assert_allclose([p["position"] for p in sent["path"]],
                               np.stack([waypoints[:, 0], np.zeros(3), waypoints[:, 1]], 1), atol=1e-9)
    clip = shown_clip(page)
    assert clip["frames"] == round(3 * fps)
    for p in sent["path"]:
        f = round(p["time"] * fps)
        ground = clip["root"][f, [0, 2]]
        assert np.hypot(*(ground - np.asarray(p["position"])[[0, 2]])) < 0.05, (p, clip["root"][f])

    page.click("#clear-path")
    assert page.evaluate("window.motionbridge.path.length") == 0
    assert page.evaluate("document.querySelector('#clear-path').disabled") is True
    assert page.exceptions() == []
