"""`motionbridge dataset pack | unpack`: a built training set in one small file, to train elsewhere.

A GPU machine lent for a few minutes takes a working tree of at most 64 MiB and reaches no network, so the
1.5 GB data folder (clips with features, mirrored and reversed copies) cannot go as it is. The pack holds
only what cannot be recomputed: the training split's source segments — root in millimetres, rotations as
the x, y, z of the w ≥ 0 quaternion in 1/8192ths, each channel delta-coded over time — and the index
entries of every training clip. `unpack` rebuilds the reversed and mirrored copies with the same functions
`dataset build` uses (`engine.train.mocap.clip`), recomputes features and writes a folder `motionbridge
train` reads like any other. Checked on 251 clips of the whole-library set: rotations within 1.3° of the
built set (half the clips within 0.04°; the worst are near-half-turn joints, whose w is recomputed),
roots within 1.2 mm, features 0.0002 apart on average. Held-out clips are left out (training never reads
them).

File: the magic line, then an LZMA stream of a JSON header (format version, index, per-segment frame
counts) and the little-endian int16 / int32 arrays it describes. No pickle anywhere.
"""

from __future__ import annotations

import argparse
import json
import lzma
import struct
import time
from pathlib import Path

import numpy as np

from engine.core.skeleton import FPS, NUM_BODY_JOINTS
from engine.train.dataset import (
    MIRROR_SUFFIX,
    REVERSE_SUFFIX,
    load_index,
    save_clip,
    variant_clip,
)
from engine.train.mocap.clip import MocapClip

MAGIC = b"MBPACK1\n"
PACK_VERSION = 1
QUAT_SCALE = 8192
"""Quaternion x, y, z are stored as int16 in units of 1/QUAT_SCALE (w ≥ 0 is recomputed from them)."""


class PackError(ValueError):
    """The file is not a MotionBridge data pack, or is damaged."""


def _source_id(clip_id: str) -> str:
    return clip_id.removesuffix(MIRROR_SUFFIX).removesuffix(REVERSE_SUFFIX)


