"""`motionbridge dataset pack | unpack`: a training set in one small file and back."""

import json
import lzma
import struct
from pathlib import Path

import numpy as np
import pytest

from bridge.cli import main
from engine.train.dataset import build, load_captions, load_index
from engine.train.mocap.sources import all_takes
from engine.train.packing import PackError, decode_segment, encode_segment, pack, unpack

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "cmu" / "trials.csv").exists(),
                                reason=f"shared mocap data not found at {DATA}")


def quat_angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Radians between unit quaternions, either sign."""
    dot = np.abs((np.asarray(a, np.float64) * np.asarray(b, np.float64)).sum(-1))
    return 2 * np.arccos(np.clip(dot, 0.0, 1.0))


def test_segment_coding_keeps_rotations_within_a_fraction_of_a_degree_and_roots_within_half_a_millimetre():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(90, 22, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = np.cumsum(rng.normal(scale=0.05, size=(90, 3)), axis=0) + [0.0, 0.95, 0.0]
    back_root, back_q = decode_segment(*encode_segment(root, q))
    assert np.abs(back_root - root).max() <= 0.0005
    angles = np.degrees(quat_angle_between(back_q, q))
    assert angles.max() < 1.5 and angles.mean() < 0.05


@needs_data
def test_pack_and_unpack_rebuild_the_training_clips_with_their_copies(tmp_path):
    takes = [t for t in all_takes(DATA, use_wheel=False) if t.id in ("cmu-02_01", "dm-jump", "cmu-16_01")]
    built = build(tmp_path / "built", takes, load_captions())
    file = tmp_path / "train.mbpack"
    assert main(["dataset", "pack", str(tmp_path / "built"), "--out", str(file)]) == 0
    assert main(["dataset", "unpack", str(file), "--out", str(tmp_path / "again"), "--jobs", "2"]) == 0

    again = load_index(tmp_path / "again")
    train = [c for c in built["clips"] if c["split"] == "train"]
    strip = ("file",)
    assert [{k: v for k, v in c.items() if k not in strip} for c in again["clips"]] == \
        [{k: v for k, v in c.items() if k not in strip} for c in train]
    assert {k: v for k, v in again.items() if k != "clips"} == {k: v for k, v in built.items() if k != "clips"}
    for a, b in zip(train, again["clips"], strict=True):
        with np.load(tmp_path / "built" / a["file"]) as x, np.load(tmp_path / "again" / b["file"]) as y:
            # The reversed and mirrored copies are rebuilt from the coded segment, not stored.
            assert np.abs(x["root"] - y["root"]).max() < 0.002, a["id"]
            assert np.degrees(quat_angle_between(x["rotations"], y["rotations"])).max() < 1.5, a["id"]
            assert np.abs(x["features"] - y["features"]).mean() < 0.01, a["id"]
    assert file.stat().st_size < 0.2 * sum((tmp_path / "built" / c["file"]).stat().st_size for c in train)


def test_a_file_that_is_not_a_pack_or_is_damaged_is_refused_clearly(tmp_path):
    other = tmp_path / "model.safetensors"
    other.write_bytes(b"\x00" * 64)
    with pytest.raises(PackError, match="not a MotionBridge data pack"):
        unpack(other, tmp_path / "out")
    damaged = tmp_path / "cut.mbpack"
    damaged.write_bytes(b"MBPACK1\n" + b"\xfd7zXZ\x00 truncated")
    with pytest.raises(PackError, match="damaged"):
        unpack(damaged, tmp_path / "out")
    header = json.dumps(["not", "a", "header"]).encode()
    wrong = tmp_path / "wrong.mbpack"
    wrong.write_bytes(b"MBPACK1\n" + lzma.compress(struct.pack("<Q", len(header)) + header))
    with pytest.raises(PackError, match="lacks the pack's fields"):
        unpack(wrong, tmp_path / "out")


@needs_data
def test_a_cut_short_pack_is_refused_not_half_unpacked(tmp_path):
    takes = [t for t in all_takes(DATA, use_wheel=False) if t.id == "dm-jump"]
    build(tmp_path / "built", takes, load_captions())
    file = tmp_path / "train.mbpack"
    pack(tmp_path / "built", file)
    file.write_bytes(file.read_bytes()[:-200])
    with pytest.raises(PackError, match="damaged"):
        unpack(file, tmp_path / "out")
    assert not (tmp_path / "out" / "index.json").exists()
