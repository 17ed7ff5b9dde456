"""npz export: the upstream HY-Motion-compatible file written by `Motion.save_npz` (source skeleton only)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from engine.core.motion import Motion


def npz_bytes(motion: Motion) -> bytes:
    """The bytes `Motion.save_npz` writes (poses/trans/Rh/betas/... for the 52 SMPL-H joints)."""
    with tempfile.TemporaryDirectory(prefix="motionbridge-npz-") as tmp:
        return motion.save_npz(Path(tmp) / "motion.npz").read_bytes()
