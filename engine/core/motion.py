"""`Motion`: the value every part of MotionBridge passes around once a model has produced a clip.

A Motion holds root positions and local joint rotations of the source skeleton (see `engine.core.skeleton`),
always in the source convention (right-handed, Y up, faces +Z, metres, quaternions x,y,z,w relative to the
T-pose). Conversions to engine targets happen at the edges (`engine.core.targets`), never in here.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.core import rotations as R
from engine.core.skeleton import ALL_JOINTS, BODY_JOINTS, FPS, NUM_ALL_JOINTS, SMPLH_BODY, Skeleton

MIN_FRAMES = 20
"""Shortest clip a model produces (upstream clamps to [20, 360] frames)."""
MAX_KEYS = 64
"""Most keys (pose and effector together) and most waypoints one directed request may carry; the protocol
advertises it as `hello.limits.max_keys` and `engine.model.directing` enforces it (defined here, torch-free)."""
MAX_SEGMENTS = 16
"""Most timeline segments one request may carry."""


def frames_for_seconds(seconds: float, max_frames: int, fps: int = FPS) -> int:
    """Frame count for a duration: round(seconds × fps), clamped to [MIN_FRAMES, max_frames]."""
    return max(MIN_FRAMES, min(max_frames, int(round(seconds * fps))))


def resample_frames(
    root: np.ndarray, rotations: np.ndarray, fps_in: float, fps_out: float, times: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Root positions (L, 3) and rotations (L, J, 4) at a new frame rate: roots interpolated linearly,
    rotations by slerp between the two neighbouring frames, then made sign-continuous.

    Frame k of the input sits at k / fps_in, or at `times[k]` seconds for takes with uneven frame durations
    (strictly increasing). The output covers the same span from the first frame and ends on the last new
    frame that does not pass the old last one.
    """
    frames = root.shape[0]
    if times is None:
        count = int(math.floor((frames - 1) / fps_in * fps_out + 1e-6)) + 1
        src = np.arange(count) / fps_out * fps_in  # fractional source frame per new frame
        lo = np.minimum(np.floor(src).astype(int), frames - 1)
        hi = np.minimum(lo + 1, frames - 1)
        t = src - lo
    else:
        count = int(math.floor((times[-1] - times[0]) * fps_out + 1e-6)) + 1
        out_t = times[0] + np.arange(count) / fps_out
        hi = np.clip(np.searchsorted(times, out_t, side="right"), 1, frames - 1)
        lo = hi - 1
        t = np.clip((out_t - times[lo]) / (times[hi] - times[lo]), 0.0, 1.0)
    new_root = root[lo] * (1 - t)[:, None] + root[hi] * t[:, None]
    new_rot = R.quat_slerp(rotations[lo], rotations[hi], t[:, None])
    return new_root, R.quat_make_continuous(new_rot, 0)


@dataclass(frozen=True)
class Motion:
    """A clip of the source skeleton.

    root: (L, 3) float32 root (pelvis) world position, metres.
    rotations: (L, J, 4) float32 local quaternions (x, y, z, w) relative to the rest pose; joint 0's is global.
    """

    root: np.ndarray
    rotations: np.ndarray
    fps: float = FPS
    joints: tuple[str, ...] = BODY_JOINTS
    text: str = ""
    seed: int = 0
    model: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.root.ndim != 2 or self.root.shape[1] != 3:
            raise ValueError(f"root must be (L, 3), got {self.root.shape}")
        if self.rotations.shape != (self.root.shape[0], len(self.joints), 4):
            raise ValueError(
                f"rotations must be (L, {len(self.joints)}, 4) to match root and joints, got {self.rotations.shape}"
            )

    @property
    def frames(self) -> int:
        return int(self.root.shape[0])

    @property
    def seconds(self) -> float:
        return self.frames / float(self.fps)

    @property
    def skeleton(self) -> Skeleton:
        if self.joints != SMPLH_BODY.joints:
            raise ValueError("this motion is not on the SMPL-H body skeleton")
        return SMPLH_BODY

    def with_(self, **changes: Any) -> Motion:
        return replace(self, **changes)

    def world_positions(self) -> np.ndarray:
        """(L, J, 3) joint positions by forward kinematics on the source rest skeleton."""
        sk = self.skeleton
        pos, _ = R.forward_kinematics(self.rotations, self.root, sk.offsets, sk.parents)
        return pos

    # ------------------------------------------------------------ upstream-compatible npz

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write an upstream-compatible .npz atomically (temp file in the same folder, then rename).

        Keys: poses (L, 156) axis-angle for the 52 SMPL-H joints (root first, fingers identity),
        trans (L, 3), Rh (L, 3) root axis-angle, betas zeros (1, 16), gender "neutral",
        mocap_framerate, text, seed, model.
        """
        path = Path(path)
        aa = R.quat_to_axis_angle(self.rotations.astype(np.float64))
        poses = np.zeros((self.frames, NUM_ALL_JOINTS, 3), dtype=np.float32)
        idx = [ALL_JOINTS.index(j) for j in self.joints]
        poses[:, idx] = aa
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    poses=poses.reshape(self.frames, -1),
                    trans=self.root.astype(np.float32),
                    Rh=aa[:, 0].astype(np.float32),
                    betas=np.zeros((1, 16), dtype=np.float32),
                    gender=np.array("neutral"),
                    mocap_framerate=np.array(float(self.fps)),
                    text=np.array(self.text),
                    seed=np.array(int(self.seed)),
                    model=np.array(self.model),
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load_npz(cls, path: str | os.PathLike) -> Motion:
        """Read an .npz written by `save_npz` or by upstream HY-Motion (body joints only are kept)."""
        with np.load(path, allow_pickle=False) as data:
            poses = data["poses"].reshape(data["poses"].shape[0], -1, 3)
            trans = data["trans"].astype(np.float32)
            fps = float(data["mocap_framerate"]) if "mocap_framerate" in data else float(FPS)
            text = str(data["text"]) if "text" in data else ""
            seed = int(data["seed"]) if "seed" in data else 0
            model = str(data["model"]) if "model" in data else ""
        quats = R.axis_angle_to_quat(poses[:, : len(BODY_JOINTS)].astype(np.float64)).astype(np.float32)
        return cls(root=trans, rotations=quats, fps=fps, text=text, seed=seed, model=model)
