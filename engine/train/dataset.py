"""`motionbridge dataset build --out DIR`: rebuild the tiny model's training set from the mocap sources.

Pipeline per take (`engine.train.mocap`): import and retarget to SMPL-H → 30 fps → split long takes into
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
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.skeleton import FPS
from engine.model.representation import encode_features
from engine.train.mocap import captioning
from engine.train.mocap.clip import (
    MocapClip,
    MocapError,
    canonicalize,
    mirror,
    place_on_ground,
    prepare,
    reverse,
    split,
)
from engine.train.mocap.sources import HELD_OUT_SUBJECTS, Take, all_takes, subject_of

DATASET_VERSION = 1
SEGMENT_SECONDS = 10.0
MIN_SECONDS = 1.0
CAPTIONS_PATH = Path(__file__).resolve().parents[1] / "data" / "captions.json"
AUTO_CAPTIONS_PATH = Path(__file__).resolve().parents[1] / "data" / "captions-cmu-auto.json"
"""Generated captions for the CMU FBX library (`dataset build --generate-captions` rewrites it; reviewed
entries move into the hand-written manifest, which wins)."""
AUTO_CAPTIONS_VERSION = 1

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


def variant_clip(segment: MocapClip, clip_id: str) -> MocapClip:
    """The clip an id names, made from its segment: played backwards for `REVERSE_SUFFIX`, then mirrored for
    `MIRROR_SUFFIX` (the one rule for building a data set and for unpacking one, `engine.train.packing`)."""
    clip = reverse(segment) if REVERSE_SUFFIX in clip_id else segment
    return mirror(clip) if clip_id.endswith(MIRROR_SUFFIX) else clip


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


def save_clip(folder: Path, clip_id: str, clip: MocapClip) -> str:
    """Write one clip (root, rotations, features) under `folder`; returns its path relative to the data set."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", clip_id) + ".npz"
    feats = encode_features(clip.root, clip.rotations).numpy()
    np.savez_compressed(folder / name, root=clip.root.astype(np.float32),
                        rotations=clip.rotations.astype(np.float32), features=feats.astype(np.float32))
    return f"clips/{name}"


def split_of(take_id: str) -> str:
    """`held_out` for takes of the CMU subjects kept for evaluation, else `train`."""
    return "held_out" if take_id.startswith("cmu-") and subject_of(take_id) in HELD_OUT_SUBJECTS else "train"


@dataclass(frozen=True)
class _Job:
    """What one take's worker needs (sent to worker processes by fork, so closures travel too)."""

    clips_dir: Path
    manifest: dict
    auto: dict
    excluded: dict
    generate: bool
    with_mirrors: bool


def _build_take(job: _Job, take: Take) -> tuple[list[dict], list[str], dict, list[str]]:
    """Entries, uncaptioned segment ids, newly generated captions and log lines for one take."""
    entries, uncaptioned, generated, logs = [], [], {}, []
    for seg in segments([take], logs.append):
        entry = job.manifest.get(seg.id) or job.auto.get(seg.id)
        if entry is None and job.generate:
            caps = captioning.captions(seg.id, take.description, captioning.measure(seg.clip))
            if caps:
                entry = generated[seg.id] = {"captions": caps}
        if entry is None:
            if seg.take.id not in job.excluded:
                uncaptioned.append(seg.id)
            continue
        captions = {seg.id: list(entry["captions"])}
        if "reversed" in entry:
            captions[seg.id + REVERSE_SUFFIX] = list(entry["reversed"])
        if job.with_mirrors and not entry.get("no_mirror", False):
            captions |= {mirror_twin_id(clip_id): [mirror_caption(c) for c in caps]
                         for clip_id, caps in captions.items()}
        for clip_id, caps in captions.items():
            clip = variant_clip(seg.clip, clip_id)
            entries.append({
                "id": clip_id, "take": seg.take.id, "source": seg.take.source, "captions": caps,
                "frames": clip.frames, "mirrored": clip_id.endswith(MIRROR_SUFFIX),
                "reversed": bool(clip.meta.get("reversed", False)),
                "split": split_of(seg.take.id), "file": save_clip(job.clips_dir, clip_id, clip),
            })
    return entries, uncaptioned, generated, logs


_WORKER_JOB: _Job | None = None
_WORKER_TAKES: list[Take] = []


def _build_take_at(i: int) -> tuple[list[dict], list[str], dict, list[str]]:
    assert _WORKER_JOB is not None
    return _build_take(_WORKER_JOB, _WORKER_TAKES[i])


