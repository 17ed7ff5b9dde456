"""Mocap importers: BVH rigs and DeepMimic clips retargeted to SMPL-H, and the clip clean-up steps."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.io.bvh import parse_bvh, read_bvh
from engine.train.mocap import rigs
from engine.train.mocap.bvh_import import bvh_source, import_bvh
from engine.train.mocap.clip import (
    SOLE_HEIGHT,
    MocapClip,
    MocapError,
    canonicalize,
    facing_yaw,
    mirror,
    place_on_ground,
    resample,
    reverse,
    rotate_about_y,
    split,
)
from engine.train.mocap.deepmimic import import_deepmimic_text, wheel_motion_files
from engine.train.mocap.retarget import retarget
from engine.train.mocap.rigs import BVH_RIGS, CMU_ASF, DAZ, REALLUSION, detect_rig

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
J = {n: i for i, n in enumerate(BODY_JOINTS)}
needs_data = pytest.mark.skipif(not (DATA / "cmu" / "trials.csv").exists(),
                                reason=f"shared mocap data not found at {DATA}")


# ---------------------------------------------------------------- a small DAZ-named rig written by hand

def _cm(*joints: str) -> tuple[float, ...]:
    """Sum of SMPL-H rest offsets in centimetres, so the rig's T-pose is exactly the SMPL-H rest pose."""
    return tuple(float(v) for v in sum(SMPLH_BODY.offsets[BODY_JOINTS.index(j)] for j in joints) * 100.0)


# A DAZ-named rig (no spine3: its chest spans SMPL-H spine2 and spine3) built from our rest skeleton.
_MINI_DAZ = [
    ("hip", None, (0.0, 0.0, 0.0)), ("abdomen", "hip", _cm("spine1")), ("chest", "abdomen", _cm("spine2")),
    ("neck", "chest", _cm("spine3", "neck")), ("head", "neck", _cm("head")),
    ("lCollar", "chest", _cm("spine3", "left_collar")), ("lShldr", "lCollar", _cm("left_shoulder")),
    ("lForeArm", "lShldr", _cm("left_elbow")), ("lHand", "lForeArm", _cm("left_wrist")),
    ("rCollar", "chest", _cm("spine3", "right_collar")), ("rShldr", "rCollar", _cm("right_shoulder")),
    ("rForeArm", "rShldr", _cm("right_elbow")), ("rHand", "rForeArm", _cm("right_wrist")),
    ("lThigh", "hip", _cm("left_hip")), ("lShin", "lThigh", _cm("left_knee")), ("lFoot", "lShin", _cm("left_ankle")),
    ("rThigh", "hip", _cm("right_hip")), ("rShin", "rThigh", _cm("right_knee")),
    ("rFoot", "rShin", _cm("right_ankle")),
]


def mini_daz_bvh(frames: list[dict[str, tuple[float, float, float]]], root_positions=None) -> str:
    """BVH text of the hand-written rig; frames give ZXY Euler degrees per joint (others zero)."""
    children: dict[str | None, list[str]] = {}
    for name, parent, _ in _MINI_DAZ:
        children.setdefault(parent, []).append(name)
    offsets = {n: o for n, _, o in _MINI_DAZ}
    lines = ["HIERARCHY"]

    def emit(name: str, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {' '.join(str(v) for v in offsets[name])}")
        chans = "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if depth == 0 else \
            "3 Zrotation Xrotation Yrotation"
        lines.append(f"{pad}  CHANNELS {chans}")
        for child in children.get(name, []):
            emit(child, depth + 1)
        if name not in children:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 -5 0", pad + "  }"])
        lines.append(pad + "}")

    emit("hip", 0)
    order = [n for n, _, _ in _MINI_DAZ]
    dfs: list[str] = []

    def walk(name: str) -> None:
        dfs.append(name)
        for child in children.get(name, []):
            walk(child)

    walk("hip")
    assert sorted(dfs) == sorted(order)
    lines += ["MOTION", f"Frames: {len(frames)}", "Frame Time: 0.0083333"]
    for f, frame in enumerate(frames):
        pos = root_positions[f] if root_positions is not None else (0.0, 90.0, 0.0)
        values = list(pos)
        for name in dfs:
            values += list(frame.get(name, (0.0, 0.0, 0.0)))
        lines.append(" ".join(f"{v:g}" for v in values))
    return "\n".join(lines) + "\n"


