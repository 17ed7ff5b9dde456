"""Real consumer check: headless Blender (bpy 5.0.1, own venv) imports our BVH, GLB and FBX exports.

Bone world rotations, as world deltas from each importer's own rest pose (independent of how Blender orients
its bones), must match ours within 1e-3 at several frames; positions show the character upright and facing
Blender's front view. One frame is rendered with Workbench to artifacts/blender/ (kept as a CI artifact).
Skips cleanly when the venv is missing: create it with `bash scripts/setup_blender.sh`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.io.exporters import export_bytes, export_file
from engine.io.exporters.fbx import bpy_python, bpy_venv
from engine.retarget.rig import retarget
from engine.retarget.rigs import get_rig

pytestmark = pytest.mark.blender

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("blender_probe.py")
ARTIFACTS = REPO / "artifacts" / "blender"
CHECK_FRAMES = [0, 13, 27, 44]
# Source (Y up, faces +Z) → Blender world (Z up, character faces −Y): x → x, y → z, z → −y.
TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _needs_blender() -> Path:
    python = bpy_python()
    if python is None:
        pytest.skip(f"bpy venv not found at {bpy_venv()}: run `bash scripts/setup_blender.sh`")
    return python


def wave_and_walk(frames: int = 48, fps: float = 30.0) -> Motion:
    """A deterministic clip: the right arm raised sideways and waving, legs and left arm swinging, travel +Z."""
    t = np.arange(frames) / fps
    aa = np.zeros((frames, len(BODY_JOINTS), 3))
    phase = 2 * np.pi * 1.2 * t

    def joint(name: str) -> int:
        return BODY_JOINTS.index(name)

    aa[:, joint("right_shoulder"), 2] = -np.minimum(1.0, t / 0.4) * 1.45  # raise sideways (about +Z, negative)
    aa[:, joint("right_elbow"), 1] = 0.5 + 0.4 * np.sin(2 * phase)  # wave
    aa[:, joint("left_shoulder"), 2] = -1.2  # left arm down by the side
    aa[:, joint("left_shoulder"), 0] = 0.4 * np.sin(phase)
    aa[:, joint("left_hip"), 0] = 0.45 * np.sin(phase)
    aa[:, joint("right_hip"), 0] = -0.45 * np.sin(phase)
    aa[:, joint("left_knee"), 0] = 0.5 * np.maximum(0, np.sin(phase + 1.2))
    aa[:, joint("right_knee"), 0] = 0.5 * np.maximum(0, -np.sin(phase + 1.2))
    aa[:, joint("spine2"), 1] = 0.15 * np.sin(phase)
    aa[:, joint("neck"), 0] = 0.1
    aa[:, joint("pelvis"), 1] = 0.3  # turned a little toward +X
    root = np.tile(SMPLH_BODY.offsets[0], (frames, 1))
    root[:, 2] += 0.9 * t
    root[:, 1] += 0.02 * np.abs(np.sin(phase))
    return Motion(root=root.astype(np.float32), rotations=R.axis_angle_to_quat(aa).astype(np.float32), fps=fps,
                  text="a person waves with the right hand while walking")


def _probe(python: Path, tmp: Path, kind: str, file: Path, fps: float, render: Path | None = None) -> dict:
    request = {"file": str(file), "kind": kind, "frames": CHECK_FRAMES, "fps": fps}
    if render is not None:
        request.update(render=str(render), render_frame=CHECK_FRAMES[-1])
    (tmp / "request.json").write_text(json.dumps(request))
    proc = subprocess.run([str(python), str(PROBE), str(tmp / "request.json"), str(tmp / "result.json")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"Blender probe failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads((tmp / "result.json").read_text())


def _world_deltas(result: dict, frame: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per bone: (world delta rotation from Blender's rest, head position) in Blender's world."""
    out = {}
    for bone, m in result["pose"][str(frame)].items():
        pose = np.asarray(m)
        rest = np.asarray(result["rest"][bone])
        rp = pose[:3, :3] / np.linalg.norm(pose[:3, :3], axis=0)
        rr = rest[:3, :3] / np.linalg.norm(rest[:3, :3], axis=0)
        out[bone] = (rp @ rr.T, pose[:3, 3])
    return out


