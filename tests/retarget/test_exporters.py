"""Exporters: BVH with our T-pose skeleton, glTF binary structure, npz, the daemon's export_bytes and the CLI."""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np
import pytest

from engine.commands.export import configure_parser, run
from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS, SMPLH_BODY
from engine.core.targets import EXPORT_TARGETS
from engine.io.bvh import parse_bvh
from engine.io.exporters import ExportError, export_bytes, export_file
from engine.io.exporters.fbx import BlenderMissing
from engine.io.exporters.gltf import GltfError, parse_glb
from engine.io.formats import EXPORT_FORMATS
from engine.retarget.rig import retarget
from engine.retarget.rigs import RIG_BUILDERS, get_rig


def clip(frames: int = 12, seed: int = 5) -> Motion:
    rng = np.random.default_rng(seed)
    aa = rng.normal(scale=0.4, size=(frames, len(BODY_JOINTS), 3))
    root = SMPLH_BODY.offsets[0] + np.cumsum(rng.normal(scale=0.02, size=(frames, 3)), axis=0)
    return Motion(root=root.astype(np.float32), rotations=R.axis_angle_to_quat(aa).astype(np.float32),
                  text="a test clip")


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a * b).sum(-1))


def test_bvh_export_has_our_t_pose_skeleton_in_centimetres_and_the_motion_rotations() -> None:
    m = clip()
    bvh = parse_bvh(export_bytes(m, "bvh").decode())
    assert bvh.frames == m.frames and bvh.fps == pytest.approx(30.0, rel=1e-6)
    assert set(bvh.names) == set(BODY_JOINTS) and bvh.names[0] == "pelvis"
    rot = bvh.local_rotations()
    for j, name in enumerate(BODY_JOINTS):
        k = bvh.index(name)
        if j:
            np.testing.assert_allclose(bvh.joints[k].offset, SMPLH_BODY.offsets[j] * 100, atol=1e-6)
        np.testing.assert_allclose(_same(rot[:, k], m.rotations[:, j].astype(np.float64)), 1.0, atol=1e-6)
    np.testing.assert_allclose(bvh.local_translations()[:, 0] / 100, m.root, atol=1e-6)
    # Upright and facing +Z in the rest pose: head above the pelvis, left hip on +X, toes ahead of the ankles.
    rest = parse_bvh(export_bytes(m.with_(rotations=np.tile([0, 0, 0, 1.0], (m.frames, 22, 1))), "bvh").decode())
    p = rest.world_positions()[0]
    assert p[rest.index("head"), 1] > p[rest.index("pelvis"), 1] + 50
    assert p[rest.index("left_hip"), 0] > 0 > p[rest.index("right_hip"), 0]
    assert p[rest.index("left_foot"), 2] > p[rest.index("left_ankle"), 2]


@pytest.mark.parametrize("target", ["unreal", "mixamo", "unity"])
def test_bvh_of_a_rig_reproduces_its_retargeted_world_positions(target: str) -> None:
    m = clip()
    bvh = parse_bvh(export_bytes(m, "bvh", target).decode())
    want, _ = retarget(m, get_rig(target)).world("source")
    rig = get_rig(target)
    got = bvh.world_positions() / 100
    for k, name in enumerate(bvh.names):
        np.testing.assert_allclose(got[:, k], want[:, rig.index(name)], atol=1e-6)


def test_glb_container_and_structure_are_valid_and_parse_back() -> None:
    m = clip()
    data = export_bytes(m, "glb", "unreal")
    magic, version, length = struct.unpack_from("<III", data)
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_len, json_type = struct.unpack_from("<II", data, 12)
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert json_type == 0x4E4F534A and bin_type == 0x004E4942
    assert json_len % 4 == 0 and bin_len % 4 == 0 and 28 + json_len + bin_len == len(data)

    glb = parse_glb(data)
    doc = glb.json
    rig = get_rig("unreal")
    bones = [n["name"] for n in doc["nodes"][: len(rig.bones)]]
    assert bones == list(rig.bones)
    for b, p in enumerate(rig.parents):
        if p >= 0:
            assert b in doc["nodes"][p]["children"]
    for acc in doc["accessors"]:  # every accessor fits in its view, every view in the BIN chunk
        view = doc["bufferViews"][acc["bufferView"]]
        size = {5126: 4, 5125: 4, 5123: 2, 5121: 1}[acc["componentType"]]
        comps = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc["type"]]
        assert acc.get("byteOffset", 0) + acc["count"] * size * comps <= view["byteLength"]
        assert view["byteOffset"] + view["byteLength"] <= bin_len
    anim = doc["animations"][0]
    assert len(anim["channels"]) == len(rig.bones) + 1
    times = glb.accessor(anim["samplers"][0]["input"])[:, 0]
    np.testing.assert_allclose(times, np.arange(m.frames) / 30.0, atol=1e-6)
    # Animation rotations are the retargeted local rotations in glTF's frame (= our source frame).
    want_rot, want_trans = retarget(m, rig).source_frame()
    for ch in anim["channels"]:
        node, path = ch["target"]["node"], ch["target"]["path"]
        out = glb.accessor(anim["samplers"][ch["sampler"]]["output"])
        if path == "rotation":
            np.testing.assert_allclose(_same(out, want_rot[:, node]), 1.0, atol=1e-6)
        else:
            assert doc["nodes"][node]["name"] == "pelvis"
            np.testing.assert_allclose(out, want_trans[:, node], atol=1e-6)
    # Skin: inverse bind matrices undo each joint's rest world transform.
    skin = doc["skins"][0]
    ibm = glb.accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
    rest_pos, rest_rot = rig.rest_world()
    for b in range(len(rig.bones)):
        world = np.eye(4)
        world[:3, :3] = R.quat_to_matrix(rest_rot[b])
        world[:3, 3] = rest_pos[b]
        np.testing.assert_allclose(ibm[b] @ world, np.eye(4), atol=1e-5)
    prim = doc["meshes"][0]["primitives"][0]
    joints = glb.accessor(prim["attributes"]["JOINTS_0"])
    assert joints.max() < len(skin["joints"])
    np.testing.assert_allclose(glb.accessor(prim["attributes"]["WEIGHTS_0"]).sum(1), 1.0)
    assert glb.accessor(prim["indices"]).max() < doc["accessors"][prim["attributes"]["POSITION"]]["count"]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: b"gLTF" + d[4:], "magic"),
        (lambda d: d[:-4], "header length"),
        (lambda d: d[:8] + struct.pack("<I", len(d) + 4) + d[12:] + b"\0\0\0\0", "runs past|chunk"),
    ],
)
def test_corrupt_glb_raises_gltf_error(corrupt, message: str) -> None:
    with pytest.raises(GltfError, match=message):
        parse_glb(corrupt(export_bytes(clip(), "glb")))