def import_text(tmp_path: Path, text: str, **kwargs) -> MocapClip:
    path = tmp_path / "take.bvh"
    path.write_text(text)
    return import_bvh(path, **kwargs)


def test_mini_rig_is_recognised_as_daz():
    assert detect_rig([n for n, _, _ in _MINI_DAZ]) == "daz"
    assert detect_rig(["Hips", "Spine"]) is None


def test_daz_t_pose_frame_gives_identity_rotations(tmp_path):
    clip = import_text(tmp_path, mini_daz_bvh([{}, {}]))
    np.testing.assert_allclose(np.abs(clip.rotations[..., 3]), 1.0, atol=1e-12)


def test_raising_the_left_arm_points_the_smplh_left_upper_arm_up(tmp_path):
    # The left arm rests along +X; Zrotation +90° turns +X into +Y.
    clip = import_text(tmp_path, mini_daz_bvh([{}, {"lShldr": (90.0, 0.0, 0.0)}]))
    pos = clip.world_positions()[1]
    arm = pos[J["left_elbow"]] - pos[J["left_shoulder"]]
    np.testing.assert_allclose(arm / np.linalg.norm(arm), [0.0, 1.0, 0.0], atol=1e-9)
    forearm = pos[J["left_wrist"]] - pos[J["left_elbow"]]
    np.testing.assert_allclose(forearm / np.linalg.norm(forearm), [0.0, 1.0, 0.0], atol=1e-9)
    # The other arm stays in the T-pose.
    right = pos[J["right_elbow"]] - pos[J["right_shoulder"]]
    np.testing.assert_allclose(right / np.linalg.norm(right), [-1.0, 0.0, 0.0], atol=1e-9)


def test_knee_bend_written_as_euler_x_moves_the_smplh_ankle_backwards(tmp_path):
    # Xrotation +90° on the shin turns its (nearly −Y) bone toward −Z (backwards): a right-angle knee bend.
    clip = import_text(tmp_path, mini_daz_bvh([{"lShin": (0.0, 90.0, 0.0)}]))
    pos = clip.world_positions()[0]
    shin = pos[J["left_ankle"]] - pos[J["left_knee"]]
    rest = SMPLH_BODY.offsets[J["left_ankle"]]
    expected = np.array([rest[0], -rest[2], rest[1]])  # Rx(90°) · rest bone
    np.testing.assert_allclose(shin, expected, atol=1e-9)
    assert shin[2] < -0.4


def test_root_translation_is_scaled_to_metres_by_leg_length(tmp_path):
    roots = [(0.0, 90.0, 0.0), (0.0, 90.0, 100.0)]
    clip = import_text(tmp_path, mini_daz_bvh([{}, {}], roots))
    # The rig's legs are ours in centimetres, so the leg-length scale is exactly 0.01 m per unit.
    np.testing.assert_allclose(clip.root[1, 2] - clip.root[0, 2], 1.0, rtol=1e-9)


def _hand_rotation(z: float, x: float, y: float) -> np.ndarray:
    """Rz·Rx·Ry from degrees, written out by hand (independent of engine.core.rotations)."""
    a, b, c = np.radians([z, x, y])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    ry = np.array([[np.cos(c), 0, np.sin(c)], [0, 1, 0], [-np.sin(c), 0, np.cos(c)]])
    return rz @ rx @ ry


