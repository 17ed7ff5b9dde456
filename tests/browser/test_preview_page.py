"""The browser preview page (bridge/static/) in real headless Chromium against a live daemon.

Everything goes through the page the way a user drives it: real mouse clicks and key presses over CDP,
the daemon's real WebSocket, the page's own MessagePack codec and WebGL/canvas renderer, real downloads.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
from pathlib import Path

import msgpack
import numpy as np
import pytest
from headless_chromium import Browser, Page

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import FPS, SMPLH_BODY
from engine.io.bvh import parse_bvh

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO / "docs" / "img" / "browser.png"

CTRL = 2


def open_page(browser: Browser, url: str) -> Page:
    page = browser.new_page(1280, 720)
    page.goto(url)
    page.wait_for("document.body.dataset.connection === 'ready'", timeout=30)
    return page


def set_field(page: Page, selector: str, value: object) -> None:
    page.type_into(selector, str(value))


def canvas_pixels(page: Page, width: int = 320, height: int = 180) -> np.ndarray:
    """The 3D view's current pixels, read back by the browser itself and scaled down: (h, w, 3) uint8."""
    data = page.evaluate(
        "(() => { const c = document.querySelector('canvas#view');"
        f" const t = document.createElement('canvas'); t.width = {width}; t.height = {height};"
        " const x = t.getContext('2d'); x.drawImage(c, 0, 0, t.width, t.height);"
        " return Array.from(x.getImageData(0, 0, t.width, t.height).data); })()"
    )
    return np.asarray(data, dtype=np.uint8).reshape(height, width, 4)[..., :3]


def figure_mask(pixels: np.ndarray) -> np.ndarray:
    """Pixels of the figure's limbs: blue (left side) or orange (right side); ground, grid, shadow and the
    yellow pelvis trail are excluded."""
    r, g, b = (pixels[..., k].astype(np.int32) for k in range(3))
    return (b - r > 60) | ((r - b > 60) & (r - g > 35))


def wait_frames(page: Page, n: int = 3) -> None:
    page.evaluate(f"new Promise((ok) => {{ let k = {n}; const f = () => (--k ? requestAnimationFrame(f) : ok()); "
                  "requestAnimationFrame(f); })")


def page_fk(page: Page, rotations: np.ndarray, root: np.ndarray) -> np.ndarray:
    """World joint positions (F, J, 3) computed by the page's own motion.js for a clip given here."""
    frames, joints = rotations.shape[:2]
    result = page.evaluate(f"""(async () => {{
      const m = await import('/static/motion.js');
      const sk = window.motionbridge.skeleton;
      const clip = new m.Clip({{ fps: {FPS}, frames: {frames},
        root: Float32Array.from({json.dumps(root.astype(float).ravel().tolist())}),
        rotations: Float32Array.from({json.dumps(rotations.astype(float).ravel().tolist())}) }});
      const pose = m.makePose({joints});
      const out = [];
      for (let f = 0; f < {frames}; f++) {{
        m.forwardKinematics(sk, m.samplePose(clip, f / {FPS}, pose));
        out.push(...pose.worldPos);
      }}
      return out;
    }})()""")
    return np.asarray(result).reshape(frames, joints, 3)