def _ours(motion: Motion, target: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bone names, world deltas (F, B, 3, 3) and positions (F, B, 3) in Blender's world, from our retarget."""
    rig_motion = retarget(motion, get_rig(target))
    pos, rot = rig_motion.world("source")
    _, rest_rot = rig_motion.rig.rest_world()
    delta = R.quat_to_matrix(R.quat_mul(rot, np.broadcast_to(R.quat_conjugate(rest_rot), rot.shape).copy()))
    delta_bl = TO_BLENDER @ delta @ TO_BLENDER.T
    return list(rig_motion.rig.bones), delta_bl, pos @ TO_BLENDER.T


def _compare(result: dict, motion: Motion, target: str, absent: frozenset[str] = frozenset()) -> float:
    """Max rotation error over the checked frames; `absent` bones are ones the format leaves out by design."""
    names, delta, pos = _ours(motion, target)
    worst = 0.0
    for f in CHECK_FRAMES:
        theirs = _world_deltas(result, f)
        missing = set(names) - set(theirs)
        assert missing == set(absent), f"Blender lost bones {sorted(missing)}"
        for b, name in enumerate(names):
            if name in absent:
                continue
            rot_bl, head_bl = theirs[name]
            err = float(np.abs(rot_bl - delta[f, b]).max())
            assert err < 1e-3, f"frame {f} bone {name}: world rotation differs by {err:.2e}"
            assert np.abs(head_bl - pos[f, b]).max() < 1e-3, f"frame {f} bone {name}: position {head_bl} vs {pos[f, b]}"
            worst = max(worst, err)
    return worst


def _assert_upright_facing_front(result: dict, pelvis: str, head: str, left_hip: str, right_hip: str) -> None:
    pose = {b: np.asarray(m)[:3, 3] for b, m in result["pose"]["0"].items()}
    assert pose[head][2] > pose[pelvis][2] + 0.4, "head must be well above the pelvis along Blender's +Z"
    across = pose[left_hip] - pose[right_hip]
    # Facing −Y (Blender's front view) puts the character's left on +X; the clip turns it by 0.3 rad.
    assert across[0] > 0.8 * np.linalg.norm(across)


@pytest.fixture(scope="module")
def motion() -> Motion:
    return wave_and_walk()


def test_blender_imports_our_bvh_with_matching_bone_rotations(tmp_path: Path, motion: Motion) -> None:
    python = _needs_blender()
    path = tmp_path / "wave.bvh"
    path.write_bytes(export_bytes(motion, "bvh"))
    result = _probe(python, tmp_path, "bvh", path, motion.fps)
    assert result["blender"].startswith("5.0")
    _compare(result, motion, "smplh")
    _assert_upright_facing_front(result, "pelvis", "head", "left_hip", "right_hip")


def test_blender_imports_our_glb_with_matching_bone_rotations_and_renders(tmp_path: Path, motion: Motion) -> None:
    python = _needs_blender()
    path = tmp_path / "wave.glb"
    path.write_bytes(export_bytes(motion, "glb"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "wave_smplh_glb.png"
    png.unlink(missing_ok=True)
    result = _probe(python, tmp_path, "glb", path, motion.fps, render=png)
    _compare(result, motion, "smplh")
    _assert_upright_facing_front(result, "pelvis", "head", "left_hip", "right_hip")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


@pytest.mark.parametrize("target", ["unreal", "mixamo", "unity"])
def test_blender_imports_retargeted_rigs_with_matching_world_deltas(tmp_path: Path, motion: Motion,
                                                                    target: str) -> None:
    python = _needs_blender()
    rig = get_rig(target)
    names = {j: rig.bone_for(j) for j in ("pelvis", "head", "left_hip", "right_hip")}
    for kind in ("glb", "bvh"):
        path = tmp_path / f"wave_{target}.{kind}"
        path.write_bytes(export_bytes(motion, kind, target))
        result = _probe(python, tmp_path, kind, path, motion.fps)
        # BVH puts root motion on its ROOT, so bones above the hips (Manny's `root`) are not written.
        above_hips = frozenset(rig.bones[: rig.index(rig.hips)]) if kind == "bvh" else frozenset()
        _compare(result, motion, target, above_hips)
        _assert_upright_facing_front(result, names["pelvis"], names["head"], names["left_hip"], names["right_hip"])


def test_fbx_export_through_blender_reimports_with_the_animation(tmp_path: Path, motion: Motion) -> None:
    python = _needs_blender()
    fbx = export_file(motion, tmp_path / "wave.fbx", "mixamo")
    assert fbx.stat().st_size > 10_000
    script = (
        "import bpy, sys; bpy.ops.wm.read_factory_settings(use_empty=True); "
        "bpy.ops.import_scene.fbx(filepath=sys.argv[-1]); "
        "arm = next(o for o in bpy.context.scene.objects if o.type == 'ARMATURE'); "
        "a = arm.animation_data.action; "
        "meshes = [o for o in bpy.context.scene.objects if o.type == 'MESH']; "
        "print('BONES', len(arm.data.bones), 'RANGE', int(a.frame_range[0]), int(a.frame_range[1]), "
        "'MESHES', len(meshes))"
    )
    proc = subprocess.run([str(python), "-c", script, str(fbx)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BONES"))
    _, bones, _, first, last, _, meshes = line.split()
    assert int(bones) == len(get_rig("mixamo").bones)
    assert int(last) - int(first) + 1 == motion.frames
    assert int(meshes) == 1
    # The round trip through FBX keeps the pose: world deltas match ours like the direct imports do.
    result = _probe(python, tmp_path, "fbx", fbx, motion.fps)
    _compare(result, motion, "mixamo")