@needs_data
@pytest.mark.parametrize("frame", [10, 120, 250])
def test_daz_file_frames_come_out_with_the_limb_directions_of_their_euler_values(frame):
    """Known frames of a real CMU file: FK written by hand from the file's Euler values gives each limb's
    direction; the SMPL-H clip must point the same limbs the same way."""
    path = DATA / "cmu" / "daz" / "02_01.bvh"
    bvh = read_bvh(path)
    clip = import_bvh(path, rig="daz")
    world_rot: dict[str, np.ndarray] = {}
    world_pos: dict[str, np.ndarray] = {}
    for j, joint in enumerate(bvh.joints):
        values = bvh.motion[frame, bvh.channel_start[j]:bvh.channel_start[j] + len(joint.channels)]
        angles = {c[0]: v for c, v in zip(joint.channels, values, strict=True) if c.endswith("rotation")}
        # daz: the root lists Z Y X, every other joint Z X Y; compose in listed order.
        order = joint.rotation_order
        local = np.eye(3)
        for axis in order:
            local = local @ _hand_rotation(*(angles[axis] if a == axis else 0.0 for a in "ZXY"))
        if joint.parent < 0:
            world_rot[joint.name] = local
            world_pos[joint.name] = joint.offset + values[:3]
        else:
            parent = bvh.joints[joint.parent].name
            world_rot[joint.name] = world_rot[parent] @ local
            world_pos[joint.name] = world_pos[parent] + world_rot[parent] @ joint.offset
    pos = clip.world_positions()[frame]
    for ours, (aim, theirs_aim) in DAZ.aims.items():
        if ours in ("spine1", "spine2", "neck"):
            continue
        theirs = DAZ.joints[ours]
        expected = world_pos[theirs_aim] - world_pos[theirs]
        got = pos[J[aim]] - pos[J[ours]]
        cos = expected @ got / np.linalg.norm(expected) / np.linalg.norm(got)
        assert cos > 1 - 1e-9, f"{ours}: limb direction differs by {np.degrees(np.arccos(min(cos, 1.0))):.3f}°"


@needs_data
@pytest.mark.parametrize("rig,file,kwargs", [
    ("daz", "daz/02_01.bvh", {}),
    ("cmu-asf", "cmu-asf/16_01.bvh", {}),
    ("reallusion", "reallusion/07_03.bvh", {"tpose": DATA / "cmu" / "reallusion" / "07_03.bvh"}),
])
def test_every_rig_maps_its_limbs_exactly_onto_smplh(rig, file, kwargs):
    bvh = read_bvh(DATA / "cmu" / file)
    ref = read_bvh(kwargs["tpose"]) if "tpose" in kwargs else None
    source = bvh_source(bvh, file, rig, tpose=ref)
    clip = retarget(source, BVH_RIGS[rig])
    pos, src = clip.world_positions(), bvh.world_positions()
    for ours in ("left_hip", "left_knee", "left_shoulder", "left_elbow", "right_hip", "right_knee",
                 "right_shoulder", "right_elbow"):
        aim, theirs_aim = BVH_RIGS[rig].aims[ours]
        a = pos[:, J[aim]] - pos[:, J[ours]]
        b = src[:, bvh.index(theirs_aim)] - src[:, bvh.index(BVH_RIGS[rig].joints[ours])]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cos.min() > 1 - 1e-9, f"{rig} {ours}"


@needs_data
def test_reallusion_t_pose_frame_is_an_smplh_t_pose():
    path = DATA / "cmu" / "reallusion" / "07_03.bvh"
    clip = import_bvh(path, tpose=path)
    pos = clip.world_positions()[0]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        arm = pos[J[f"{side}_wrist"]] - pos[J[f"{side}_shoulder"]]
        # Within half a degree: the synthetic T-pose frame bends the elbows very slightly.
        np.testing.assert_allclose(arm / np.linalg.norm(arm), [sign, 0.0, 0.0], atol=1e-2)


@needs_data
def test_reallusion_without_a_t_pose_reference_is_refused():
    with pytest.raises(MocapError, match="T-pose"):
        import_bvh(DATA / "cmu" / "reallusion" / "05_02.bvh")


