"""Write tests/data/retarget_cases.json: world-delta retarget cases onto the UE5 Manny A-pose rig.

The Unreal plugin's pure-Python retarget (no numpy) must reproduce these numbers; the table is generated from
`engine.retarget.rig`, so regenerate it whenever the method or the rig changes:

    python scripts/make_retarget_cases.py            # writes tests/data/retarget_cases.json
    python scripts/make_retarget_cases.py --check    # exits 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from engine.core import rotations as R  # noqa: E402
from engine.core.motion import Motion  # noqa: E402
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY  # noqa: E402
from engine.retarget.rig import retarget  # noqa: E402
from engine.retarget.rigs import manny  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "retarget_cases.json"

FORMAT = (
    "World-delta retarget cases, source skeleton -> UE5 Manny (A-pose rest). Quaternions are [x, y, z, w], "
    "Hamilton product, active rotations, w >= 0 (q and -q are the same rotation: compare with |dot| > 1 - tol). "
    "'source': the protocol's smplh skeleton (right-handed, Y up, faces +Z, metres; rest rotations identity; "
    "offsets parent-relative, row 0 = pelvis rest position). 'target': Unreal frame (left-handed, Z up, faces "
    "+X, cm) with bones, parents (-1 = root, parents listed first), rest_local_rotations and "
    "rest_local_translations as the skeleton's reference pose, bone_map (bone -> source joint, or "
    "[joint_a, joint_b, t] = slerp of the two joints' world rotations at t), hips (the bone that carries root "
    "motion), basis (3x3, rows; unreal_vector = basis @ source_vector) and scale (cm per metre). Per case: "
    "source_local_rotations (22 joints, source frame), source_root (metres, source frame); expected values are "
    "in the Unreal frame: rest_alignment C per bone (world), expected_local_rotations (per bone, relative to "
    "its parent, what set_bone_rotation / AnimSequence keys take), expected_hips_translation (local, cm) and "
    "expected_world_positions (cm) for checking FK. Method: W_j = source world rotation of joint j by FK, "
    "converted to Unreal by R' = B R B^T; rest world rotations G_b and positions P_b by FK of the reference "
    "pose; C_b = shortest-arc rotation taking (P_child - P_b) onto the source rest direction (B * "
    "(p_chainchild - p_j)) where child is the bone mapped to the source joint's chain child (spine3 -> neck, "
    "else the single child); bones with no such child, and blended bones, take C of their nearest ancestor "
    "mapped to a single joint (identity if none); world_b = W_j * C_b * G_b for mapped bones, "
    "world_parent * rest_local_b for unmapped ones; local_b = inverse(world_parent) * world_b. Hips world "
    "position = P_hips + (P_hips.up / (scale * source_rest_root.up)) * scale * B (root - source_rest_root); "
    "hips local translation = inverse(world_parent) applied to (hips world - parent world position). "
    "Tolerance: 1e-5 on quaternion components, 1e-3 cm on positions."
)


def _q(q: np.ndarray) -> list[float]:
    q = np.asarray(q, dtype=np.float64)
    q = -q if q[3] < 0 else q
    return [round(float(v), 9) for v in q]


def _case_poses() -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """name → (local rotations (22, 4), root (3,), description)."""
    ident = np.tile([0.0, 0.0, 0.0, 1.0], (22, 1))
    rest_root = SMPLH_BODY.offsets[0].copy()

    def with_(rot: dict[str, np.ndarray], root: np.ndarray = rest_root) -> tuple[np.ndarray, np.ndarray]:
        q = ident.copy()
        for joint, aa in rot.items():
            q[BODY_JOINTS.index(joint)] = R.axis_angle_to_quat(np.asarray(aa, dtype=np.float64))
        return q, root

    half = np.pi / 2
    cases = {
        "t_pose": (*with_({}), "source rest (T-pose): Manny's arms must come up to horizontal"),
        "right_arm_raised_sideways": (
            *with_({"right_shoulder": [0.0, 0.0, -half]}),
            "right upper arm rotated 90 deg about the source forward axis: hand_r ends straight above the shoulder",
        ),
        "left_arm_forward_elbow_bent": (
            *with_({"left_shoulder": [0.0, -half, 0.0], "left_elbow": [0.0, -0.8, 0.0]}),
            "left arm swung forward (about -Y), elbow bent 0.8 rad further",
        ),
        "walk_like_mixed": (
            *with_(
                {
                    "pelvis": [0.05, 0.6, 0.02],
                    "spine1": [0.1, 0.05, 0.0],
                    "spine2": [0.05, 0.1, 0.03],
                    "spine3": [0.02, -0.2, 0.0],
                    "neck": [0.1, 0.0, 0.0],
                    "left_hip": [-0.5, 0.0, 0.05],
                    "right_hip": [0.4, 0.0, -0.05],
                    "left_knee": [0.7, 0.0, 0.0],
                    "right_collar": [0.0, 0.1, -0.1],
                    "right_shoulder": [0.3, 0.2, 0.9],
                    "right_elbow": [0.0, 0.9, 0.0],
                    "left_wrist": [0.2, 0.1, 0.3],
                    "right_ankle": [0.3, 0.0, 0.0],
                },
                root=rest_root + np.array([0.3, -0.04, 0.8]),
            ),
            "a turned, leaning, stepping pose with root travel (root moved 0.3 m left, 0.8 m forward, 4 cm down)",
        ),
    }
    return cases


def build() -> dict:
    rig = manny()
    cases_out = []
    for name, (rot, root, description) in _case_poses().items():
        # float64 in, so the table is exact to its printed digits (Motion keeps the arrays it is given).
        motion = Motion(root=root[None], rotations=rot[None])
        out = retarget(motion, rig)
        world_pos, _ = out.world("rig")
        align = rig.rest_alignment()
        b = rig.frame.basis
        cases_out.append(
            {
                "name": name,
                "description": description,
                "source_local_rotations": [_q(q) for q in rot],
                "source_root": [round(float(v), 9) for v in root],
                "rest_alignment": {bone: _q(R.matrix_to_quat(b @ R.quat_to_matrix(align[i]) @ b.T))
                                   for i, bone in enumerate(rig.bones)},
                "expected_local_rotations": {bone: _q(out.rotations[0, i]) for i, bone in enumerate(rig.bones)},
                "expected_hips_translation": [round(float(v), 6) for v in out.translations[0, rig.index(rig.hips)]],
                "expected_world_positions": {bone: [round(float(v), 6) for v in world_pos[0, i]]
                                             for i, bone in enumerate(rig.bones)},
            }
        )
    return {
        "format": FORMAT,
        "generator": "scripts/make_retarget_cases.py (engine.retarget.rig.retarget, engine.retarget.rigs.manny)",
        "source": {
            "name": SMPLH_BODY.name,
            "joints": list(SMPLH_BODY.joints),
            "parents": list(SMPLH_BODY.parents),
            "offsets": [[round(float(v), 9) for v in row] for row in SMPLH_BODY.offsets],
            "chain_child": {"spine3": "neck"},
        },
        "target": {
            "name": "UE5 Manny (A-pose reference pose), Unreal frame",
            "bones": list(rig.bones),
            "parents": list(rig.parents),
            "rest_local_rotations": [_q(q) for q in rig.rest_rotations],
            "rest_local_translations": [[round(float(v), 9) for v in t] for t in rig.rest_translations],
            "bone_map": {k: (v if isinstance(v, str) else [v[0], v[1], v[2]]) for k, v in rig.bone_map.items()},
            "hips": rig.hips,
            "basis": [[float(v) for v in row] for row in rig.frame.basis],
            "scale": rig.frame.scale,
            "a_pose_degrees": 45.0,
        },
        "cases": cases_out,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed table differs")
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = json.dumps(build(), indent=1) + "\n"
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python scripts/make_retarget_cases.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