def test_glb_with_an_accessor_past_its_view_is_rejected() -> None:
    import json

    from engine.io.exporters.gltf import GlbDocument, validate_gltf

    glb = parse_glb(export_bytes(clip(), "glb"))
    doc = json.loads(json.dumps(glb.json))
    doc["accessors"][0]["count"] += 1
    with pytest.raises(GltfError, match="accessor 0 needs"):
        validate_gltf(GlbDocument(doc, glb.binary))


def test_npz_export_round_trips_through_motion_load(tmp_path: Path) -> None:
    m = clip()
    path = tmp_path / "m.npz"
    path.write_bytes(export_bytes(m, "npz", "unity"))  # npz is always the source skeleton
    back = Motion.load_npz(path)
    np.testing.assert_allclose(_same(back.rotations, m.rotations), 1.0, atol=1e-6)
    np.testing.assert_allclose(back.root, m.root)


def test_export_bytes_rejects_unknown_formats_and_targets() -> None:
    assert EXPORT_FORMATS == ("npz", "bvh", "glb")
    assert tuple(RIG_BUILDERS) == EXPORT_TARGETS
    with pytest.raises(ExportError, match="unknown export format 'obj'"):
        export_bytes(clip(), "obj")
    with pytest.raises(ExportError, match="unknown export target 'maya'"):
        export_bytes(clip(), "bvh", "maya")


def test_fbx_without_blender_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIONBRIDGE_BPY_VENV", str(tmp_path / "no-venv"))
    with pytest.raises(BlenderMissing, match="scripts/setup_blender.sh"):
        export_file(clip(), tmp_path / "x.fbx")
    assert not (tmp_path / "x.fbx").exists()


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return run(parser.parse_args(list(argv)))


def test_cli_exports_with_clip_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = clip(frames=31).save_npz(tmp_path / "in.npz")
    out = tmp_path / "out.bvh"
    assert _cli(str(src), "-o", str(out), "--target", "mixamo", "--fps", "60", "--start", "0.1", "--end", "0.6",
                "--in-place", "--loop") == 0
    bvh = parse_bvh(out.read_text())
    assert bvh.fps == pytest.approx(60.0, rel=1e-6)
    assert bvh.frames == 31  # 0.1..0.6 s at 30 fps is 16 frames = 0.5 s → 31 frames at 60 fps
    assert bvh.names[0] == "mixamorig:Hips"
    np.testing.assert_allclose(bvh.channel(0, "Xposition"), 0.0, atol=1e-6)
    np.testing.assert_allclose(bvh.motion[0], bvh.motion[-1], atol=1e-3)
    assert "wrote" in capsys.readouterr().out
    glb = tmp_path / "out.glb"
    assert _cli(str(src), "-o", str(glb), "--target", "unreal") == 0
    parse_glb(glb.read_bytes())


def test_cli_reports_bad_input_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = clip().save_npz(tmp_path / "in.npz")
    assert _cli(str(src), "-o", str(tmp_path / "out.obj")) == 2
    assert "cannot tell the format" in capsys.readouterr().err
    assert _cli(str(tmp_path / "missing.npz"), "-o", str(tmp_path / "o.bvh")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _cli(str(src), "-o", str(tmp_path / "o.bvh"), "--start", "3", "--end", "4") == 1
    assert "no frame lies" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert _cli(str(tmp_path / "junk.npz"), "-o", str(tmp_path / "o.bvh")) == 2
    assert "not a motion .npz" in capsys.readouterr().err
