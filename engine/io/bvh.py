"""Generic BVH (Biovision Hierarchy) reader and writer.

Reads any rig (CMU DAZ, CMU ASF, Reallusion, Mixamo, our own): hierarchy, offsets, per-joint channel lists
in any order, `End Site`s, frame time and the motion table. Writes the same structure back.

Conventions (the usual BVH ones, stated once here):
- angles in the file are degrees; rotation channels compose in the order they are listed, so
  `Zrotation Xrotation Yrotation` means R = Rz · Rx · Ry (see `engine.core.rotations.euler_to_quat`);
- the rest pose has identity rotations at every joint: a joint's local transform is
  translation(offset + its position channels) · rotation(its rotation channels);
- position channels are *added* to the joint's OFFSET. Writers that treat a root's position channels as
  absolute agree with this whenever the root OFFSET is zero, which is what `write_bvh` emits for
  clips built with `BvhClip.from_rotations`.

Units are whatever the file uses; this module never rescales (pass `scale` where metres are wanted).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.core import rotations as R

_ROT_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
_POS_CHANNELS = ("Xposition", "Yposition", "Zposition")
_VALID_CHANNELS = frozenset(_ROT_CHANNELS + _POS_CHANNELS)


class BvhError(ValueError):
    """A BVH file is malformed; the message names the line and what was expected."""


@dataclass(frozen=True)
class BvhJoint:
    """One joint of a BVH hierarchy. `parent` is an index into the clip's joints (−1 for a root)."""

    name: str
    parent: int
    offset: np.ndarray  # (3,) in file units
    channels: tuple[str, ...]
    end_site: np.ndarray | None = None  # (3,) offset of the End Site child, if the file has one

    @property
    def rotation_order(self) -> str:
        """The rotation channels' axes in listed order, e.g. "ZXY"; "" when the joint has none."""
        return "".join(c[0] for c in self.channels if c in _ROT_CHANNELS)

    @property
    def has_position(self) -> bool:
        return any(c in _POS_CHANNELS for c in self.channels)