def encode_segment(root: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(root deltas in mm as int32 (L, 3), rotation x/y/z deltas as int16 (L, J, 3)), first rows absolute."""
    q = np.where(rotations[..., 3:4] < 0, -rotations, rotations)
    xyz = np.round(q[..., :3] * QUAT_SCALE).astype(np.int32)
    mm = np.round(root * 1000.0).astype(np.int64)
    return (np.diff(mm, axis=0, prepend=np.zeros_like(mm[:1])).astype(np.int32),
            np.diff(xyz, axis=0, prepend=np.zeros_like(xyz[:1])).astype(np.int16))


def decode_segment(root_delta: np.ndarray, rot_delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `encode_segment`: root (L, 3) metres and unit quaternions (L, J, 4), float64."""
    root = np.cumsum(root_delta.astype(np.int64), axis=0) / 1000.0
    xyz = np.cumsum(rot_delta.astype(np.int32), axis=0) / QUAT_SCALE
    w = np.sqrt(np.clip(1.0 - (xyz**2).sum(-1, keepdims=True), 0.0, 1.0))
    q = np.concatenate([xyz, w], axis=-1)
    return root, q / np.linalg.norm(q, axis=-1, keepdims=True)


def pack(data_dir: Path, out: Path) -> dict:
    """Write the training split of the built set in `data_dir` to `out`; returns a summary."""
    index = load_index(data_dir)
    entries = [c for c in index["clips"] if c["split"] == "train"]
    sources = [c for c in entries if _source_id(c["id"]) == c["id"]]
    known = {c["id"] for c in sources}
    orphans = sorted({_source_id(c["id"]) for c in entries} - known)
    if orphans:
        raise PackError(f"{data_dir}: copies without their source segment, e.g. {orphans[:3]}")
    arrays, frames = [], []
    for c in sources:
        with np.load(data_dir / c["file"], allow_pickle=False) as d:
            root_delta, rot_delta = encode_segment(d["root"].astype(np.float64), d["rotations"].astype(np.float64))
        arrays += [root_delta.astype("<i4").tobytes(), np.ascontiguousarray(rot_delta.reshape(len(rot_delta), -1).T)
                   .astype("<i2").tobytes()]
        frames.append(len(root_delta))
    header = {"version": PACK_VERSION, "quat_scale": QUAT_SCALE, "joints": NUM_BODY_JOINTS, "fps": index["fps"],
              "index": {k: v for k, v in index.items() if k != "clips"} | {"clips": entries},
              "sources": [c["id"] for c in sources], "frames": frames}
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    payload = struct.pack("<Q", len(head)) + head + b"".join(arrays)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(MAGIC + lzma.compress(payload, preset=9))
    tmp.replace(out)
    return {"segments": len(sources), "clips": len(entries), "frames": int(sum(frames)),
            "bytes": out.stat().st_size}


def _read(path: Path) -> tuple[dict, memoryview]:
    blob = path.read_bytes()
    if not blob.startswith(MAGIC):
        raise PackError(f"{path} is not a MotionBridge data pack (made by `motionbridge dataset pack`)")
    try:
        payload = lzma.decompress(blob[len(MAGIC):])
        (size,) = struct.unpack_from("<Q", payload)
        header = json.loads(payload[8:8 + size].decode("utf-8"))
    except (lzma.LZMAError, struct.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackError(f"{path} is damaged: {exc}") from None
    if not isinstance(header, dict) or not {"version", "joints", "quat_scale", "fps", "index", "sources",
                                            "frames"} <= header.keys():
        raise PackError(f"{path} is damaged: its header lacks the pack's fields")
    if header.get("version") != PACK_VERSION:
        raise PackError(f"{path}: pack format {header.get('version')!r}, this version reads {PACK_VERSION}")
    body = memoryview(payload)[8 + size:]
    joints = int(header["joints"])
    if len(body) != sum(f * (3 * 4 + joints * 3 * 2) for f in header["frames"]):
        raise PackError(f"{path} is damaged: its arrays do not match its header")
    return header, body


def _rebuild(clips_dir: Path, seg: MocapClip, entries: list[dict]) -> list[dict]:
    """Write one segment's clips (itself, reversed, mirrored as the entries ask); their index entries."""
    done = []
    for entry in entries:
        clip_id = entry["id"]
        clip = variant_clip(seg, clip_id)
        if clip.frames != entry["frames"]:
            raise PackError(f"{clip_id} rebuilt with {clip.frames} frames, the index says {entry['frames']}")
        done.append(dict(entry, file=save_clip(clips_dir, clip_id, clip)))
    return done


_WORK: list[tuple[Path, MocapClip, list[dict]]] = []


def _rebuild_at(i: int) -> list[dict]:
    return _rebuild(*_WORK[i])


def unpack(path: Path, out: Path, jobs: int = 1) -> dict:
    """Rebuild a training set folder from a pack (`jobs` forked processes); returns a summary."""
    global _WORK
    header, body = _read(path)
    joints, scale = int(header["joints"]), int(header["quat_scale"])
    if scale != QUAT_SCALE or joints != NUM_BODY_JOINTS:
        raise PackError(f"{path}: made for {joints} joints at 1/{scale}, this version has "
                        f"{NUM_BODY_JOINTS} at 1/{QUAT_SCALE}")
    clips_dir = out / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[dict]] = {}
    for entry in header["index"]["clips"]:
        by_source.setdefault(_source_id(entry["id"]), []).append(entry)
    work, offset = [], 0
    for seg_id, n in zip(header["sources"], header["frames"], strict=True):
        root_delta = np.frombuffer(body, "<i4", n * 3, offset).reshape(n, 3)
        offset += n * 3 * 4
        rot_delta = np.frombuffer(body, "<i2", n * joints * 3, offset).reshape(joints * 3, n).T.reshape(n, joints, 3)
        offset += n * joints * 3 * 2
        root, rotations = decode_segment(root_delta, rot_delta)
        seg = MocapClip(name=seg_id, root=root, rotations=rotations, fps=header["fps"])
        work.append((clips_dir, seg, by_source.get(seg_id, [])))
    if jobs > 1 and len(work) > 1:
        import multiprocessing

        _WORK = work
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                rebuilt = {e["id"]: e for part in pool.imap(_rebuild_at, range(len(work)), chunksize=8) for e in part}
        finally:
            _WORK = []
    else:
        rebuilt = {e["id"]: e for item in work for e in _rebuild(*item)}
    clips = [rebuilt[entry["id"]] for entry in header["index"]["clips"]]
    index = dict(header["index"], clips=clips)
    (out / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return {"segments": len(work), "clips": len(clips), "minutes": sum(c["frames"] for c in clips) / FPS / 60}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="pack: a built data set folder; unpack: a pack file")
    parser.add_argument("--out", type=Path, required=True, help="pack: the file to write; unpack: a folder")
    parser.add_argument("--jobs", type=int, default=1, help="unpack: worker processes")


def run(args: argparse.Namespace) -> int:
    start = time.time()
    if args.subcommand == "pack":
        s = pack(args.source, args.out)
        print(f"packed {s['segments']} segments ({s['clips']} training clips with their copies, "
              f"{s['frames'] / FPS / 60:.1f} min of segments) into {s['bytes'] / 2**20:.1f} MiB in "
              f"{time.time() - start:.0f} s → {args.out}")
    else:
        s = unpack(args.source, args.out, max(1, args.jobs))
        print(f"unpacked {s['clips']} clips ({s['minutes']:.1f} min) from {s['segments']} segments "
              f"in {time.time() - start:.0f} s → {args.out}")
    return 0
