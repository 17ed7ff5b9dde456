"""Measures the page's two wire codecs in headless Chromium: bytes and decode time of one 10 s `motion` message.

Run: `python tests/browser/codec_measurement.py [seconds]`. The frames are the daemon's own
(`bridge.protocol.motion_messages` + `encode_message` for each subprotocol); the page side is bridge/static's
`msgpack.js` and `motion.js` (loaded as modules), timing what a received message costs until its root and
rotations are Float32Arrays: MessagePack decode + float views, or JSON.parse + base64 decode.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(HERE)]

from headless_chromium import Browser, find_chromium  # noqa: E402

from bridge.codec import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK, encode_message  # noqa: E402
from bridge.protocol import MotionPayload, motion_messages  # noqa: E402
from engine.core import rotations as R  # noqa: E402
from engine.core.skeleton import FPS, NUM_BODY_JOINTS  # noqa: E402

REPEATS = 40
BATCH = 25


def module_url(name: str) -> str:
    source = (REPO / "bridge" / "static" / name).read_text()
    return "data:text/javascript;base64," + base64.b64encode(source.encode()).decode()


def main(seconds: float = 10.0) -> int:
    chromium = find_chromium()
    if chromium is None:
        print("Chromium not found", file=sys.stderr)
        return 1
    frames = int(round(seconds * FPS))
    rng = np.random.default_rng(0)
    payload = MotionPayload(
        rng.normal(size=(frames, 3)).astype(np.float32),
        R.quat_normalize(rng.normal(size=(frames, NUM_BODY_JOINTS, 4))).astype(np.float32),
        seed=0,
    )
    msg = next(motion_messages("r1", "job1", 0, payload, "smplh"))
    packed = encode_message(msg, SUBPROTOCOL_MSGPACK)
    text = encode_message(msg, SUBPROTOCOL_JSON)
    with tempfile.TemporaryDirectory() as profile, Browser(chromium, Path(profile)) as browser:
        page = browser.new_page()
        result = page.evaluate(f"""(async () => {{
          const mp = await import('{module_url("msgpack.js")}');
          const mo = await import('{module_url("motion.js")}');
          const packed = Uint8Array.from(atob('{base64.b64encode(packed).decode()}'), (c) => c.charCodeAt(0));
          const text = {json.dumps(text)};
          const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
          // performance.now() ticks in 0.1 ms steps here, so each sample times a batch of decodes.
          const time = (fn) => {{
            for (let i = 0; i < 20; i++) fn();
            const t = [];
            for (let i = 0; i < {REPEATS}; i++) {{
              const t0 = performance.now();
              for (let k = 0; k < {BATCH}; k++) fn();
              t.push((performance.now() - t0) / {BATCH});
            }}
            return median(t);
          }};
          // Every run decodes a fresh copy, as a socket hands the page a new buffer per message.
          const msgpackMs = time(() => {{
            const m = mp.decode(packed.slice());
            return [mo.float32s(m.root), mo.float32s(m.rotations)];
          }});
          const jsonMs = time(() => {{
            const m = JSON.parse(text);
            return [mo.float32s(m.root), mo.float32s(m.rotations)];
          }});
          const m = mp.decode(packed.slice());
          return {{ msgpackMs, jsonMs, checksum: mo.float32s(m.rotations).reduce((a, b) => a + b, 0) }};
        }})()""", timeout=120)
    expected = float(payload.rotations.astype(np.float64).sum())
    assert abs(result["checksum"] - expected) < 1e-2 * max(1.0, abs(expected)), "decoded rotations differ"
    print(f"one final motion message, {seconds:g} s = {frames} frames x {NUM_BODY_JOINTS} joints")
    how = f"median of {REPEATS} batches of {BATCH}"
    print(f"  msgpack: {len(packed):>9,d} bytes  decode {result['msgpackMs']:.3f} ms ({how})")
    print(f"  json:    {len(text.encode()):>9,d} bytes  decode {result['jsonMs']:.3f} ms ({how})")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0))