@dataclass(frozen=True)
class BvhClip:
    """A parsed BVH file: joints in file (depth-first) order plus the motion table (frames × channels)."""

    joints: tuple[BvhJoint, ...]
    frame_time: float
    motion: np.ndarray  # (F, C) float64, raw channel values in file order (degrees, file units)
    channel_start: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        starts, total = [], 0
        for j in self.joints:
            starts.append(total)
            total += len(j.channels)
        object.__setattr__(self, "channel_start", tuple(starts))
        if self.motion.ndim != 2 or self.motion.shape[1] != total:
            raise BvhError(f"motion must be (frames, {total}) for this hierarchy, got {self.motion.shape}")
        if not self.frame_time > 0:
            raise BvhError(f"frame time must be positive, got {self.frame_time}")

    # ------------------------------------------------------------ structure

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(j.parent for j in self.joints)

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) joint offsets in file units."""
        return np.stack([j.offset for j in self.joints]).astype(np.float64)

    @property
    def frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"BVH has no joint {name!r}") from None

    def channel(self, joint: str | int, channel: str) -> np.ndarray:
        """(F,) raw values of one channel of one joint."""
        j = joint if isinstance(joint, int) else self.index(joint)
        chans = self.joints[j].channels
        if channel not in chans:
            raise KeyError(f"joint {self.joints[j].name!r} has no {channel} channel (it has {' '.join(chans)})")
        return self.motion[:, self.channel_start[j] + chans.index(channel)]

    # ------------------------------------------------------------ pose

    def local_rotations(self) -> np.ndarray:
        """(F, J, 4) local quaternions (x, y, z, w); identity for joints without rotation channels."""
        out = np.zeros((self.frames, len(self.joints), 4))
        out[..., 3] = 1.0
        for j, joint in enumerate(self.joints):
            order = joint.rotation_order
            if not order:
                continue
            if len(order) != 3 or len(set(order)) != 3:
                raise BvhError(f"joint {joint.name!r} has rotation channels {order!r}; need three distinct axes")
            deg = np.stack([self.channel(j, f"{axis}rotation") for axis in order], axis=-1)
            out[:, j] = R.euler_to_quat(np.radians(deg), order)
        return out

    def local_translations(self) -> np.ndarray:
        """(F, J, 3) local translations in file units: OFFSET plus any position channels."""
        out = np.broadcast_to(self.offsets, (self.frames, len(self.joints), 3)).copy()
        for j, joint in enumerate(self.joints):
            for axis, name in enumerate(_POS_CHANNELS):
                if name in joint.channels:
                    out[:, j, axis] += self.channel(j, name)
        return out

    def world_transforms(self, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """World joint positions (F, J, 3) (file units × scale) and world rotations (F, J, 4)."""
        rot = self.local_rotations()
        trans = self.local_translations() * scale
        world_rot = np.empty_like(rot)
        world_pos = np.empty_like(trans)
        for j, p in enumerate(self.parents):
            if p < 0:
                world_rot[:, j] = rot[:, j]
                world_pos[:, j] = trans[:, j]
            else:
                world_rot[:, j] = R.quat_mul(world_rot[:, p], rot[:, j])
                world_pos[:, j] = world_pos[:, p] + R.quat_apply(world_rot[:, p], trans[:, j])
        return world_pos, world_rot

    def world_positions(self, scale: float = 1.0) -> np.ndarray:
        return self.world_transforms(scale)[0]

    # ------------------------------------------------------------ building

    @classmethod
    def from_rotations(
        cls,
        names: Sequence[str],
        parents: Sequence[int],
        offsets: np.ndarray,
        rotations: np.ndarray,
        root_positions: np.ndarray,
        frame_time: float,
        order: str = "ZXY",
        end_sites: dict[str, np.ndarray] | None = None,
    ) -> BvhClip:
        """A clip from local quaternions (F, J, 4) and root positions (F, 3), all joints with Euler `order`.

        Joints are stored in depth-first order (what BVH requires); look them up by name.

        The root gets `Xposition Yposition Zposition` + rotation channels and a zero OFFSET (its rest position
        travels in the position channels, so readers that treat root positions as absolute agree); other
        joints get rotation channels only. Joints without children get an `End Site` from `end_sites`
        or, failing that, a short stub along their incoming bone so viewers draw a visible bone.
        """
        offsets = np.asarray(offsets, dtype=np.float64)
        rotations = np.asarray(rotations, dtype=np.float64)
        root_positions = np.asarray(root_positions, dtype=np.float64)
        n = len(names)
        if len(parents) != n or offsets.shape != (n, 3):
            raise BvhError(f"names, parents and offsets disagree: {n}, {len(parents)}, {offsets.shape}")
        if rotations.ndim != 3 or rotations.shape[1:] != (n, 4):
            raise BvhError(f"rotations must be (frames, {n}, 4), got {rotations.shape}")
        if root_positions.shape != (rotations.shape[0], 3):
            raise BvhError(f"root positions must be ({rotations.shape[0]}, 3), got {root_positions.shape}")
        order = order.upper()
        if sorted(order) != ["X", "Y", "Z"]:
            raise BvhError(f"Euler order must be a permutation of XYZ, got {order!r}")
        for j, p in enumerate(parents):
            if p >= j or (p < 0 and j != 0):
                raise BvhError(f"parents must list joint 0 as the only root and every parent before its child "
                               f"(joint {j} has parent {p})")
        has_child = {p for p in parents if p >= 0}
        end_sites = end_sites or {}
        rot_channels = tuple(f"{a}rotation" for a in order)
        # BVH lists joints depth-first; skeletons such as SMPL-H are breadth-first, so reorder by name.
        dfs = depth_first_order(parents)
        new_index = {old: new for new, old in enumerate(dfs)}
        joints = []
        for j in dfs:
            name, p = names[j], parents[j]
            end = None
            if j not in has_child:
                end = end_sites.get(name)
                if end is None:
                    incoming = offsets[j] if p >= 0 else np.array([0.0, 1.0, 0.0])
                    length = float(np.linalg.norm(incoming)) or 1.0
                    end = incoming / length * min(0.5 * length, 0.1 * float(np.abs(offsets).max() or 1.0))
            channels = _POS_CHANNELS + rot_channels if p < 0 else rot_channels
            joints.append(BvhJoint(name, new_index[p] if p >= 0 else -1,
                                   np.zeros(3) if p < 0 else offsets[j].copy(), channels,
                                   None if end is None else np.asarray(end, dtype=np.float64)))
        euler = np.degrees(R.quat_to_euler(R.quat_normalize(rotations[:, dfs]), order))  # (F, J, 3)
        motion = np.concatenate([root_positions, euler.reshape(rotations.shape[0], -1)], axis=1)
        return cls(tuple(joints), float(frame_time), motion)


def depth_first_order(parents: Sequence[int]) -> list[int]:
    """Joint indices in depth-first (BVH) order, children in their original relative order."""
    children: dict[int, list[int]] = {j: [] for j in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    order: list[int] = []
    stack = [j for j, p in enumerate(parents) if p < 0][::-1]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    return order


# ---------------------------------------------------------------- reading


class _Tokens:
    """Whitespace tokens of the HIERARCHY part with their line numbers, for precise error messages."""

    def __init__(self, lines: list[str]) -> None:
        self.items: list[tuple[str, int]] = []
        for n, line in enumerate(lines, start=1):
            self.items.extend((tok, n) for tok in line.split())
        self.pos = 0

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise BvhError(f"unexpected end of hierarchy: expected {what}")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str) -> int:
        tok, line = self.next(word)
        if tok.upper() != word.upper():
            raise BvhError(f"line {line}: expected {word!r}, got {tok!r}")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            return float(tok)
        except ValueError:
            raise BvhError(f"line {line}: expected a number for {what}, got {tok!r}") from None


def _parse_joint(tokens: _Tokens, name: str, parent: int, joints: list[BvhJoint]) -> None:
    tokens.expect("{")
    tokens.expect("OFFSET")
    offset = np.array([tokens.number(f"{name} OFFSET") for _ in range(3)])
    tok, line = tokens.next("CHANNELS")
    channels: tuple[str, ...] = ()
    if tok.upper() == "CHANNELS":
        count_tok, count_line = tokens.next("channel count")
        if not count_tok.isdigit():
            raise BvhError(f"line {count_line}: expected a channel count, got {count_tok!r}")
        chans = []
        for _ in range(int(count_tok)):
            ch, ch_line = tokens.next("channel name")
            canonical = ch[0].upper() + ch[1:].lower() if ch else ch
            if canonical not in _VALID_CHANNELS:
                raise BvhError(f"line {ch_line}: unknown channel {ch!r} for joint {name!r}")
            chans.append(canonical)
        channels = tuple(chans)
        if len(set(channels)) != len(channels):
            raise BvhError(f"line {count_line}: joint {name!r} lists a channel twice: {' '.join(channels)}")
    else:
        tokens.pos -= 1
    index = len(joints)
    joints.append(BvhJoint(name, parent, offset, channels))
    end_site = None
    while True:
        tok, line = tokens.next(f"JOINT, End Site or '}}' closing {name!r}")
        upper = tok.upper()
        if upper == "}":
            break
        if upper == "JOINT":
            child, _ = tokens.next("joint name")
            _parse_joint(tokens, child, index, joints)
        elif upper == "END":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            end_site = np.array([tokens.number(f"{name} End Site OFFSET") for _ in range(3)])
            tokens.expect("}")
        else:
            raise BvhError(f"line {line}: expected JOINT, End Site or '}}' in joint {name!r}, got {tok!r}")
    if end_site is not None:
        joints[index] = BvhJoint(name, parent, offset, channels, end_site)


def parse_bvh(text: str) -> BvhClip:
    """Parse BVH text. Raises `BvhError` naming the line for anything malformed."""
    lines = text.splitlines()
    motion_line = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion_line is None:
        raise BvhError("no MOTION section: not a BVH file, or it was cut short")
    tokens = _Tokens(lines[:motion_line])
    tokens.expect("HIERARCHY")
    joints: list[BvhJoint] = []
    while tokens.pos < len(tokens.items):
        tokens.expect("ROOT")
        name, _ = tokens.next("root name")
        _parse_joint(tokens, name, -1, joints)
    if not joints:
        raise BvhError("HIERARCHY has no ROOT joint")
    names = [j.name for j in joints]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BvhError(f"joint names must be unique; repeated: {', '.join(duplicates)}")

    rest = [(i, ln) for i, ln in enumerate(lines[motion_line + 1 :], start=motion_line + 2) if ln.strip()]
    if len(rest) < 2:
        raise BvhError("MOTION section needs 'Frames:' and 'Frame Time:' lines")
    frames = int(_header_value(rest[0], "Frames:", int))
    frame_time = _header_value(rest[1], "Frame Time:", float)
    n_channels = sum(len(j.channels) for j in joints)
    data = rest[2:]
    if len(data) < frames:
        raise BvhError(f"header says {frames} frames but only {len(data)} motion lines follow")
    # Some exporters write one line more than they announce; the header's count is what readers honour.
    rows = [line.split() for _, line in data[:frames]]
    for (line_no, _), values in zip(data, rows, strict=False):
        if len(values) != n_channels:
            raise BvhError(f"line {line_no}: expected {n_channels} channel values, got {len(values)}")
    try:
        motion = np.array(rows, dtype=np.float64).reshape(frames, n_channels)
    except ValueError:
        for (line_no, _), values in zip(data, rows, strict=False):
            try:
                [float(v) for v in values]
            except ValueError:
                raise BvhError(f"line {line_no}: motion values must be numbers") from None
        raise
    if not np.isfinite(motion).all():
        raise BvhError("motion data contains NaN or infinite values")
    return BvhClip(tuple(joints), frame_time, motion)


def _header_value(entry: tuple[int, str], label: str, kind: type) -> float | int:
    line_no, line = entry
    text = line.strip()
    if not text.lower().startswith(label.lower()):
        raise BvhError(f"line {line_no}: expected '{label} <value>', got {text!r}")
    raw = text[len(label) :].strip()
    try:
        value = kind(raw)
    except ValueError:
        raise BvhError(f"line {line_no}: '{label}' needs a {kind.__name__}, got {raw!r}") from None
    if value < 0 or (kind is float and not math.isfinite(value)):
        raise BvhError(f"line {line_no}: '{label}' must be non-negative and finite, got {raw!r}")
    return value


def read_bvh(path: str | os.PathLike) -> BvhClip:
    """Read a .bvh file (UTF-8 or Latin-1)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        return parse_bvh(text)
    except BvhError as e:
        raise BvhError(f"{path}: {e}") from None