def test_generate_preview_play_and_download_bvh(browser: Browser, daemon, artifacts: Path, tmp_path: Path) -> None:
    page = open_page(browser, daemon.http_url + "/")
    assert page.evaluate("document.body.dataset.state") == "idle"
    assert page.evaluate("document.title") == "MotionBridge preview"

    page.type_into("#prompt", "a person walks forward and waves with the right hand")
    set_field(page, "#seconds", 3)
    set_field(page, "#samples", 2)
    set_field(page, "#steps", 24)
    page.click("#generate")
    page.wait_for("document.body.dataset.state === 'generating'", timeout=10)
    page.wait_for("document.body.dataset.state !== 'generating'", timeout=90)
    state, message = page.evaluate("[document.body.dataset.state, document.querySelector('#message').textContent]")
    assert state == "done", message
    assert page.exceptions() == []

    # Coarse previews arrived while sampling (24 steps, one every 4), finals replaced them.
    assert page.evaluate("window.motionbridge.run.assembler.previews.size") == 2
    assert page.evaluate("document.querySelector('#overlay').textContent").startswith("Variation 1")
    assert page.evaluate("document.querySelectorAll('#variations [role=radio]').length") == 2
    assert "3.00 s" in page.evaluate("document.querySelector('#result-info').textContent")
    assert page.evaluate("[...document.querySelectorAll('#history button')].map(b => b.textContent)")[0] == (
        "a person walks forward and waves with the right hand")

    # Freeze the camera and playback, then look at two playback times (keyboard on the focused view).
    page.click("#follow")
    page.click("#play")
    assert page.evaluate("window.motionbridge.playing") is False
    page.evaluate("document.querySelector('canvas#view').focus()")
    page.press("Home", "Home", 36)
    wait_frames(page)
    start = canvas_pixels(page)
    page.press("End", "End", 35)
    wait_frames(page)
    end = canvas_pixels(page)
    page.press("Home", "Home", 36)
    wait_frames(page)
    start_again = canvas_pixels(page)

    view_pixels = start.shape[0] * start.shape[1]
    # A standing figure covers about 1 % of the view at the default camera distance.
    assert figure_mask(start).sum() > 0.002 * view_pixels, "no figure drawn in the 3D view"
    assert len(np.unique(start.reshape(-1, 3), axis=0)) > 50, "the 3D view is flat"
    changed = np.abs(start.astype(int) - end.astype(int)).max(-1) > 40
    assert changed.sum() > 0.002 * view_pixels, "the view did not change between t=0 and the last frame"
    assert np.abs(start.astype(int) - start_again.astype(int)).max(-1).mean() < 1.0, "same time, different image"

    # Switch variation with the keyboard, then download its BVH through the page's button.
    page.press("2", "Digit2", 50)
    assert page.evaluate("window.motionbridge.selected") == 1
    page.click('#play')
    path, name = download(browser, page, "bvh", tmp_path / "downloads")
    assert name.endswith("-seed1.bvh")
    bvh = parse_bvh(path.read_text())
    assert bvh.frames == 90 and bvh.fps == pytest.approx(FPS)
    assert page.evaluate("document.querySelector('#message').hidden") is True

    # The BVH (daemon export, centimetres) and the page's own FK of what it received agree on every joint.
    clip = page.evaluate("(() => { const c = window.motionbridge.clips[1];"
                         " return {root: Array.from(c.root), rotations: Array.from(c.rotations)}; })()")
    root = np.asarray(clip["root"]).reshape(-1, 3)
    rotations = np.asarray(clip["rotations"]).reshape(-1, len(SMPLH_BODY.joints), 4)
    frames = [0, 45, 89]
    positions = page_fk(page, rotations[frames], root[frames])
    bvh_positions = bvh.world_positions(scale=0.01)
    order = [bvh.index(name) for name in SMPLH_BODY.joints]
    np.testing.assert_allclose(positions, bvh_positions[frames][:, order], atol=2e-3)

    page.click("#side-by-side")
    page.evaluate("document.querySelector('canvas#view').blur()")
    wait_frames(page)
    side = canvas_pixels(page)
    assert figure_mask(side).sum() > 1.3 * figure_mask(start).sum(), "side by side should show both variations"
    page.screenshot(artifacts / "generated-canvas2d.png")
    assert page.exceptions() == []


