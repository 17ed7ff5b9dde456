"""`motionbridge dataset build --out DIR`: rebuild the tiny model's training set from the mocap sources.

Pipeline per take (`engine.mocap`): import and retarget to SMPL-H → 30 fps → split long takes into
segments of at most `SEGMENT_SECONDS` → each segment canonical (origin, facing +Z) with feet on the
ground → captions from the manifest `engine/data/captions.json` → where the manifest gives captions for it
(`"reversed"`), a copy played backwards (plain forward walks, to teach walking backwards) → a left/right
mirrored copy of each with mirrored captions. Segments without captions in the manifest are left out (and
reported).

Output folder:
    index.json          version, caption manifest version, one entry per clip (id, take, source,
                        captions, frames, mirrored, reversed)
    clips/<id>.npz      root (L, 3), rotations (L, 22, 4), features (L, 201) float32

The data files are never part of the repository; this command recreates them.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.mocap.clip import MocapClip, MocapError, canonicalize, mirror, place_on_ground, prepare, reverse, split
from engine.mocap.sources import Take, all_takes
from engine.representation import encode_features
from engine.skeleton import FPS

DATASET_VERSION = 1
SEGMENT_SECONDS = 10.0
MIN_SECONDS = 1.0
CAPTIONS_PATH = Path(__file__).resolve().parent / "data" / "captions.json"

_SWAPS = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise",
          "counter-clockwise": "clockwise", "anticlockwise": "clockwise"}
_SWAP_RE = re.compile(r"\b(" + "|".join(sorted(_SWAPS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


MIRROR_SUFFIX = "~mirror"
"""A mirrored clip's id is its source segment's id plus this."""
REVERSE_SUFFIX = "~reversed"
"""A clip played backwards has its segment's id plus this (its mirror image then adds `MIRROR_SUFFIX`)."""


def mirror_twin_id(clip_id: str) -> str:
    """The id of a clip's left/right mirror image (either way round)."""
    return clip_id.removesuffix(MIRROR_SUFFIX) if clip_id.endswith(MIRROR_SUFFIX) else clip_id + MIRROR_SUFFIX


def mirror_caption(text: str) -> str:
    """Swap left/right (and clockwise/counterclockwise) words, keeping capitalisation."""

    def swap(m: re.Match[str]) -> str:
        word = m.group(0)
        new = _SWAPS[word.lower()]
        return new.capitalize() if word[0].isupper() else new

    return _SWAP_RE.sub(swap, text)


