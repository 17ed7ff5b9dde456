"""ASCII FBX 6.1 animation reader: skeleton, rest pose and per-frame local transforms → `MocapClip`.

The CMU library as FBX (B. Hahne's BVH conversion exported by Blender 2.69, `shared/data/cmu-fbx/`) is
ASCII FBX 6.1 at 24 fps on the 44-bone skeleton of the `daz` rig. That file version is a plain text tree:

    Name: value, value, ... {        a node: a name, comma-separated values, optional children in braces
        Child: ...
    }

We read just what an animated skeleton needs, and refuse (with `FbxError`) what we cannot read right:
- `Objects` › `Model` nodes: each bone's rest `Lcl Translation` / `Lcl Rotation` (degrees) and
  `RotationOrder`; a non-zero Pre/Post rotation, pivot or offset would change the transform chain, so it is
  rejected rather than silently ignored;
- `Connections` › `Connect: "OO", child, parent`: the hierarchy;
- `Takes` › `Take` › `Model` › `Channel: "Transform"` › `T` / `R` › `X` / `Y` / `Z`: key lists of
  `time, value, interpolation` triples (time in FBX ticks, 46,186,158,000 a second). Only linear (`L`) and
  constant keys occur in this library; anything else is rejected.

Scale channels are ignored: Blender writes them as 1 (±1e-6) for these takes, and a retarget by world
rotations and a leg-length-scaled root does not use bone lengths beyond the rest pose.

Blender's bones carry their own rest orientation (bone roll), so the local rotations here are not the
BVH's; world-space deltas against the rest pose are the same, and that is what `engine.train.mocap.retarget`
uses (the rest pose of this library is the BVH's T-pose).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core import rotations as R
from engine.train.mocap.clip import MocapClip, MocapError
from engine.train.mocap.retarget import SourceMotion, face_plus_z, retarget
from engine.train.mocap.rigs import BVH_RIGS

TICKS_PER_SECOND = 46_186_158_000
"""FBX time unit (FBX SDK `FbxTime`): ticks per second."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""The largest take of the CMU library is about 6 MB; anything far beyond is not a take we expect."""


class FbxError(MocapError):
    """A file that is not an ASCII FBX animation this reader can interpret correctly."""


@dataclass
class Node:
    """One node of the text tree: `name: values { children }`."""

    name: str
    values: list
    children: list[Node]

    def find(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)

    def all(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]


_TOKEN = re.compile(
    r'\s*(?:'
    r'(?P<comment>;[^\n]*)'
    r'|(?P<key>[A-Za-z_][A-Za-z0-9_ |]*?)\s*:(?!:)'
    r'|"(?P<string>[^"]*)"'
    r'|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)'
    r'|(?P<open>\{)|(?P<close>\})|(?P<comma>,)'
    r'|(?P<word>[A-Za-z_*][A-Za-z0-9_]*)'
    r')'
)
_KEY_END = re.compile(r"[}]|\n\s*[A-Za-z_][A-Za-z0-9_ |]*:")


