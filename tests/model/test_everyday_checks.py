"""The everyday checks (`engine.train.everyday_checks`) judge what the body does: standing still passes none,
and motions built to do one thing pass that thing's check."""

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS
from engine.train.everyday_checks import (
    EVERYDAY,
    EVERYDAY_VALIDATION,
    lies_down,
    pelvis_start_end,
    pelvis_tail,
    squat_dips,
)

FRAMES = 150


def motion(root_y=None, root_z=None, pelvis_quat=None, arms_down: bool = True) -> Motion:
    """The rest skeleton (arms lowered along the body unless asked) with a scripted pelvis."""
    root = np.zeros((FRAMES, 3))
    root[:, 1] = 0.95 if root_y is None else root_y
    if root_z is not None:
        root[:, 2] = root_z
    rot = np.zeros((FRAMES, 22, 4))
    rot[..., 3] = 1.0
    if pelvis_quat is not None:
        rot[:, 0] = pelvis_quat
    if arms_down:
        for side, sign in (("left", -1.0), ("right", 1.0)):
            rot[:, BODY_JOINTS.index(f"{side}_shoulder")] = R.axis_angle_to_quat(np.array([0.0, 0.0, sign * 1.4]))
    return Motion(root=root, rotations=rot.astype(np.float32), fps=30)


def passed(check, m: Motion) -> bool:
    return bool(check.passes(check.measure(m), {}))


@pytest.mark.parametrize("checks", [EVERYDAY, EVERYDAY_VALIDATION])
def test_standing_still_passes_no_everyday_check(checks):
    still = motion()
    assert [c.concept for c in checks if passed(c, still)] == []
    tpose = motion(arms_down=False)
    assert [c.concept for c in checks if passed(c, tpose)] == []


def test_scripted_motions_pass_their_own_checks_only():
    by = {c.concept: c for c in EVERYDAY}
    sit = motion(root_y=np.concatenate([np.full(50, 0.95), np.linspace(0.95, 0.55, 30), np.full(70, 0.55)]))
    assert passed(by["sit"], sit) and pelvis_tail(sit) < 0.6
    assert not passed(by["stairs"], sit) and not passed(by["lie down"], sit)
    stairs = motion(root_y=np.linspace(0.95, 1.4, FRAMES), root_z=np.linspace(0.0, 2.0, FRAMES))
    assert passed(by["stairs"], stairs) and pelvis_start_end(stairs) > 0.3
    lying = motion(root_y=np.full(FRAMES, 0.12), pelvis_quat=R.axis_angle_to_quat(np.array([-np.pi / 2, 0.0, 0.0])))
    assert passed(by["lie down"], lying) and lies_down(lying) < 0.35
    dips = 0.95 - 0.35 * (np.sin(np.linspace(0, 4 * np.pi, FRAMES) - np.pi / 2) + 1) / 2
    squats = motion(root_y=dips)
    assert squat_dips(squats) == 2 and passed(by["squats"], squats)
    assert not passed(by["sit"], squats)