def load_captions(path: Path = CAPTIONS_PATH) -> dict:
    """The caption manifest: {"version": int, "clips": {clip id: {"captions": [...], "reversed": [...]?,
    "no_mirror": bool?}}}; "reversed" captions the clip played backwards (and asks for that copy)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "clips" not in data or "version" not in data:
        raise ValueError(f"{path}: a caption manifest needs 'version' and 'clips'")

    def is_caption_list(caps: object) -> bool:
        return isinstance(caps, list) and bool(caps) and all(isinstance(c, str) and c.strip() for c in caps)

    for key, entry in data["clips"].items():
        if not isinstance(entry, dict) or not is_caption_list(entry.get("captions")):
            raise ValueError(f"{path}: clip {key!r} needs a non-empty list of captions")
        if "reversed" in entry and not is_caption_list(entry["reversed"]):
            raise ValueError(f"{path}: clip {key!r}: 'reversed' must be a non-empty list of captions")
    return data


@dataclass(frozen=True)
class Segment:
    """A prepared clip ready to be captioned: `id` is the take id, with `#k` for segments of long takes."""

    id: str
    take: Take
    clip: MocapClip


def segments(takes: list[Take], log: Callable[[str], None] = print) -> Iterator[Segment]:
    """Import, clean up and split every take; takes that fail to import are reported and skipped."""
    for take in takes:
        try:
            clip = prepare(take.load())
        except (MocapError, OSError, ValueError) as e:
            log(f"skipping {take.id}: {e}")
            continue
        parts = split(clip, SEGMENT_SECONDS)
        for k, part in enumerate(parts):
            if part.seconds < MIN_SECONDS:
                continue
            seg_id = take.id if len(parts) == 1 else f"{take.id}#{k}"
            yield Segment(seg_id, take, place_on_ground(canonicalize(part)).with_(name=seg_id))


def _save_clip(folder: Path, clip_id: str, clip: MocapClip) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", clip_id) + ".npz"
    feats = encode_features(clip.root, clip.rotations).numpy()
    np.savez_compressed(folder / name, root=clip.root.astype(np.float32),
                        rotations=clip.rotations.astype(np.float32), features=feats.astype(np.float32))
    return f"clips/{name}"


def build(out: Path, takes: list[Take], captions: dict, log: Callable[[str], None] = print,
          with_mirrors: bool = True) -> dict:
    """Write the data set to `out` and return its index."""
    clips_dir = out / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    manifest = captions["clips"]
    excluded = captions.get("excluded", {})
    entries, uncaptioned = [], []
    for seg in segments(takes, log):
        entry = manifest.get(seg.id)
        if entry is None:
            if seg.take.id not in excluded:
                uncaptioned.append(seg.id)
            continue
        variants = [(seg.id, seg.clip, list(entry["captions"]), False)]
        if "reversed" in entry:
            variants.append((seg.id + REVERSE_SUFFIX, reverse(seg.clip), list(entry["reversed"]), False))
        if with_mirrors and not entry.get("no_mirror", False):
            variants += [(mirror_twin_id(clip_id), mirror(clip), [mirror_caption(c) for c in caps], True)
                         for clip_id, clip, caps, _ in variants]
        for clip_id, clip, caps, mirrored in variants:
            entries.append({
                "id": clip_id, "take": seg.take.id, "source": seg.take.source, "captions": caps,
                "frames": clip.frames, "mirrored": mirrored, "reversed": bool(clip.meta.get("reversed", False)),
                "file": _save_clip(clips_dir, clip_id, clip),
            })
    if uncaptioned:
        log(f"left out {len(uncaptioned)} segments without captions: {', '.join(uncaptioned)}")
    index = {"version": DATASET_VERSION, "captions_version": captions["version"], "fps": FPS, "clips": entries}
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
    tmp.replace(out / "index.json")
    return index


def load_index(folder: Path) -> dict:
    """A built data set's index (raises a clear error if `folder` is not one)."""
    path = Path(folder) / "index.json"
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a built data set (no index.json): run `motionbridge dataset build`")
    return json.loads(path.read_text(encoding="utf-8"))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--data", type=Path, default=None,
                        help="mocap folder (default ../shared/data or $MOTIONBRIDGE_DATA)")
    parser.add_argument("--cache", type=Path, default=None, help="where the pybullet wheel is kept")
    parser.add_argument("--no-wheel", action="store_true", help="skip the pybullet wheel's clips")
    parser.add_argument("--only", default=None, help="regular expression: build only takes whose id matches")
    parser.add_argument("--no-mirror", action="store_true", help="leave out the mirrored copies")


def run(args: argparse.Namespace) -> int:
    start = time.time()
    takes = all_takes(args.data, args.cache, use_wheel=not args.no_wheel)
    if args.only:
        takes = [t for t in takes if re.search(args.only, t.id)]
    if not takes:
        print("no takes found: nothing to build")
        return 1
    index = build(args.out, takes, load_captions(), with_mirrors=not args.no_mirror)
    seconds = sum(c["frames"] for c in index["clips"]) / FPS
    print(f"built {len(index['clips'])} clips ({seconds / 60:.1f} min at {FPS} fps) from {len(takes)} takes "
          f"in {time.time() - start:.1f} s → {args.out}")
    return 0 if index["clips"] else 1
