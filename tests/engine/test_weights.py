"""`motionbridge fetch-weights`: offline failure message and layout verification (no network used)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine import weights

REPO = Path(__file__).resolve().parents[2]


def test_offline_download_fails_with_what_to_fetch_and_where(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.weights", "--dir", str(tmp_path / "models"), "--lite"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "huggingface-cli download tencent/HY-Motion-1.0 --include 'HY-Motion-1.0-Lite/*'" in proc.stderr
    assert str(tmp_path / "models" / "Qwen3-8B") in proc.stderr
    assert "stats" in proc.stderr


def _complete_layout(root: Path) -> None:
    model = root / "HY-Motion-1.0"
    model.mkdir(parents=True)
    (model / "config.yml").write_text("network_module_args: {}\n")
    (model / "latest.ckpt").write_bytes(b"")
    (root / "stats").mkdir()
    np.save(root / "stats" / "Mean.npy", np.zeros(201, np.float32))
    np.save(root / "stats" / "Std.npy", np.ones(201, np.float32))
    for folder in ("Qwen3-8B", "clip-vit-large-patch14"):
        (root / folder).mkdir()
        (root / folder / "config.json").write_text("{}")


def test_verify_accepts_a_complete_layout_and_names_each_missing_piece(tmp_path):
    _complete_layout(tmp_path)
    assert weights.verify(tmp_path, lite=False) == []
    (tmp_path / "clip-vit-large-patch14" / "config.json").unlink()
    (tmp_path / "stats" / "Std.npy").write_text("version https://git-lfs.github.com/spec/v1\n")
    problems = weights.verify(tmp_path, lite=False)
    assert any("clip-vit-large-patch14" in p for p in problems)
    assert any("Std.npy" in p and "git-lfs" in p for p in problems)
    assert any("HY-Motion-1.0-Lite" in p for p in weights.verify(tmp_path, lite=True))