def test_too_long_prompt_shows_the_daemons_error(browser: Browser, daemon, artifacts: Path) -> None:
    page = open_page(browser, daemon.http_url + "/")
    limit = page.evaluate("window.motionbridge.hello.limits.max_prompt_chars")
    page.type_into("#prompt", "walk " * (limit // 5) + "and jump")
    assert "over" in page.evaluate("document.querySelector('#prompt-count').className")
    page.click("#generate")
    page.wait_for("document.body.dataset.state === 'error'", timeout=15)
    message = page.evaluate("(() => { const m = document.querySelector('#message');"
                            " return {hidden: m.hidden, role: m.getAttribute('role'), text: m.textContent}; })()")
    assert message["hidden"] is False and message["role"] == "alert"
    # The daemon's own words (bridge.protocol's too_long message), not a page-side guess.
    assert message["text"].startswith("Too long:")
    assert f"the limit is {limit}" in message["text"]
    page.screenshot(artifacts / "too-long-prompt.png")
    assert page.exceptions() == []


def test_keyboard_only_generate_and_cancel(browser: Browser, daemon) -> None:
    page = open_page(browser, daemon.http_url + "/")
    set_field(page, "#seconds", 12)
    set_field(page, "#steps", 200)
    page.type_into("#prompt", "a person does a cartwheel")
    page.press("Enter", "Enter", 13, modifiers=CTRL)
    page.wait_for("document.body.dataset.state === 'generating'", timeout=10)
    page.wait_for("document.querySelector('#progress').value >= 1", timeout=30)
    page.press("Escape", "Escape", 27)
    page.wait_for("document.body.dataset.state === 'idle'", timeout=30)
    assert page.evaluate("document.querySelector('#progress-text').textContent") == "Cancelled"
    assert "cancelled" in page.evaluate("document.querySelector('#message').textContent").lower()
    assert page.evaluate("document.querySelector('#generate').disabled") is False
    assert page.exceptions() == []


def download(browser: Browser, page: Page, fmt: str, folder: Path) -> tuple[Path, str]:
    """Clicks the page's download button for `fmt`; returns the saved file and its suggested name."""
    folder.mkdir(exist_ok=True)
    browser.send("Browser.setDownloadBehavior",
                 {"behavior": "allowAndName", "downloadPath": str(folder), "eventsEnabled": True})
    page.click(f'#downloads button[data-format="{fmt}"]')
    begin = browser.wait_event("Browser.downloadWillBegin", timeout=30)
    browser.wait_event("Browser.downloadProgress",
                       lambda p: p.get("guid") == begin["guid"] and p.get("state") == "completed", timeout=30)
    return folder / begin["guid"], begin["suggestedFilename"]


def test_token_daemon_asks_for_the_token_then_generates_and_downloads(
    browser: Browser, token_daemon, tmp_path: Path
) -> None:
    page = browser.new_page(1280, 720)
    page.goto(token_daemon.http_url + "/")
    page.wait_for("!document.querySelector('#token-form').hidden", timeout=30)
    assert "token" in page.evaluate("document.querySelector('#connection').textContent")
    assert page.evaluate("document.querySelector('#generate').disabled") is True

    page.type_into("#token", "wrong")
    page.click("#token-form button")
    page.wait_for("document.body.dataset.state === 'error'", timeout=30)
    assert "4001" in page.evaluate("document.querySelector('#message').textContent")

    page.type_into("#token", token_daemon.token)
    page.click("#token-form button")
    page.wait_for("document.body.dataset.connection === 'ready'", timeout=30)
    set_field(page, "#seconds", 1)
    set_field(page, "#steps", 4)
    page.type_into("#prompt", "a person nods")
    page.click("#generate")
    page.wait_for("document.body.dataset.state !== 'generating'", timeout=60)
    assert page.evaluate("document.body.dataset.state") == "done"
    # Downloads need the token too (Authorization header sent by the page).
    path, name = download(browser, page, "npz", tmp_path / "downloads")
    assert name.endswith(".npz")
    motion = Motion.load_npz(path)
    assert motion.frames == 30
    np.testing.assert_allclose(motion.root, np.asarray(page.evaluate("Array.from(window.motionbridge.clips[0].root)"))
                               .reshape(-1, 3), atol=1e-6)
    assert page.exceptions() == []


def test_webgl_renderer_shows_variations_side_by_side(browser: Browser, daemon, artifacts: Path) -> None:
    """WebGL forced: headless Chromium has only software WebGL, where "auto" picks canvas 2D."""
    page = open_page(browser, daemon.http_url + "/?renderer=webgl")
    if page.evaluate("document.body.dataset.renderer") != "webgl":
        pytest.skip("this Chromium offers no WebGL at all (not even SwiftShader)")
    set_field(page, "#seconds", 2)
    set_field(page, "#samples", 2)
    set_field(page, "#steps", 12)
    page.type_into("#prompt", "a person jumps in place, then raises both arms")
    page.click("#generate")
    page.wait_for("document.body.dataset.state !== 'generating'", timeout=60)
    assert page.evaluate("document.body.dataset.state") == "done"
    assert page.evaluate("window.motionbridge.clips.map(c => c.frames)") == [60, 60]
    page.click("#side-by-side")
    page.evaluate("document.querySelector('#scrub').value = 1.2; document.querySelector('#scrub')"
                  ".dispatchEvent(new Event('input'))")
    page.click("#play")
    wait_frames(page, 4)
    pixels = canvas_pixels(page)
    assert figure_mask(pixels).sum() > 0.004 * pixels.shape[0] * pixels.shape[1]
    assert page.exceptions() == []
    # The README picture: two variations side by side in the lit WebGL view.
    page.screenshot(artifacts / "generated-webgl.png")
    if os.environ.get("MOTIONBRIDGE_DOCS_SCREENSHOT") or not DOCS_SCREENSHOT.exists():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifacts / "generated-webgl.png", DOCS_SCREENSHOT)


def test_json_subprotocol_and_the_automatic_renderer_choice(browser: Browser, daemon) -> None:
    page = open_page(browser, daemon.http_url + "/?codec=json")
    assert "json" in page.evaluate("document.querySelector('#connection').textContent")
    renderer_name = page.evaluate(
        "(() => { const gl = document.createElement('canvas').getContext('webgl'); if (!gl) return '';"
        " const i = gl.getExtension('WEBGL_debug_renderer_info');"
        " return gl.getParameter(i ? i.UNMASKED_RENDERER_WEBGL : gl.RENDERER); })()")
    software = not renderer_name or "SwiftShader" in renderer_name or "llvmpipe" in renderer_name
    assert page.evaluate("document.body.dataset.renderer") == ("canvas2d" if software else "webgl"), renderer_name
    set_field(page, "#seconds", 1)
    set_field(page, "#steps", 6)
    page.type_into("#prompt", "a person sits down")
    page.click("#generate")
    page.wait_for("document.body.dataset.state !== 'generating'", timeout=60)
    assert page.evaluate("document.body.dataset.state") == "done"
    assert page.evaluate("window.motionbridge.clips[0].frames") == 30
    wait_frames(page)
    pixels = canvas_pixels(page)
    assert figure_mask(pixels).sum() > 0.002 * pixels.shape[0] * pixels.shape[1], "motion not drawn"
    assert page.exceptions() == []


def test_page_forward_kinematics_matches_engine(browser: Browser, daemon) -> None:
    page = open_page(browser, daemon.http_url + "/")
    rng = np.random.default_rng(7)
    rotations = R.quat_normalize(rng.normal(size=(4, len(SMPLH_BODY.joints), 4)))
    root = rng.normal(size=(4, 3)) + np.array([0.0, 0.9, 0.0])
    expected, _ = R.forward_kinematics(rotations, root, SMPLH_BODY.offsets, SMPLH_BODY.parents)
    np.testing.assert_allclose(page_fk(page, rotations, root), expected, atol=1e-5)


def test_page_msgpack_codec_agrees_with_python_msgpack(browser: Browser, daemon) -> None:
    page = open_page(browser, daemon.http_url + "/")
    value = {
        "op": "motion", "small": 5, "neg": -7, "u8": 200, "u16": 60000, "u32": 4_000_000_000, "u64": 2**40,
        "i8": -100, "i16": -30000, "i32": -2_000_000_000, "i64": -(2**40), "f64": 0.1, "pi": math.pi,
        "none": None, "yes": True, "no": False, "text": "héllo ✓", "long": "x" * 300, "longer": "y" * 70000,
        "bin": bytes(range(256)) * 3, "list": list(range(20)), "nested": {f"k{i}": [i, {"d": i}] for i in range(20)},
    }
    packed = msgpack.packb(value, use_bin_type=True)
    decoded = page.evaluate(f"""(async () => {{
      const m = await import('/static/msgpack.js');
      const bytes = Uint8Array.from(atob('{base64.b64encode(packed).decode()}'), (c) => c.charCodeAt(0));
      const v = m.decode(bytes);
      v.bin = Array.from(v.bin);
      const again = m.encode(v);
      return {{ value: v, reencoded: btoa(String.fromCharCode(...again)) }};
    }})()""")
    expected = dict(value, bin=list(value["bin"]))
    assert decoded["value"] == expected
    assert msgpack.unpackb(base64.b64decode(decoded["reencoded"])) == expected
    float32 = msgpack.packb(np.float32(1.5).item(), use_single_float=True)
    assert page.evaluate(f"import('/static/msgpack.js').then(m => m.decode(Uint8Array.from({list(float32)})))") == 1.5
    with pytest.raises(Exception, match="truncated"):
        page.evaluate(f"import('/static/msgpack.js').then(m => m.decode(Uint8Array.from({list(packed[:-3])})))")


def test_page_loads_without_network_access(browser: Browser, daemon) -> None:
    """Everything the page needs comes from the daemon itself: no request leaves for another origin."""
    page = browser.new_page(1280, 720)
    page.call("Network.enable")
    page.goto(daemon.http_url + "/")
    page.wait_for("document.body.dataset.connection === 'ready'", timeout=30)
    urls = [ev["params"]["request"]["url"] for ev in browser.events
            if ev["method"] == "Network.requestWillBeSent" and ev.get("sessionId") == page.session]
    assert urls and all(u.startswith(daemon.http_url) or u.startswith("ws://127.0.0.1") for u in urls), urls


def test_example_prompts_fill_the_box_and_generate(browser: Browser, daemon) -> None:
    page = open_page(browser, daemon.http_url + "/")
    examples = page.evaluate("[...document.querySelectorAll('#examples button')].map(b => b.dataset.prompt)")
    assert len(examples) >= 6 and all(examples)
    page.click("#examples button:nth-child(2)")
    assert page.evaluate("document.querySelector('#prompt').value") == examples[1]
    assert page.evaluate("document.querySelector('#prompt-count').textContent").startswith(f"{len(examples[1])} /")
    page.click("#generate")
    page.wait_for("document.body.dataset.state === 'done'", timeout=60)
    assert page.exceptions() == []
