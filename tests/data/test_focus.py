"""`motionbridge dataset focus`: base clips kept whole, each everyday concept filled to its budget over takes."""

import json

import numpy as np

from bridge.cli import main
from engine.train.dataset import load_index
from engine.train.focus import select

SECOND = 30  # frames


def clip(cid, take, captions, seconds, source="cmu-fbx:x", split="train"):
    return {"id": cid, "take": take, "source": source, "captions": captions, "frames": seconds * SECOND,
            "mirrored": cid.endswith("~mirror"), "reversed": "~reversed" in cid, "split": split,
            "file": f"clips/{cid.replace('#', '_').replace('~', '_')}.npz"}


def with_mirror(cid, take, captions, seconds, **kw):
    return [clip(cid, take, captions, seconds, **kw), clip(cid + "~mirror", take, captions, seconds, **kw)]


def library():
    clips = []
    clips += with_mirror("dm-walk", "dm-walk", ["a person walks"], 8, source="deepmimic/walk.txt")
    clips += with_mirror("cmu-02_01~reversed", "cmu-02_01", ["someone walks backward"], 5, source="cmu/daz/02_01.bvh")
    # Waving: three takes, the first with four 10 s segments; bowing: one short take; a held-out wave.
    for seg in range(4):
        clips += with_mirror(f"cmu-10_01#{seg}", "cmu-10_01", ["a man waves hello"], 10)
    clips += with_mirror("cmu-11_02#0", "cmu-11_02", ["someone waving with the left hand"], 10)
    clips += with_mirror("cmu-12_03#0", "cmu-12_03", ["a woman is waving"], 10)
    clips += with_mirror("cmu-13_01#0", "cmu-13_01", ["a person bows"], 6)
    clips += with_mirror("cmu-41_01#0", "cmu-41_01", ["a man waves both arms"], 10, split="held_out")
    clips += with_mirror("cmu-14_01#0", "cmu-14_01", ["a person runs in a circle"], 10)
    return clips


def test_focus_keeps_base_clips_spreads_a_concept_over_takes_and_never_takes_held_out_clips():
    chosen, minutes = select(library(), minutes_per_concept=1.0)
    ids = {c["id"] for c in chosen}
    # Base sources whole, reversed copies and mirrors with their clip.
    assert {"dm-walk", "dm-walk~mirror", "cmu-02_01~reversed", "cmu-02_01~reversed~mirror"} <= ids
    # One minute of waving (mirrors count): one segment of each take before a second of the same take.
    waves = sorted(i for i in ids if i.split("#")[0] in ("cmu-10_01", "cmu-11_02", "cmu-12_03"))
    assert waves == ["cmu-10_01#0", "cmu-10_01#0~mirror", "cmu-11_02#0", "cmu-11_02#0~mirror",
                     "cmu-12_03#0", "cmu-12_03#0~mirror"]
    assert minutes["greeting"] == 1.0
    # A concept with less than its budget takes all there is; nothing unasked-for or held out comes along.
    assert {"cmu-13_01#0", "cmu-13_01#0~mirror"} <= ids and minutes["bowing"] == 0.2
    assert not {i for i in ids if i.startswith(("cmu-41", "cmu-14"))}
    assert [c["id"] for c in chosen] == [c["id"] for c in library() if c["id"] in ids]  # index order


def test_focus_command_writes_a_data_set_that_loads(tmp_path):
    data = tmp_path / "built"
    (data / "clips").mkdir(parents=True)
    clips = library()
    for c in clips:
        np.savez(data / c["file"], root=np.zeros((c["frames"], 3), np.float32))
    (data / "index.json").write_text(json.dumps({"version": 3, "fps": 30, "clips": clips}))

    assert main(["dataset", "focus", "--data", str(data), "--out", str(tmp_path / "f"),
                 "--minutes-per-concept", "1"]) == 0
    index = load_index(tmp_path / "f")
    assert index["version"] == 3 and index["focus"]["minutes_per_concept"] == 1.0
    assert len(index["clips"]) == 12
    for c in index["clips"]:
        assert (tmp_path / "f" / c["file"]).stat().st_size == (data / c["file"]).stat().st_size