# ---------------------------------------------------------------- writing


def _fmt(v: float) -> str:
    s = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def format_bvh(clip: BvhClip) -> str:
    """The clip as BVH text (tab-indented hierarchy, 6 decimals in the motion table)."""
    children: dict[int, list[int]] = {i: [] for i in range(len(clip.joints))}
    for j, p in enumerate(clip.parents):
        if p >= 0:
            children[p].append(j)
    out = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        joint = clip.joints[j]
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if joint.parent < 0 else 'JOINT'} {joint.name}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET {' '.join(_fmt(v) for v in joint.offset)}")
        if joint.channels:
            out.append(f"{pad}\tCHANNELS {len(joint.channels)} {' '.join(joint.channels)}")
        for c in children[j]:
            emit(c, depth + 1)
        if joint.end_site is not None:
            out.append(f"{pad}\tEnd Site")
            out.append(f"{pad}\t{{")
            out.append(f"{pad}\t\tOFFSET {' '.join(_fmt(v) for v in joint.end_site)}")
            out.append(f"{pad}\t}}")
        out.append(f"{pad}}}")

    # Depth-first emission must reproduce the joint order, or channel columns would be misassigned.
    for j, joint in enumerate(clip.joints):
        if joint.parent < 0:
            emit(j, 0)
    emitted = [ln.split()[1] for ln in out if ln.lstrip().startswith(("ROOT ", "JOINT "))]
    if tuple(emitted) != clip.names:
        raise BvhError("joints must be listed in depth-first order (each subtree contiguous) to be written")
    out.append("MOTION")
    out.append(f"Frames: {clip.frames}")
    out.append(f"Frame Time: {clip.frame_time:.8f}")
    out.extend(" ".join(_fmt(v) for v in row) for row in clip.motion)
    return "\n".join(out) + "\n"


def write_bvh(clip: BvhClip, path: str | os.PathLike) -> Path:
    """Write the clip to `path` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(format_bvh(clip), encoding="utf-8")
    os.replace(tmp, path)
    return path
