"""FBX export through Blender's `bpy`, which lives in its own virtual environment (it pins numpy<2).

We write a .glb ourselves, then a headless Blender (the bpy venv's Python, in a subprocess) imports it and
exports FBX with baked animation. Without the venv, `BlenderMissing` says how to get it:
`bash scripts/setup_blender.sh` (location: $MOTIONBRIDGE_BPY_VENV, default ~/.cache/motionbridge/bpy-venv).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from engine.core.motion import Motion
from engine.io.exporters.gltf import motion_to_glb
from engine.io.formats import ExportError

BPY_VERSION = "5.0.1"
FBX_TIMEOUT_S = 300


class BlenderMissing(ExportError):
    """FBX needs the bpy virtual environment and it is not installed."""


def bpy_venv() -> Path:
    """Where the bpy venv lives (or would live)."""
    default = Path.home() / ".cache" / "motionbridge" / "bpy-venv"
    return Path(os.environ.get("MOTIONBRIDGE_BPY_VENV", default))


def bpy_python() -> Path | None:
    """The venv's Python if the venv is set up (setup_blender.sh leaves a stamp file), else None."""
    venv = bpy_venv()
    python = venv / "bin" / "python"
    if python.exists() and (venv / f".motionbridge-bpy-{BPY_VERSION}").exists():
        return python
    return None


# Runs inside Blender's Python; argv: fps, input .glb, output .fbx.
_BLENDER_SCRIPT = """
import sys
import bpy
fps, src, dst = float(sys.argv[-3]), sys.argv[-2], sys.argv[-1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
# The glTF importer turns key times into frames at the scene rate: set it first so frames stay frames.
scene.render.fps = int(round(fps))
scene.render.fps_base = scene.render.fps / fps
bpy.ops.import_scene.gltf(filepath=src)
# The importer adds an unskinned bone-display shape; keep only the armature and the skinned body.
for obj in list(scene.objects):
    if obj.type == "MESH" and not any(m.type == "ARMATURE" for m in obj.modifiers):
        bpy.data.objects.remove(obj, do_unlink=True)
ranges = [a.frame_range for a in bpy.data.actions]
if ranges:
    scene.frame_start = int(min(r[0] for r in ranges))
    scene.frame_end = int(max(r[1] for r in ranges))
# NLA-strip baking exports nothing for the importer's setup; bake the active action over the scene range.
bpy.ops.export_scene.fbx(filepath=dst, use_selection=False, add_leaf_bones=False, bake_anim=True,
                         bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                         bake_anim_simplify_factor=0.0, bake_anim_force_startend_keying=True,
                         object_types={"ARMATURE", "MESH"})
print("fbx written", dst)
"""


def export_fbx(motion: Motion, path: str | os.PathLike, target: str = "smplh") -> Path:
    """Write an FBX of the motion on `target`'s rig via headless Blender; raises `BlenderMissing` without it."""
    python = bpy_python()
    if python is None:
        raise BlenderMissing(
            f"FBX export needs Blender's bpy {BPY_VERSION}, which is not installed at {bpy_venv()}. "
            "Run `bash scripts/setup_blender.sh` (about 1 GB, Python 3.11; set MOTIONBRIDGE_BPY_VENV to choose "
            "the folder), or export .glb or .bvh instead, which need nothing extra."
        )
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="motionbridge-fbx-") as tmp:
        glb = Path(tmp) / "motion.glb"
        glb.write_bytes(motion_to_glb(motion, target))
        out = Path(tmp) / "motion.fbx"
        proc = subprocess.run(
            [str(python), "-c", _BLENDER_SCRIPT, str(float(motion.fps)), str(glb), str(out)],
            capture_output=True, text=True, timeout=FBX_TIMEOUT_S, check=False,
        )
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise ExportError(f"Blender failed to write the FBX (exit {proc.returncode}):\n{tail}")
        os.replace(out, path)
    return path