def test_rig_maps_mirror_their_left_side():
    assert DAZ.joints["right_elbow"] == "rForeArm" and DAZ.aims["right_hip"] == ("right_knee", "rShin")
    assert CMU_ASF.joints["right_wrist"] == "rwrist" and CMU_ASF.joints["right_hip"] == "rfemur"
    assert REALLUSION.joints["right_shoulder"] == "CC_Base_R_Upperarm"
    for rig in BVH_RIGS.values():
        assert set(rig.joints) >= {"pelvis", "left_hip", "right_hip", "left_shoulder", "right_shoulder"}


def test_bvh_with_unknown_rig_is_refused(tmp_path):
    text = "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n End Site\n {\n" \
           "  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n0 0 0\n"
    (tmp_path / "x.bvh").write_text(text)
    with pytest.raises(MocapError, match="no joint map"):
        import_bvh(tmp_path / "x.bvh")
    assert parse_bvh(text).names == ("Hips",)


# ---------------------------------------------------------------- DeepMimic


def deepmimic_frame(dt=1 / 30, root=(0.0, 0.9, 0.0), root_rot=(1.0, 0.0, 0.0, 0.0), left_knee=0.0) -> list[float]:
    ident = [1.0, 0.0, 0.0, 0.0]
    values = [dt, *root, *root_rot]
    # chest, neck, r hip, r knee, r ankle, r shoulder, r elbow, l hip, l knee, l ankle, l shoulder, l elbow
    values += ident + ident + ident + [0.0] + ident + ident + [0.0] + ident + [left_knee] + ident + ident + [0.0]
    assert len(values) == 44
    return values


def test_deepmimic_zero_pose_stands_with_arms_down_facing_plus_z():
    text = json.dumps({"Loop": "none", "Frames": [deepmimic_frame(), deepmimic_frame()]})
    clip = import_deepmimic_text(text, "zero")
    pos = clip.world_positions()[0]
    for side in ("left", "right"):
        arm = pos[J[f"{side}_elbow"]] - pos[J[f"{side}_shoulder"]]
        np.testing.assert_allclose(arm / np.linalg.norm(arm), [0.0, -1.0, 0.0], atol=1e-9)
    assert pos[J["left_hip"], 0] > pos[J["right_hip"], 0]  # left side on +X: facing +Z
    assert abs(facing_yaw(clip, 0)) < 1e-9


def test_deepmimic_knee_angle_bends_the_shin_backwards():
    text = json.dumps({"Loop": "none", "Frames": [deepmimic_frame(left_knee=-np.pi / 2)] * 2})
    pos = import_deepmimic_text(text, "knee").world_positions()[0]
    shin = pos[J["left_ankle"]] - pos[J["left_knee"]]
    np.testing.assert_allclose(shin / np.linalg.norm(shin), [0.0, 0.0, -1.0], atol=1e-9)


def test_deepmimic_root_moving_along_its_x_moves_forward_in_ours_and_resamples_to_30_fps():
    frames = [deepmimic_frame(dt=1 / 60, root=(k / 60.0, 0.9, 0.0)) for k in range(61)]
    clip = import_deepmimic_text(json.dumps({"Loop": "none", "Frames": frames}), "glide")
    assert clip.fps == 30 and clip.frames == 31
    np.testing.assert_allclose(clip.root[:, 2] - clip.root[0, 2], np.arange(31) / 30.0 * 0.981, rtol=2e-3)
    np.testing.assert_allclose(clip.root[:, 0], clip.root[0, 0], atol=1e-9)


def test_deepmimic_malformed_clips_are_refused():
    with pytest.raises(MocapError, match="44 values"):
        import_deepmimic_text(json.dumps({"Frames": [[0.1] * 40, [0.1] * 40]}), "short")
    with pytest.raises(MocapError, match="not valid JSON"):
        import_deepmimic_text("{", "broken")
    with pytest.raises(MocapError, match="no 'Frames'"):
        import_deepmimic_text("{}", "empty")


