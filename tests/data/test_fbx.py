"""The ASCII FBX reader (`engine.train.mocap.fbx`): text tree, transform chain, malformed files, and the
cross-check against the BVH importer.

The CMU FBX files themselves may not be committed, so the cross-check in CI writes a Blender-style FBX
from a shared BVH take: every bone gets its own rest orientation (Blender's bone roll), the armature
turns the scene Z-up, and the local rotations are what such a file holds for that motion. Reading it back
must give the BVH importer's motion. Where the real library is checked out (`$MOTIONBRIDGE_CMU_FBX`), the
real 02_01.fbx is compared with the shared daz 02_01.bvh as well.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from engine.core import rotations as R
from engine.io.bvh import read_bvh
from engine.train.mocap.bvh_import import import_bvh
from engine.train.mocap.fbx import (
    TICKS_PER_SECOND,
    FbxError,
    euler_xyz_to_quat,
    import_fbx,
    parse_fbx_text,
    read_fbx_skeleton,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BVH_02_01 = DATA / "cmu" / "daz" / "02_01.bvh"


def quat_to_euler_xyz(q: np.ndarray) -> np.ndarray:
    """Inverse of FBX eEulerXYZ (R = Rz·Ry·Rx), degrees."""
    m = R.quat_to_matrix(q)
    b = np.arcsin(np.clip(-m[..., 2, 0], -1.0, 1.0))
    a = np.arctan2(m[..., 2, 1], m[..., 2, 2])
    c = np.arctan2(m[..., 1, 0], m[..., 0, 0])
    return np.degrees(np.stack([a, b, c], axis=-1))


def _curve(values: np.ndarray, fps: float) -> str:
    ticks = (np.arange(len(values)) * TICKS_PER_SECOND / fps).round().astype(np.int64)
    keys = ",".join(f"{t},{v:.9f},L" for t, v in zip(ticks, values, strict=True))
    return f"Default: {values[0]:.9f}\nKeyVer: 4005\nKeyCount: {len(values)}\nKey: {keys}\n"


def blender_style_fbx(bvh_path: Path, step: int, seed: int = 0) -> str:
    """An ASCII FBX 6.1 text of a BVH take as Blender writes it: each bone in a frame of its own (random
    rest orientation C_j), under an armature turned -90° about X, sampled every `step` BVH frames."""
    bvh = read_bvh(bvh_path)
    rng = np.random.default_rng(seed)
    names, parents = bvh.names, bvh.parents
    local = bvh.local_rotations()[::step]            # (F, J, 4), BVH joint frames
    trans = bvh.local_translations()[::step]         # (F, J, 3)
    fps = bvh.fps / step
    roll = R.quat_normalize(rng.normal(size=(len(names), 4)))
    top = euler_xyz_to_quat(np.array([-90.0, 0.0, 0.0]))
    frames = local.shape[0]
    lcl_rot, lcl_t = np.zeros((frames, len(names), 3)), np.zeros((frames, len(names), 3))
    for j, p in enumerate(parents):
        parent_frame = np.broadcast_to(top if p < 0 else roll[p], (frames, 4)).copy()
        inv = R.quat_conjugate(parent_frame)
        # l_j = C_parent⁻¹ · L_j · C_j: the BVH local rotation seen between the two bones' own frames.
        q = R.quat_mul(inv, R.quat_mul(local[:, j], np.broadcast_to(roll[j], (frames, 4)).copy()))
        lcl_rot[:, j] = quat_to_euler_xyz(q)
        lcl_t[:, j] = R.quat_apply(inv, trans[:, j])
    rest_rot = np.zeros((len(names), 3))
    rest_t = bvh.offsets.copy()
    for j, p in enumerate(parents):
        parent_frame = top if p < 0 else roll[p]
        rest_rot[j] = quat_to_euler_xyz(R.quat_mul(R.quat_conjugate(parent_frame), roll[j]))
        rest_t[j] = R.quat_apply(R.quat_conjugate(parent_frame), bvh.offsets[j])
    arm = "Take_0"
    models, conns, anims = [], [f'\tConnect: "OO", "Model::{arm}", "Model::Scene"'], []
    models.append(f'\tModel: "Model::{arm}", "Limb" {{\n\t\tProperties60:  {{\n'
                  f'\t\t\tProperty: "Lcl Rotation", "Lcl Rotation", "A+",-90.0,0.0,0.0\n\t\t}}\n\t}}')
    for j, name in enumerate(names):
        t, r = rest_t[j], rest_rot[j]
        models.append(
            f'\tModel: "Model::{name}", "Limb" {{\n\t\tVersion: 232\n\t\tProperties60:  {{\n'
            f'\t\t\tProperty: "RotationOrder", "enum", "",0\n'
            f'\t\t\tProperty: "Lcl Translation", "Lcl Translation", "A+",{t[0]:.9f},{t[1]:.9f},{t[2]:.9f}\n'
            f'\t\t\tProperty: "Lcl Rotation", "Lcl Rotation", "A+",{r[0]:.9f},{r[1]:.9f},{r[2]:.9f}\n'
            f'\t\t\tProperty: "PreRotation", "Vector3D", "",0,0,0\n\t\t}}\n\t\tShading: Y\n\t}}')
        parent = arm if parents[j] < 0 else names[parents[j]]
        conns.append(f'\tConnect: "OO", "Model::{name}", "Model::{parent}"')
        channels = []
        for kind, values in (("T", lcl_t[:, j]), ("R", lcl_rot[:, j])):
            axes = "".join(f'Channel: "{a}" {{\n{_curve(values[:, k], fps)}Color: 1,0,0\n}}\n'
                           for k, a in enumerate("XYZ"))
            channels.append(f'Channel: "{kind}" {{\n{axes}LayerType: 1\n}}\n')
        anims.append(f'Model: "Model::{name}" {{\nVersion: 1.1\nChannel: "Transform" {{\n{"".join(channels)}}}\n}}')
    stop = int(round((frames - 1) * TICKS_PER_SECOND / fps))
    return (
        "; FBX 6.1.0 project file\n; written by the test\n"
        "FBXHeaderExtension:  {\n\tFBXHeaderVersion: 1003\n}\n"
        "Objects:  {\n" + "\n".join(models) + "\n}\n"
        "Connections:  {\n" + "\n".join(conns) + "\n}\n"
        f'Takes:  {{\n\tCurrent: "{arm}"\n\tTake: "{arm}" {{\n\t\tFileName: "{arm}.tak"\n'
        f"\t\tLocalTime: 0,{stop}\n\t\tReferenceTime: 0,{stop}\n" + "\n".join(anims) + "\n\t}\n}\n"
    )


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = R.quat_mul(R.quat_conjugate(a), b)
    return np.degrees(2 * np.arccos(np.clip(np.abs(d[..., 3]), 0.0, 1.0)))


def test_euler_xyz_is_x_then_y_then_z():
    q = euler_xyz_to_quat(np.array([90.0, 90.0, 0.0]))
    # X first takes +Y to +Z; Y then takes +Z to +X.
    assert np.allclose(R.quat_apply(q, np.array([0.0, 1.0, 0.0])), [1.0, 0.0, 0.0], atol=1e-9)
    back = euler_xyz_to_quat(quat_to_euler_xyz(euler_xyz_to_quat(np.array([10.0, -20.0, 30.0]))))
    assert angle_between(back, euler_xyz_to_quat(np.array([10.0, -20.0, 30.0]))) < 1e-4


def test_text_tree_reads_nodes_values_and_key_lists():
    tree = parse_fbx_text('; c\nA: 1, "two" {\n\tB: x,y\n\tKey: \n\t\t0,1.5,L,\n\t\t10,2.5,L\n\tC: 3\n}\n')
    a = tree.find("A")
    assert a.values == ["1", "two"]
    assert a.find("B").values == ["x", "y"]
    assert a.find("Key").values == ["0", "1.5", "L", "10", "2.5", "L"]
    assert a.find("C").values == ["3"]


@pytest.mark.skipif(not BVH_02_01.exists(), reason=f"shared mocap data not found at {DATA}")
def test_blender_style_fbx_of_a_bvh_take_imports_as_the_same_motion(tmp_path):
    path = tmp_path / "02_01.fbx"
    path.write_text(blender_style_fbx(BVH_02_01, step=5))
    skeleton = read_fbx_skeleton(path, fps=24.0)
    assert skeleton.fps == 24.0 and skeleton.frames == (read_bvh(BVH_02_01).frames + 4) // 5
    fbx = import_fbx(path, fps=24.0)
    bvh = import_bvh(BVH_02_01, rig="daz", fps=120.0)
    n = fbx.frames
    assert angle_between(bvh.rotations[::5][:n], fbx.rotations).max() < 0.01
    assert np.abs(bvh.root[::5][:n] - fbx.root).max() < 1e-4


def test_bone_roll_cancels_but_a_wrong_euler_order_would_not(tmp_path):
    """The reader must not pass merely because rotations are tiny: a file whose bones are rolled far from
    the world axes still reads right, and reading its Euler angles in another order would be far off."""
    if not BVH_02_01.exists():
        pytest.skip(f"shared mocap data not found at {DATA}")
    text = blender_style_fbx(BVH_02_01, step=20, seed=3)
    skeleton = read_fbx_skeleton(tmp_path / "x.fbx", fps=6.0, text=text)
    assert np.abs(skeleton.rest_rotation[1:]).max() > 45.0
    right = euler_xyz_to_quat(skeleton.rotation)
    single = [euler_xyz_to_quat(skeleton.rotation * np.eye(3)[k]) for k in range(3)]
    wrong = R.quat_mul(single[0], R.quat_mul(single[1], single[2]))  # Z first: R = Rx·Ry·Rz
    assert angle_between(wrong, right).max() > 5.0


REAL_FBX = os.environ.get("MOTIONBRIDGE_CMU_FBX")


@pytest.mark.skipif(not REAL_FBX or not BVH_02_01.exists(),
                    reason="set MOTIONBRIDGE_CMU_FBX to checkouts of the CMU FBX library to compare real files")
def test_real_library_02_01_matches_its_bvh_copy():
    found = sorted(Path(REAL_FBX).rglob("02_01.fbx"))
    assert found, f"02_01.fbx is not under {REAL_FBX}"
    fbx = import_fbx(found[0], fps=24.0)
    bvh = import_bvh(BVH_02_01, rig="daz", fps=120.0)
    n = fbx.frames
    # The FBX library was sampled at 24 fps from the 120 fps take: every fifth BVH frame.
    assert angle_between(bvh.rotations[::5][:n], fbx.rotations).max() < 0.5
    assert np.abs(bvh.root[::5][:n] - fbx.root).max() < 0.01


@pytest.mark.parametrize("text, message", [
    ("Kaydara FBX Binary  \x00\x1a\x00", "binary FBX"),
    ("hello world", "not an ASCII FBX"),
    ("; FBX\nObjects:  {\n\tModel: 1 {\n", "truncated"),
    ("; FBX\nObjects:  {\n}\n}\n", "unbalanced"),
    ("; FBX\nObjects:  {\n}\n", "no Objects or Connections"),
    ("; FBX\nObjects:  {\n}\nConnections:  {\n}\n", "no animation take"),
])
def test_malformed_files_get_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.fbx"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(FbxError, match=message):
        read_fbx_skeleton(path)


def test_unsupported_interpolation_and_bad_keys_are_refused(tmp_path):
    if not BVH_02_01.exists():
        pytest.skip(f"shared mocap data not found at {DATA}")
    text = blender_style_fbx(BVH_02_01, step=40)
    cubic = text.replace(",L,", ",C,n,", 1)
    with pytest.raises(FbxError, match="key list|interpolation"):
        read_fbx_skeleton(tmp_path / "a.fbx", text=cubic)
    nan = text.replace(",L,", ",L,", 0).replace("Key: 0,", "Key: 0,nan_value,L,", 1)
    with pytest.raises(FbxError):
        read_fbx_skeleton(tmp_path / "b.fbx", text=nan)
    pre = text.replace('"PreRotation", "Vector3D", "",0,0,0', '"PreRotation", "Vector3D", "",0,30,0', 1)
    with pytest.raises(FbxError, match="PreRotation"):
        read_fbx_skeleton(tmp_path / "c.fbx", text=pre)