def build(out: Path, takes: list[Take], captions: dict, log: Callable[[str], None] = print,
          with_mirrors: bool = True, auto: dict | None = None, generate: bool = False,
          jobs: int = 1) -> dict:
    """Write the data set to `out` and return its index.

    Captions come from the hand-written manifest, then from `auto` (generated captions, keyed by segment
    id); with `generate`, segments in neither get captions from `engine.train.mocap.captioning`, added to
    `auto` in place (the caller saves them). `jobs` > 1 imports takes in that many forked processes; the
    index order is the take order either way.
    """
    global _WORKER_JOB, _WORKER_TAKES
    clips_dir = out / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    auto = {} if auto is None else auto
    job = _Job(clips_dir, captions["clips"], auto.get("clips", {}), captions.get("excluded", {}), generate,
               with_mirrors)
    if jobs > 1 and len(takes) > 1:
        import multiprocessing

        _WORKER_JOB, _WORKER_TAKES = job, takes
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                results = list(pool.imap(_build_take_at, range(len(takes)), chunksize=4))
        finally:
            _WORKER_JOB, _WORKER_TAKES = None, []
    else:
        results = [_build_take(job, take) for take in takes]
    entries, uncaptioned = [], []
    for take_entries, take_uncaptioned, generated, logs in results:
        for line in logs:
            log(line)
        entries += take_entries
        uncaptioned += take_uncaptioned
        auto.setdefault("clips", {}).update(generated)
    if uncaptioned:
        log(f"left out {len(uncaptioned)} segments without captions: {', '.join(uncaptioned[:40])}"
            + (" ..." if len(uncaptioned) > 40 else ""))
    index = {"version": DATASET_VERSION, "captions_version": captions["version"],
             "auto_captions_version": auto.get("version"), "fps": FPS, "clips": entries}
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


def load_auto_captions(path: Path = AUTO_CAPTIONS_PATH) -> dict:
    """The generated caption manifest ({"version", "clips"}), empty when absent."""
    if not path.exists():
        return {"version": AUTO_CAPTIONS_VERSION, "clips": {}}
    data = load_captions(path)
    return data


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--data", type=Path, default=None,
                        help="mocap folder (default ../shared/data or $MOTIONBRIDGE_DATA)")
    parser.add_argument("--cmu-fbx", type=Path, default=os.environ.get("MOTIONBRIDGE_CMU_FBX") or None,
                        help="folder holding checkouts of the CMU FBX library's repositories "
                             "(shared/data/cmu-fbx/README.md; default $MOTIONBRIDGE_CMU_FBX; off when unset)")
    parser.add_argument("--assimp", action="store_true",
                        help="also read CMU trials from Debian's assimp-testmodels (off unless asked)")
    parser.add_argument("--cache", type=Path, default=None, help="where the pybullet wheel is kept")
    parser.add_argument("--no-wheel", action="store_true", help="skip the pybullet wheel's clips")
    parser.add_argument("--only", default=None, help="regular expression: build only takes whose id matches")
    parser.add_argument("--no-mirror", action="store_true", help="leave out the mirrored copies")
    parser.add_argument("--generate-captions", action="store_true",
                        help=f"caption segments no manifest covers and write them to {AUTO_CAPTIONS_PATH.name}")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for importing takes")


def run(args: argparse.Namespace) -> int:
    start = time.time()
    takes = all_takes(args.data, args.cache, use_wheel=not args.no_wheel, fbx_dir=args.cmu_fbx,
                      use_assimp=args.assimp)
    if args.only:
        takes = [t for t in takes if re.search(args.only, t.id)]
    if not takes:
        print("no takes found: nothing to build")
        return 1
    auto = load_auto_captions()
    index = build(args.out, takes, load_captions(), with_mirrors=not args.no_mirror, auto=auto,
                  generate=args.generate_captions, jobs=max(1, args.jobs))
    if args.generate_captions:
        auto["version"] = AUTO_CAPTIONS_VERSION
        auto["clips"] = dict(sorted(auto["clips"].items()))
        AUTO_CAPTIONS_PATH.write_text(json.dumps(auto, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {len(auto['clips'])} generated captions entries → {AUTO_CAPTIONS_PATH}")
    clips = index["clips"]
    seconds = sum(c["frames"] for c in clips) / FPS
    held = sum(c["frames"] for c in clips if c["split"] == "held_out") / FPS
    print(f"built {len(clips)} clips ({seconds / 60:.1f} min at {FPS} fps, {held / 60:.1f} min held out) "
          f"from {len(takes)} takes in {time.time() - start:.1f} s → {args.out}")
    return 0 if clips else 1