def test_wheel_motion_files_reads_humanoid_and_walker_clips_and_skips_the_quadruped(tmp_path):
    wheel = tmp_path / "pybullet-3.2.7-cp311-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pybullet_data/data/motions/humanoid3d_walk.txt", "{}")
        zf.writestr("pybullet_data/data/motions/walker/turn_left0.txt", "{}")
        zf.writestr("pybullet_data/data/motions/laikago_walk.txt", "{}")
        zf.writestr("pybullet_data/humanoid/humanoid.urdf", "<robot/>")
    assert sorted(wheel_motion_files(wheel)) == ["humanoid3d_walk", "walker_turn_left0"]


@needs_data
def test_shared_deepmimic_walk_moves_forward_at_walking_speed():
    path = DATA / "deepmimic" / "humanoid3d_walk.txt"
    clip = import_deepmimic_text(path.read_text(), "walk", loop_to=4.0)
    clip = canonicalize(clip)
    speed = clip.root[-1, 2] / clip.seconds
    assert clip.seconds >= 4.0 and 0.7 < speed < 1.5


# ---------------------------------------------------------------- clip clean-up


def spinning_clip(fps: float, frames: int, rate: float = 1.0) -> MocapClip:
    """Pelvis turning about +Y at `rate` rad/s while moving along +Z at 1 m/s."""
    t = np.arange(frames) / fps
    rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1))
    rot[:, 0] = R.quat_from_yaw(rate * t)
    root = np.stack([np.zeros(frames), np.full(frames, 0.95), t], axis=-1)
    return MocapClip(name="spin", root=root, rotations=rot, fps=fps)


def test_resampling_to_30_fps_follows_the_rotation_exactly():
    clip = resample(spinning_clip(120.0, 121), 30.0)
    assert clip.frames == 31 and clip.fps == 30.0
    expected = R.quat_from_yaw(np.arange(31) / 30.0)
    dots = np.abs((clip.rotations[:, 0] * expected).sum(-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-12)
    np.testing.assert_allclose(clip.root[:, 2], np.arange(31) / 30.0, atol=1e-12)


def test_resampling_uneven_frame_times_interpolates_between_the_right_frames():
    clip = spinning_clip(10.0, 4)
    times = np.array([0.0, 0.1, 0.3, 0.4])  # frame values were made for 10 fps; pretend uneven spacing
    out = resample(clip, 30.0, times=times)
    assert out.frames == 13
    # t = 0.2 lies halfway between frames 1 (0.1 s) and 2 (0.3 s): root z halfway between 0.1 and 0.2.
    np.testing.assert_allclose(out.root[6, 2], 0.15, atol=1e-12)


def test_mirroring_twice_gives_back_the_clip_and_once_swaps_sides():
    rng = np.random.default_rng(1)
    rot = R.quat_normalize(rng.normal(size=(5, 22, 4)))
    clip = MocapClip(name="r", root=rng.normal(size=(5, 3)), rotations=rot, fps=30.0)
    twice = mirror(mirror(clip))
    np.testing.assert_allclose(twice.root, clip.root)
    np.testing.assert_allclose(twice.rotations, clip.rotations)
    pos, mpos = clip.world_positions(), mirror(clip).world_positions()
    flip = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mpos[:, J["left_wrist"]], pos[:, J["right_wrist"]] * flip, atol=1e-9)
    np.testing.assert_allclose(mpos[:, J["head"]], pos[:, J["head"]] * flip, atol=1e-9)