def parse_fbx_text(text: str, name: str = "<fbx>") -> Node:
    """The text tree of an ASCII FBX file (root node named "")."""
    if not text.lstrip().startswith(";") and "FBXHeaderExtension" not in text[:4096]:
        if text[:20].startswith("Kaydara FBX Binary"):
            raise FbxError(f"{name}: binary FBX is not supported, only ASCII FBX 6.1")
        raise FbxError(f"{name}: not an ASCII FBX file")
    root = Node("", [], [])
    stack = [root]
    current: Node | None = None
    pos, end = 0, len(text)
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            rest = text[pos:].lstrip()
            if not rest:
                break
            line = text.count("\n", 0, pos) + 1
            raise FbxError(f"{name}: unreadable text at line {line}: {rest[:40]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "comment" or kind == "comma":
            continue
        if kind == "key":
            current = Node(m.group("key").strip(), [], [])
            stack[-1].children.append(current)
            if current.name == "Key":
                # Key lists are most of a take's text: split them in one go instead of token by token.
                stop = _KEY_END.search(text, pos)
                stop_at = stop.start() if stop else end
                current.values = [v.strip() for v in text[pos:stop_at].split(",") if v.strip()]
                pos = stop_at
        elif kind == "open":
            if current is None:
                raise FbxError(f"{name}: '{{' without a node name")
            stack.append(current)
            current = None
        elif kind == "close":
            if len(stack) == 1:
                raise FbxError(f"{name}: unbalanced '}}'")
            stack.pop()
            current = None
        elif current is None:
            raise FbxError(f"{name}: a value outside any node: {m.group(0).strip()[:40]!r}")
        elif kind == "string":
            current.values.append(m.group("string"))
        elif kind == "number":
            current.values.append(m.group("number"))
        else:
            current.values.append(m.group("word"))
    if len(stack) != 1:
        raise FbxError(f"{name}: truncated file ({len(stack) - 1} unclosed '{{')")
    return root


@dataclass(frozen=True)
class FbxSkeleton:
    """Bones in parent-before-child order with their rest local transforms (degrees) and animation."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_translation: np.ndarray   # (J, 3)
    rest_rotation: np.ndarray      # (J, 3) Euler XYZ degrees
    translation: np.ndarray        # (F, J, 3) per frame
    rotation: np.ndarray           # (F, J, 3) Euler XYZ degrees per frame
    fps: float
    root_name: str                 # the armature object above the bones

    @property
    def frames(self) -> int:
        return self.translation.shape[0]


def _model_name(value: str) -> str:
    return value.split("::", 1)[1] if "::" in value else value


def _vec(values: list, name: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in values[-3:]])
    except (ValueError, IndexError):
        raise FbxError(f"bad vector for {name}: {values}") from None


_IDENTITY_PROPS = {"PreRotation": 0.0, "PostRotation": 0.0, "RotationOffset": 0.0, "RotationPivot": 0.0,
                   "ScalingOffset": 0.0, "ScalingPivot": 0.0, "GeometricTranslation": 0.0,
                   "GeometricRotation": 0.0}


def _rest_transforms(model: Node, name: str) -> tuple[np.ndarray, np.ndarray]:
    props = model.find("Properties60") or model.find("Properties70")
    t, r = np.zeros(3), np.zeros(3)
    if props is None:
        return t, r
    for p in props.children:
        if p.name not in ("Property", "P") or not p.values:
            continue
        key = p.values[0]
        if key == "Lcl Translation":
            t = _vec(p.values, f"{name}.{key}")
        elif key == "Lcl Rotation":
            r = _vec(p.values, f"{name}.{key}")
        elif key == "RotationOrder" and len(p.values) > 3 and float(p.values[3]) != 0:
            raise FbxError(f"{name}: rotation order {p.values[3]} (only XYZ, 0, is supported)")
        elif key in _IDENTITY_PROPS and len(p.values) >= 6 and np.any(np.abs(_vec(p.values, key)) > 1e-6):
            raise FbxError(f"{name}: non-zero {key} is not supported")
    return t, r


def _channel_curve(channel: Node | None, times: np.ndarray, default: float, where: str) -> np.ndarray:
    """Sample one scalar channel at `times` (seconds): its keys interpolated linearly, else its default."""
    if channel is None:
        return np.full(len(times), default)
    dflt = channel.find("Default")
    base = float(dflt.values[0]) if dflt is not None and dflt.values else default
    key = channel.find("Key")
    if key is None or not key.values:
        return np.full(len(times), base)
    vals = key.values
    if len(vals) % 3:
        raise FbxError(f"{where}: key list of {len(vals)} values is not (time, value, L) triples")
    kinds = set(vals[2::3])
    if not kinds <= {"L", "C"}:
        raise FbxError(f"{where}: interpolation {sorted(kinds - {'L', 'C'})} is not supported (linear only)")
    try:
        t = np.array(vals[0::3], dtype=np.float64) / TICKS_PER_SECOND
        v = np.array(vals[1::3], dtype=np.float64)
    except ValueError:
        raise FbxError(f"{where}: non-numeric key") from None
    if np.any(np.diff(t) <= 0):
        raise FbxError(f"{where}: key times do not increase")
    if not np.all(np.isfinite(v)):
        raise FbxError(f"{where}: non-finite key value")
    return np.interp(times, t, v)


def _take_times(take: Node, name: str, fps: float) -> np.ndarray:
    span = take.find("LocalTime") or take.find("ReferenceTime")
    if span is None or len(span.values) < 2:
        raise FbxError(f"{name}: the take has no LocalTime")
    start, stop = (int(v) / TICKS_PER_SECOND for v in span.values[:2])
    count = int(round((stop - start) * fps)) + 1
    if count < 2:
        raise FbxError(f"{name}: the take is shorter than two frames")
    return start + np.arange(count) / fps


def read_fbx_skeleton(path: str | os.PathLike, fps: float = 24.0, text: str | None = None) -> FbxSkeleton:
    """The animated skeleton of an ASCII FBX file, sampled at `fps` over its first take."""
    name = str(path)
    if text is None:
        p = Path(path)
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FbxError(f"{name}: {size} bytes is larger than any take we read ({MAX_FILE_BYTES})")
        raw = p.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if raw.startswith(b"Kaydara FBX Binary"):
                raise FbxError(f"{name}: binary FBX is not supported, only ASCII FBX 6.1") from None
            raise FbxError(f"{name}: not UTF-8 text") from None
    tree = parse_fbx_text(text, name)
    objects, connections, takes = tree.find("Objects"), tree.find("Connections"), tree.find("Takes")
    if objects is None or connections is None:
        raise FbxError(f"{name}: no Objects or Connections section")
    if takes is None or not takes.all("Take"):
        raise FbxError(f"{name}: no animation take")
    limbs = {}
    for model in objects.all("Model"):
        if len(model.values) >= 2 and model.values[1] == "Limb":
            limbs[_model_name(model.values[0])] = model
    parent_of = {}
    for c in connections.all("Connect"):
        if len(c.values) >= 3 and c.values[0] == "OO":
            parent_of[_model_name(c.values[1])] = _model_name(c.values[2])
    roots = [n for n in limbs if parent_of.get(n) not in limbs]
    if len(roots) != 1:
        raise FbxError(f"{name}: expected one skeleton root, found {roots}")
    children: dict[str, list[str]] = {}
    for n in limbs:
        if n != roots[0]:
            children.setdefault(parent_of[n], []).append(n)
    order, stack = [], [roots[0]]
    while stack:
        n = stack.pop()
        order.append(n)
        stack.extend(reversed(children.get(n, [])))
    index = {n: i for i, n in enumerate(order)}
    parents = tuple(-1 if n == roots[0] else index[parent_of[n]] for n in order)
    rest = [_rest_transforms(limbs[n], f"{name}:{n}") for n in order]
    rest_t = np.array([t for t, _ in rest])
    rest_r = np.array([r for _, r in rest])

    take = takes.all("Take")[0]
    times = _take_times(take, name, fps)
    animated = {_model_name(m.values[0]): m for m in take.all("Model") if m.values}
    trans = np.repeat(rest_t[None], len(times), axis=0)
    rot = np.repeat(rest_r[None], len(times), axis=0)
    for n, j in index.items():
        model = animated.get(n)
        transform = model.find("Channel") if model is not None else None
        if transform is None:
            continue
        groups = {c.values[0]: c for c in transform.all("Channel") if c.values}
        for kind, target, rest_values in (("T", trans, rest_t[j]), ("R", rot, rest_r[j])):
            group = groups.get(kind)
            if group is None:
                continue
            axes = {c.values[0]: c for c in group.all("Channel") if c.values}
            for a, axis in enumerate("XYZ"):
                target[:, j, a] = _channel_curve(axes.get(axis), times, rest_values[a],
                                                 f"{name}:{n}.{kind}{axis}")
    return FbxSkeleton(tuple(order), parents, rest_t, rest_r, trans, rot, fps, roots[0])


def euler_xyz_to_quat(degrees: np.ndarray) -> np.ndarray:
    """FBX eEulerXYZ (rotate about X, then Y, then Z: R = Rz·Ry·Rx) in degrees → (…, 4) quaternions."""
    rad = np.radians(degrees)
    out = None
    for axis in range(3):
        half = rad[..., axis] / 2
        q = np.zeros(degrees.shape[:-1] + (4,))
        q[..., axis] = np.sin(half)
        q[..., 3] = np.cos(half)
        out = q if out is None else R.quat_mul(q, out)
    return out


def world_transforms(parents: tuple[int, ...], translation: np.ndarray, rotation: np.ndarray,
                     top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions (F, J, 3) and rotations (F, J, 4) from local T and Euler-XYZ R, under `top`."""
    local = euler_xyz_to_quat(rotation)
    frames, joints = local.shape[:2]
    pos = np.zeros((frames, joints, 3))
    rot = np.zeros((frames, joints, 4))
    for j, p in enumerate(parents):
        if p < 0:
            parent_rot = np.broadcast_to(top, (frames, 4)).copy()
            pos[:, j] = R.quat_apply(parent_rot, translation[:, j])
        else:
            parent_rot = rot[:, p]
            pos[:, j] = pos[:, p] + R.quat_apply(parent_rot, translation[:, j])
        rot[:, j] = R.quat_mul(parent_rot, local[:, j])
    return pos, rot


def fbx_source(skeleton: FbxSkeleton, name: str, rig: str = "daz") -> SourceMotion:
    """World transforms of an FBX skeleton plus its rest (T-) pose, in MotionBridge's axes (Y up).

    The armature object's own transform (Blender's Z-up → Y-up turn) is the skeleton root's rest local
    rotation; every bone hangs below it, so world rotations come out Y-up directly.
    """
    rigmap = BVH_RIGS[rig]
    missing = [j for j in rigmap.joints.values() if j not in skeleton.names]
    if missing:
        raise FbxError(f"{name}: rig {rig} expects joints {missing} that the file does not have")
    top = np.array([0.0, 0.0, 0.0, 1.0])
    pos, rot = world_transforms(skeleton.parents, skeleton.translation, skeleton.rotation, top)
    rest_pos, rest_rot = world_transforms(skeleton.parents, skeleton.rest_translation[None],
                                          skeleton.rest_rotation[None], top)
    left = skeleton.names.index(rigmap.joints["left_hip"])
    right = skeleton.names.index(rigmap.joints["right_hip"])
    ref_rot, ref_pos = face_plus_z(rest_rot[0], rest_pos[0], left, right)
    root = skeleton.names.index(rigmap.joints["pelvis"])
    return SourceMotion(name, skeleton.names, rot, pos[:, root], ref_rot, ref_pos, skeleton.fps,
                        meta={"rig": rig, "format": "fbx"})


def import_fbx(path: str | os.PathLike, rig: str = "daz", fps: float = 24.0, trim_start: int = 0,
               name: str | None = None, text: str | None = None) -> MocapClip:
    """An ASCII FBX take on the SMPL-H body at `fps` (root in metres, rotations vs the rest T-pose)."""
    path = Path(path)
    skeleton = read_fbx_skeleton(path, fps, text=text)
    clip = retarget(fbx_source(skeleton, name or path.stem, rig), BVH_RIGS[rig])
    if trim_start:
        if trim_start >= clip.frames - 1:
            raise FbxError(f"{path}: cannot drop {trim_start} of {clip.frames} frames")
        clip = clip.with_(root=clip.root[trim_start:], rotations=clip.rotations[trim_start:])
    return clip.with_(meta=dict(clip.meta, source=str(path)))
