"""What the panel's directing controls send (protocol v1.1): timeline rows typed into the panel, and the last
frames of a pose seen in the editor as a `start` motion. Pure Python, no `unreal`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import protocol
from .retarget import Quat, Vec3, WorldDeltaRetargeter

START_FRAMES = 6
"""Frames sent with a start motion: more than one lets the daemon carry the velocity on (it uses up to five)."""

TIMELINE_EXAMPLE = "3 a person walks forward"


def parse_timeline(text: str) -> list[tuple[str, float]]:
    """The panel's timeline box, one row per line: the seconds, then the prompt (`3 a person walks forward`).
    Blank lines are skipped."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        head, _, prompt = line.partition(" ")
        try:
            seconds = float(head.rstrip("s"))
        except ValueError:
            raise protocol.ProtocolError(f"timeline line {number} ({line!r}) must start with its seconds, e.g. "
                                         f"'{TIMELINE_EXAMPLE}'") from None
        if not prompt.strip():
            raise protocol.ProtocolError(f"timeline line {number} has seconds but no prompt, e.g. "
                                         f"'{TIMELINE_EXAMPLE}'")
        rows.append((prompt.strip(), seconds))
    if not rows:
        raise protocol.ProtocolError(f"the timeline is empty: one line per segment, e.g. '{TIMELINE_EXAMPLE}'")
    return rows


def start_from_poses(retargeter: WorldDeltaRetargeter,
                     poses: Sequence[tuple[dict[str, Quat], Vec3]]) -> dict[str, Any]:
    """`generate.start` from poses of the mesh (oldest first): per frame the component-space rotations of its
    bones and the hips bone's component-space position, turned back into wire frames (`unreal` target)."""
    root: list[Vec3] = []
    rotations: list[list[Quat]] = []
    for component_rotations, hips in poses:
        frame_root, frame_rotations = retargeter.source_frame(component_rotations, hips)
        root.append(frame_root)
        rotations.append(frame_rotations)
    return protocol.start_from_motion(root, rotations, len(retargeter.source_joints))