def test_a_clip_played_backwards_starts_canonical_and_retraces_its_path():
    frames = 20
    rng = np.random.default_rng(2)
    rot = R.quat_normalize(np.tile([0.0, 0.0, 0.0, 1.0], (frames, 22, 1)) + 0.1 * rng.normal(size=(frames, 22, 4)))
    rot[:, 0] = [0.0, 0.0, 0.0, 1.0]  # the pelvis faces +Z throughout
    root = np.stack([np.zeros(frames), np.full(frames, 0.9), np.linspace(0.0, 1.9, frames)], -1)  # forward
    clip = MocapClip(name="w", root=root, rotations=rot, fps=30.0)
    back = reverse(clip)
    assert back.meta["reversed"] and not reverse(back).meta["reversed"]
    np.testing.assert_allclose(back.root[0, [0, 2]], 0.0, atol=1e-9)
    assert abs(facing_yaw(back, 0)) < 1e-9
    # It faces the same way and travels toward its back, the forward walk's poses in reverse order.
    np.testing.assert_allclose(back.root[:, 2], root[::-1, 2] - root[-1, 2], atol=1e-9)
    np.testing.assert_allclose(back.rotations[:, 1:], rot[::-1, 1:], atol=1e-12)


def test_canonical_start_is_at_the_origin_facing_plus_z():
    clip = rotate_about_y(spinning_clip(30.0, 20, rate=0.5), 1.3)
    clip = clip.with_(root=clip.root + np.array([3.0, 0.0, -2.0]))
    canon = canonicalize(clip)
    np.testing.assert_allclose(canon.root[0, [0, 2]], 0.0, atol=1e-12)
    assert abs(facing_yaw(canon, 0)) < 1e-9
    # Distances along the path are unchanged.
    np.testing.assert_allclose(np.linalg.norm(np.diff(canon.root, axis=0), axis=1),
                               np.linalg.norm(np.diff(clip.root, axis=0), axis=1), atol=1e-12)


def test_place_on_ground_puts_the_lowest_joint_at_sole_height():
    clip = place_on_ground(spinning_clip(30.0, 10).with_(root=np.tile([0.0, 3.0, 0.0], (10, 1))))
    np.testing.assert_allclose(clip.world_positions()[..., 1].min(), SOLE_HEIGHT, atol=1e-9)


def test_split_cuts_long_takes_into_equal_segments():
    parts = split(spinning_clip(30.0, 750), 10.0)
    assert [p.frames for p in parts] == [250, 250, 250]
    assert [p.name for p in parts] == ["spin#0", "spin#1", "spin#2"]
    assert split(spinning_clip(30.0, 200), 10.0)[0].frames == 200


ASSIMP_01_01 = Path("/usr/share/assimp/models/BVH/01_01.bvh")


@pytest.mark.skipif(not ASSIMP_01_01.exists(), reason="Debian assimp-testmodels is not installed (optional source)")
def test_motionbuilder_rig_from_assimp_testmodels_maps_its_limbs_onto_smplh():
    bvh = read_bvh(ASSIMP_01_01)
    assert detect_rig(bvh.names) == "cmu-mb"
    source = bvh_source(bvh, "01_01")
    rig = BVH_RIGS["cmu-mb"]
    pos, src = retarget(source, rig).world_positions()[::50], bvh.world_positions()[::50]
    for ours in ("left_hip", "left_knee", "left_shoulder", "left_elbow", "right_knee", "right_elbow"):
        aim, theirs_aim = rig.aims[ours]
        a = pos[:, J[aim]] - pos[:, J[ours]]
        b = src[:, bvh.index(theirs_aim)] - src[:, bvh.index(rig.joints[ours])]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cos.min() > 1 - 1e-9, ours


ALL_RIGS = [rigs.DAZ, rigs.CMU_ASF, rigs.REALLUSION, rigs.CMU_MB, rigs.DEEPMIMIC]


@pytest.mark.parametrize("rig", ALL_RIGS, ids=lambda rig: rig.name)
def test_every_aim_runs_down_the_smplh_chain_to_a_joint_of_the_rig(rig):
    for joint, (aim, source_aim) in rig.aims.items():
        walk = rigs.CHAIN[joint]
        while walk != aim:
            assert walk not in rig.joints, f"{rig.name}: {joint} skips its mapped chain joint {walk}"
            walk = rigs.CHAIN[walk]
        assert source_aim, f"{rig.name}: {joint} aims at {aim} without a source joint"
