"""Export formats, named once: what `motionbridge export`, `generate -o` and the daemon's downloads offer, and
the media type each format is served as. Plain data (no numpy, no torch), so the command line and the daemon's
HTTP side can name them without loading the exporters. The rigs an export can target are
`engine.core.targets.EXPORT_TARGETS`."""

from __future__ import annotations

EXPORT_FORMATS: tuple[str, ...] = ("npz", "bvh", "glb")
"""Formats written in-process as bytes (downloads, `motionbridge generate -o`)."""
FILE_FORMATS: tuple[str, ...] = (*EXPORT_FORMATS, "fbx")
"""Formats `motionbridge export` writes to a file; FBX goes through Blender."""
MEDIA_TYPES: dict[str, str] = {
    "npz": "application/octet-stream",
    "bvh": "text/plain; charset=utf-8",
    "glb": "model/gltf-binary",
    "fbx": "application/octet-stream",
}


class ExportError(ValueError):
    """An export request cannot be served (unknown format or target, missing Blender for FBX, ...)."""
