"""`motionbridge fetch-weights`: offline failure message and layout verification (no network used)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.io import hymotion_download as weights
from engine.io.checkpoint import PUBLISHED_STATS_SHA256, sha256_of

REPO = Path(__file__).resolve().parents[2]


def test_offline_download_fails_with_what_to_fetch_and_where(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.io.hymotion_download", "--dir", str(tmp_path / "models"), "--lite"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--include 'HY-Motion-1.0-Lite/*'" in proc.stderr
    assert str(tmp_path / "models" / "Qwen3-8B") in proc.stderr
    assert "stats" in proc.stderr
    for repo, revision in weights.HUB_REVISIONS.items():
        assert f"huggingface-cli download {repo} --revision {revision}" in proc.stderr


def test_every_download_is_pinned_to_a_commit():
    hex40 = re.compile(r"[0-9a-f]{40}")
    for lite in (False, True):
        for component in weights.components(lite):
            assert hex40.fullmatch(component.revision), component.repo
    assert set(weights.HUB_REVISIONS) == {c.repo for c in weights.components(False)}
    assert f"/{weights.STATS_COMMIT}/stats/Mean.npy" in weights.STATS_URL.format(name="Mean.npy")
    assert hex40.fullmatch(weights.STATS_COMMIT)


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
    own = {name: sha256_of(tmp_path / "stats" / name) for name in ("Mean.npy", "Std.npy")}
    assert weights.verify(tmp_path, lite=False, stats_sha256=own) == []
    # Made-up statistics are not the published files: verify says which and what they should hash to.
    problems = weights.verify(tmp_path, lite=False)
    assert len(problems) == 2 and all(PUBLISHED_STATS_SHA256[p.split("/")[-1].split(" ")[0]] in p for p in problems)
    (tmp_path / "clip-vit-large-patch14" / "config.json").unlink()
    (tmp_path / "stats" / "Std.npy").write_text("version https://git-lfs.github.com/spec/v1\n")
    problems = weights.verify(tmp_path, lite=False)
    assert any("clip-vit-large-patch14" in p for p in problems)
    assert any("Std.npy" in p and "git-lfs" in p for p in problems)
    assert any("HY-Motion-1.0-Lite" in p for p in weights.verify(tmp_path, lite=True))
