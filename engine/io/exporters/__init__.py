"""Exports of a `Motion`: npz (upstream-compatible), BVH, glTF binary (.glb) and FBX (through Blender).

`export_bytes(motion, fmt, target)` is what the daemon serves downloads through; `export_file` picks the
format from the file extension and also handles FBX, which needs Blender's `bpy` (see `engine.io.exporters.fbx`).
Targets: "smplh" (our T-pose skeleton), "unity", "unreal" (Manny), "mixamo" — the rigs of `engine.retarget.rigs`.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.core.motion import Motion
from engine.core.skeleton import BODY_JOINTS
from engine.io.exporters.bvh import bvh_bytes
from engine.io.exporters.gltf import motion_to_glb
from engine.io.exporters.npz import npz_bytes
from engine.io.formats import EXPORT_FORMATS, ExportError
from engine.retarget.rigs import RIG_BUILDERS


def _check_target(target: str) -> None:
    if target not in RIG_BUILDERS:
        raise ExportError(f"unknown export target {target!r}: use one of {', '.join(RIG_BUILDERS)}")


def export_bytes(motion: Motion, fmt: str, target: str = "smplh") -> bytes:
    """The motion as a file's bytes. npz is always on the source skeleton (the upstream format): target ignored."""
    fmt = fmt.lower().lstrip(".")
    _check_target(target)
    if motion.joints != BODY_JOINTS:
        raise ExportError(f"exports need a motion on the 22-joint SMPL-H body, got {len(motion.joints)} joints")
    if fmt == "npz":
        return npz_bytes(motion)
    if fmt == "bvh":
        return bvh_bytes(motion, target)
    if fmt == "glb":
        return motion_to_glb(motion, target)
    if fmt == "fbx":
        raise ExportError("FBX is written through Blender to a file: use export_file(motion, 'out.fbx')")
    raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)} (or fbx via export_file)")


def export_file(motion: Motion, path: str | os.PathLike, target: str = "smplh") -> Path:
    """Write the motion to `path`, the format chosen by its extension (.npz, .bvh, .glb, .fbx), atomically."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    _check_target(target)
    if fmt == "fbx":
        from engine.io.exporters.fbx import export_fbx

        return export_fbx(motion, path, target)
    data = export_bytes(motion, fmt, target)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
