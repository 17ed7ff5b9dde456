"""The caption manifest and `motionbridge dataset build`."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from engine.model.representation import FEATURE_DIM
from engine.train import dataset
from engine.train.dataset import CAPTIONS_PATH, build, load_auto_captions, load_captions, mirror_caption, segments
from engine.train.evaluation import HELD_OUT, VALIDATION
from engine.train.everyday_checks import EVERYDAY, EVERYDAY_VALIDATION
from engine.train.mocap.clip import MocapClip, MocapError, facing_yaw
from engine.train.mocap.sources import Take, all_takes

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "cmu" / "trials.csv").exists(),
                                reason=f"shared mocap data not found at {DATA}")


def test_mirrored_captions_swap_sides_and_keep_capitals():
    assert mirror_caption("Left turn, then a step to the right") == "Right turn, then a step to the left"
    assert mirror_caption("spins clockwise") == "spins counterclockwise"
    assert mirror_caption("a bright light") == "a bright light"


def test_caption_manifest_has_two_to_four_distinct_captions_per_clip():
    manifest = load_captions()
    assert isinstance(manifest["version"], int)
    for key, entry in manifest["clips"].items():
        for caps in (entry["captions"], entry.get("reversed", entry["captions"])):
            assert 2 <= len(caps) <= 4, key
            assert len(set(caps)) == len(caps), key


def test_held_out_and_validation_prompts_never_appear_in_the_captions_nor_in_each_other():
    entries = list(load_captions()["clips"].values()) + list(load_auto_captions()["clips"].values())
    assert len(entries) > 1000, "the generated CMU captions are part of the manifest"
    captions = {c.lower() for e in entries for c in e["captions"] + e.get("reversed", [])}
    captions |= {mirror_caption(c) for c in captions}
    prompt_sets = [HELD_OUT, VALIDATION, EVERYDAY, EVERYDAY_VALIDATION]
    for checks in prompt_sets:
        for check in checks:
            assert check.prompt.lower() not in captions, check.prompt
    prompts = [{c.prompt.lower() for c in checks} for checks in prompt_sets]
    for i, a in enumerate(prompts):
        for b in prompts[i + 1:]:
            assert not a & b


def test_generated_captions_have_three_or_four_distinct_sentences():
    auto = load_auto_captions()
    assert isinstance(auto["version"], int)
    for key, entry in auto["clips"].items():
        assert 3 <= len(entry["captions"]) <= 4, key
        assert len(set(entry["captions"])) == len(entry["captions"]), key


def test_everyday_set_spans_twenty_concepts_beyond_locomotion():
    concepts = {c.concept for c in EVERYDAY}
    assert len(concepts) >= 20 and concepts == {c.concept for c in EVERYDAY_VALIDATION}
    assert not concepts & {"walk", "run", "turn left", "turn right", "backwards", "sidestep"}


def test_a_manifest_without_captions_is_refused(tmp_path):
    bad = tmp_path / "captions.json"
    bad.write_text(json.dumps({"version": 1, "clips": {"x": {"captions": []}}}))
    with pytest.raises(ValueError, match="non-empty list"):
        load_captions(bad)
    bad.write_text(json.dumps({"version": 1, "clips": {"x": {"captions": ["a walk"], "reversed": "a walk back"}}}))
    with pytest.raises(ValueError, match="'reversed' must be"):
        load_captions(bad)


def test_a_take_that_fails_to_import_is_reported_and_skipped():
    def broken() -> MocapClip:
        raise MocapError("broken.bvh: cannot read")

    messages: list[str] = []
    assert list(segments([Take("cmu-99_99", "cmu/x.bvh", "x", broken)], messages.append)) == []
    assert messages == ["skipping cmu-99_99: broken.bvh: cannot read"]


@needs_data
def test_every_shared_take_has_captions_or_a_reason_to_be_left_out():
    manifest = load_captions()
    covered = {k.split("#")[0] for k in manifest["clips"]} | set(manifest.get("excluded", {}))
    takes = [t.id for t in all_takes(DATA, use_wheel=False)]
    assert len(takes) > 100
    assert [t for t in takes if t not in covered] == []


@needs_data
def test_dataset_build_on_a_small_subset_writes_canonical_clips_with_mirrors_and_reversals(tmp_path):
    takes = [t for t in all_takes(DATA, use_wheel=False) if t.id in ("cmu-02_01", "dm-jump")]
    index = build(tmp_path, takes, load_captions())
    ids = [c["id"] for c in index["clips"]]
    assert ids == ["cmu-02_01", "cmu-02_01~reversed", "cmu-02_01~mirror", "cmu-02_01~reversed~mirror",
                   "dm-jump", "dm-jump~mirror"]
    by_id = {c["id"]: c for c in index["clips"]}
    manifest = load_captions()["clips"]
    assert by_id["cmu-02_01"]["captions"] == manifest["cmu-02_01"]["captions"]
    assert by_id["cmu-02_01~reversed"]["captions"] == manifest["cmu-02_01"]["reversed"]
    assert [c["reversed"] for c in index["clips"]] == [False, True, False, True, False, False]
    assert [c["mirrored"] for c in index["clips"]] == [False, False, True, True, False, True]
    for entry in index["clips"]:
        with np.load(tmp_path / entry["file"]) as npz:
            root, rot, feats = npz["root"], npz["rotations"], npz["features"]
        assert root.shape == (entry["frames"], 3) and rot.shape == (entry["frames"], 22, 4)
        assert feats.shape == (entry["frames"], FEATURE_DIM)
        clip = MocapClip(name=entry["id"], root=root.astype(np.float64), rotations=rot.astype(np.float64), fps=30.0)
        np.testing.assert_allclose(root[0, [0, 2]], 0.0, atol=1e-5)
        assert abs(facing_yaw(clip, 0)) < 1e-4
    # The walk goes forward about 3 m in under 3 s; its mirror too, drifting the other way.
    walk, mirrored = tmp_path / by_id["cmu-02_01"]["file"], tmp_path / by_id["cmu-02_01~mirror"]["file"]
    with np.load(walk) as a, np.load(mirrored) as b:
        assert 2.5 < a["root"][-1, 2] < 4.0
        np.testing.assert_allclose(b["root"][:, 0], -a["root"][:, 0], atol=1e-5)
    # Played backwards it walks backwards as far, its first pose the forward walk's last (the body's
    # rotations below the pelvis are untouched by re-canonicalising).
    with np.load(walk) as a, np.load(tmp_path / by_id["cmu-02_01~reversed"]["file"]) as r:
        assert r["root"][-1, 2] == pytest.approx(-a["root"][-1, 2], abs=0.15)
        np.testing.assert_allclose(r["rotations"][0, 1:], a["rotations"][-1, 1:], atol=1e-6)
        np.testing.assert_allclose(r["rotations"][-1, 1:], a["rotations"][0, 1:], atol=1e-6)
    assert json.loads((tmp_path / "index.json").read_text())["captions_version"] == load_captions()["version"]


@needs_data
def test_dataset_command_builds_the_selected_takes(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    dataset.configure_parser(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--data", str(DATA), "--no-wheel",
                              "--only", "^cmu-16_01$", "--no-mirror"])
    assert dataset.run(args) == 0
    assert "built 1 clips" in capsys.readouterr().out
    assert CAPTIONS_PATH.exists()
