"""glTF 2.0 binary (.glb) export written by us, and a strict reader used to validate what we write.

What a .glb holds: one node per rig bone (rest translation + rotation, glTF's Y-up right-handed metres, which
is exactly the source convention), a skin over those joints, a simple skinned mesh (a box per bone, rigidly
bound) so the character is visible when opened, and one animation with a LINEAR rotation channel per bone and
a translation channel on the hips. Imports in Blender, Unity (glTFast) and Unreal (glTF importer).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.retarget.rig import RigMotion, retarget
from engine.retarget.rigs import get_rig

GLB_MAGIC = 0x46546C67  # "glTF"
CHUNK_JSON = 0x4E4F534A  # "JSON"
CHUNK_BIN = 0x004E4942  # "BIN\0"

FLOAT, UNSIGNED_BYTE, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5121, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
_COMPONENT_SIZE = {5120: 1, UNSIGNED_BYTE: 1, 5122: 2, UNSIGNED_SHORT: 2, UNSIGNED_INT: 4, FLOAT: 4}
_TYPE_COUNT = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_NUMPY_OF = {FLOAT: np.float32, UNSIGNED_BYTE: np.uint8, UNSIGNED_SHORT: np.uint16, UNSIGNED_INT: np.uint32}


class GltfError(ValueError):
    """A .glb is malformed (what is wrong and where)."""


# ---------------------------------------------------------------- writing


class _BinaryChunk:
    """Accumulates buffer views and accessors into one binary buffer (4-byte aligned views)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, gl_type: str, target: int | None = None, with_bounds: bool = False) -> int:
        array = np.ascontiguousarray(array)
        component = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): UNSIGNED_BYTE,
                     np.dtype(np.uint16): UNSIGNED_SHORT, np.dtype(np.uint32): UNSIGNED_INT}[array.dtype]
        while len(self.data) % 4:
            self.data.append(0)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": array.nbytes}
        if target is not None:
            view["target"] = target
        self.data.extend(array.tobytes())
        self.views.append(view)
        count = array.shape[0]
        accessor = {"bufferView": len(self.views) - 1, "componentType": component, "count": int(count),
                    "type": gl_type}
        if with_bounds:
            flat = array.reshape(count, -1)
            accessor["min"] = [float(v) for v in flat.min(axis=0)]
            accessor["max"] = [float(v) for v in flat.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def _bone_boxes(rest_pos: np.ndarray, parents: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Flat-shaded boxes, one per parent→child segment (and a stub per leaf), each bound to the parent bone."""
    segments: list[tuple[int, np.ndarray, np.ndarray]] = []
    for c, p in enumerate(parents):
        if p >= 0 and np.linalg.norm(rest_pos[c] - rest_pos[p]) > 1e-4:
            segments.append((p, rest_pos[p], rest_pos[c]))
    for b, p in enumerate(parents):
        if b not in parents and p >= 0:
            d = rest_pos[b] - rest_pos[p]
            n = np.linalg.norm(d)
            if n > 1e-6:
                segments.append((b, rest_pos[b], rest_pos[b] + d / n * min(0.1, 0.5 * n)))
    positions: list[np.ndarray] = []
    normals: list[np.ndarray] = []
    joints: list[int] = []
    indices: list[int] = []
    for bone, head, tail in segments:
        axis = tail - head
        length = float(np.linalg.norm(axis))
        a = axis / length
        u = np.cross(a, [0.0, 0.0, 1.0] if abs(a[2]) < 0.9 else [1.0, 0.0, 0.0])
        u /= np.linalg.norm(u)
        v = np.cross(a, u)
        half = min(0.06, max(0.025, 0.2 * length))
        corners = np.array([head + (su * u + sv * v) * half * (0.8 if end else 1.0) + (axis if end else 0.0)
                            for end in (0, 1) for su in (-1, 1) for sv in (-1, 1)])
        centre = corners.mean(axis=0)
        for quad in ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)):
            q = corners[list(quad)]
            normal = np.cross(q[1] - q[0], q[2] - q[0])
            normal /= np.linalg.norm(normal)
            if normal @ (q.mean(axis=0) - centre) < 0:  # wind counter-clockwise seen from outside
                q = q[::-1]
                normal = -normal
            base = len(positions)
            positions.extend(q)
            normals.extend([normal] * 4)
            joints.extend([bone] * 4)
            indices.extend([base, base + 1, base + 2, base, base + 2, base + 3])
    return (np.asarray(positions, np.float32), np.asarray(normals, np.float32),
            np.asarray(joints, np.uint16), np.asarray(indices, np.uint32))


def _matrix(rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = R.quat_to_matrix(rot)
    m[:3, 3] = pos
    return m


def build_gltf(rig_motion: RigMotion, text: str = "") -> tuple[dict, bytes]:
    """The glTF JSON document and its binary buffer for a clip on a rig."""
    rig = rig_motion.rig
    rest_rot, rest_trans = rig.to_source_frame()
    rest_pos, rest_world_rot = rig.rest_world()
    rot, trans = rig_motion.source_frame()
    chunk = _BinaryChunk()
    n = len(rig.bones)

    nodes: list[dict] = []
    for b, bone in enumerate(rig.bones):
        node: dict = {"name": bone, "translation": [float(v) for v in rest_trans[b]],
                      "rotation": [float(v) for v in R.quat_normalize(rest_rot[b])]}
        kids = [c for c, p in enumerate(rig.parents) if p == b]
        if kids:
            node["children"] = kids
        nodes.append(node)

    positions, normals, joints, indices = _bone_boxes(rest_pos, rig.parents)
    joints4 = np.zeros((len(joints), 4), np.uint16)
    joints4[:, 0] = joints
    weights4 = np.zeros((len(joints), 4), np.float32)
    weights4[:, 0] = 1.0
    attributes = {
        "POSITION": chunk.add(positions, "VEC3", ARRAY_BUFFER, with_bounds=True),
        "NORMAL": chunk.add(normals, "VEC3", ARRAY_BUFFER),
        "JOINTS_0": chunk.add(joints4, "VEC4", ARRAY_BUFFER),
        "WEIGHTS_0": chunk.add(weights4, "VEC4", ARRAY_BUFFER),
    }
    index_accessor = chunk.add(indices, "SCALAR", ELEMENT_ARRAY_BUFFER)
    inverse_bind = np.stack([np.linalg.inv(_matrix(rest_world_rot[b], rest_pos[b])) for b in range(n)])
    # glTF matrices are column-major: write each 4×4 transposed.
    ibm = chunk.add(inverse_bind.transpose(0, 2, 1).reshape(n, 16).astype(np.float32), "MAT4")
    mesh_node = len(nodes)
    nodes.append({"name": f"{rig.name}_body", "mesh": 0, "skin": 0})

    times = (np.arange(rig_motion.frames) / rig_motion.fps).astype(np.float32)
    time_accessor = chunk.add(times, "SCALAR", with_bounds=True)
    samplers, channels = [], []
    # Same hemisphere frame to frame, so LINEAR (slerp) playback never takes the long way round.
    continuous = R.quat_make_continuous(R.quat_normalize(rot), 0).astype(np.float32)
    for b in range(n):
        q = np.ascontiguousarray(continuous[:, b])
        samplers.append({"input": time_accessor, "output": chunk.add(q, "VEC4"), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": b, "path": "rotation"}})
    hips = rig.index(rig.hips)
    samplers.append({"input": time_accessor, "output": chunk.add(trans[:, hips].astype(np.float32), "VEC3"),
                     "interpolation": "LINEAR"})
    channels.append({"sampler": len(samplers) - 1, "target": {"node": hips, "path": "translation"}})

    root_bone = rig.parents.index(-1)
    doc = {
        "asset": {"version": "2.0", "generator": "MotionBridge glTF exporter"},
        "scene": 0,
        "scenes": [{"name": rig.name, "nodes": [root_bone, mesh_node]}],
        "nodes": nodes,
        "skins": [{"name": f"{rig.name}_skeleton", "joints": list(range(n)), "skeleton": root_bone,
                   "inverseBindMatrices": ibm}],
        "meshes": [{"name": f"{rig.name}_body", "primitives": [{"attributes": attributes, "indices": index_accessor,
                                                                 "material": 0, "mode": 4}]}],
        "materials": [{"name": "clay", "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.55, 0.4, 1.0],
                                                                  "metallicFactor": 0.0, "roughnessFactor": 0.7}}],
        "animations": [{"name": (text or "motion")[:64], "samplers": samplers, "channels": channels}],
        "accessors": chunk.accessors,
        "bufferViews": chunk.views,
        "buffers": [{"byteLength": len(chunk.data)}],
        "extras": {"motionbridge": {"target": rig.name, "fps": float(rig_motion.fps), "frames": rig_motion.frames,
                                    "text": text}},
    }
    return doc, bytes(chunk.data)


def pack_glb(doc: dict, binary: bytes) -> bytes:
    """GLB container: 12-byte header, JSON chunk padded with spaces, BIN chunk padded with zeros."""
    js = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 4)
    binary = binary + b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    return b"".join([struct.pack("<III", GLB_MAGIC, 2, total), struct.pack("<II", len(js), CHUNK_JSON), js,
                     struct.pack("<II", len(binary), CHUNK_BIN), binary])


def motion_to_glb(motion: Motion, target: str = "smplh") -> bytes:
    return pack_glb(*build_gltf(retarget(motion, get_rig(target)), motion.text))


# ---------------------------------------------------------------- reading and validation


@dataclass(frozen=True)
class GlbDocument:
    json: dict
    binary: bytes

    def accessor(self, index: int) -> np.ndarray:
        """An accessor's data as a numpy array (count, components), bounds-checked."""
        acc = self.json["accessors"][index]
        view = self.json["bufferViews"][acc["bufferView"]]
        comps = _TYPE_COUNT[acc["type"]]
        dtype = np.dtype(_NUMPY_OF[acc["componentType"]])
        stride = view.get("byteStride", comps * dtype.itemsize)
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        raw = self.binary[start : start + stride * acc["count"]]
        rows = np.frombuffer(raw.ljust(stride * acc["count"], b"\0"), np.uint8).reshape(acc["count"], stride)
        return rows[:, : comps * dtype.itemsize].copy().view(dtype).reshape(acc["count"], comps)


def parse_glb(data: bytes) -> GlbDocument:
    """Read a .glb and validate its container and the references inside it; raises `GltfError`."""
    if len(data) < 20:
        raise GltfError(f"{len(data)} bytes is too short for a GLB header")
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC:
        raise GltfError("not a GLB file (magic is not 'glTF')")
    if version != 2:
        raise GltfError(f"GLB version {version}, expected 2")
    if length != len(data):
        raise GltfError(f"header length {length} but the file has {len(data)} bytes")
    chunks, offset = [], 12
    while offset < length:
        if offset + 8 > length:
            raise GltfError(f"truncated chunk header at byte {offset}")
        size, kind = struct.unpack_from("<II", data, offset)
        if size % 4:
            raise GltfError(f"chunk at byte {offset} has length {size}, not a multiple of 4")
        if offset + 8 + size > length:
            raise GltfError(f"chunk at byte {offset} runs past the end of the file")
        chunks.append((kind, data[offset + 8 : offset + 8 + size]))
        offset += 8 + size
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise GltfError("the first chunk must be JSON")
    try:
        doc = json.loads(chunks[0][1].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GltfError(f"JSON chunk is not valid JSON: {e}") from None
    binary = chunks[1][1] if len(chunks) > 1 and chunks[1][0] == CHUNK_BIN else b""
    result = GlbDocument(doc, binary)
    validate_gltf(result)
    return result


def validate_gltf(glb: GlbDocument) -> None:
    """Check what the exporter relies on: asset version, buffer/view/accessor bounds, node tree, skin, animation."""
    doc = glb.json
    if doc.get("asset", {}).get("version") != "2.0":
        raise GltfError("asset.version must be '2.0'")
    buffers = doc.get("buffers", [])
    if buffers and buffers[0]["byteLength"] > len(glb.binary):
        raise GltfError(f"buffer 0 declares {buffers[0]['byteLength']} bytes, BIN chunk has {len(glb.binary)}")
    for i, view in enumerate(doc.get("bufferViews", [])):
        end = view.get("byteOffset", 0) + view["byteLength"]
        if view["buffer"] >= len(buffers) or end > buffers[view["buffer"]]["byteLength"]:
            raise GltfError(f"bufferView {i} ends at {end}, past its buffer")
    views = doc.get("bufferViews", [])
    for i, acc in enumerate(doc.get("accessors", [])):
        if acc["bufferView"] >= len(views):
            raise GltfError(f"accessor {i} names missing bufferView {acc['bufferView']}")
        view = views[acc["bufferView"]]
        elem = _COMPONENT_SIZE[acc["componentType"]] * _TYPE_COUNT[acc["type"]]
        stride = view.get("byteStride", elem)
        need = acc.get("byteOffset", 0) + stride * (acc["count"] - 1) + elem
        if acc["count"] < 1 or need > view["byteLength"]:
            raise GltfError(f"accessor {i} needs {need} bytes, its bufferView has {view['byteLength']}")
        if (view.get("byteOffset", 0) + acc.get("byteOffset", 0)) % _COMPONENT_SIZE[acc["componentType"]]:
            raise GltfError(f"accessor {i} is not aligned to its component size")
    nodes = doc.get("nodes", [])
    parent_of: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for c in node.get("children", []):
            if not 0 <= c < len(nodes):
                raise GltfError(f"node {i} has missing child {c}")
            if c in parent_of:
                raise GltfError(f"node {c} has two parents ({parent_of[c]} and {i})")
            parent_of[c] = i
        if "rotation" in node and abs(np.linalg.norm(node["rotation"]) - 1) > 1e-5:
            raise GltfError(f"node {i} rotation is not a unit quaternion")
    for i in range(len(nodes)):
        seen, j = set(), i
        while j in parent_of:
            if j in seen:
                raise GltfError(f"node hierarchy has a cycle through node {i}")
            seen.add(j)
            j = parent_of[j]
    for s, scene in enumerate(doc.get("scenes", [])):
        for r in scene.get("nodes", []):
            if r in parent_of or not 0 <= r < len(nodes):
                raise GltfError(f"scene {s} root {r} is missing or not a root node")
    accessors = doc.get("accessors", [])
    for k, skin in enumerate(doc.get("skins", [])):
        if any(not 0 <= j < len(nodes) for j in skin["joints"]):
            raise GltfError(f"skin {k} names a missing joint node")
        if "inverseBindMatrices" in skin and accessors[skin["inverseBindMatrices"]]["count"] != len(skin["joints"]):
            raise GltfError(f"skin {k} has {len(skin['joints'])} joints but a different inverse bind matrix count")
    for a, anim in enumerate(doc.get("animations", [])):
        for s, sampler in enumerate(anim["samplers"]):
            inp, out = accessors[sampler["input"]], accessors[sampler["output"]]
            if inp["type"] != "SCALAR" or inp["componentType"] != FLOAT or "min" not in inp or "max" not in inp:
                raise GltfError(f"animation {a} sampler {s}: input must be float SCALAR with min/max")
            if out["count"] != inp["count"]:
                raise GltfError(f"animation {a} sampler {s}: {out['count']} outputs for {inp['count']} key times")
            times = glb.accessor(sampler["input"])[:, 0]
            if np.any(np.diff(times) <= 0):
                raise GltfError(f"animation {a} sampler {s}: key times must increase strictly")
        for c, channel in enumerate(anim["channels"]):
            if not 0 <= channel["sampler"] < len(anim["samplers"]):
                raise GltfError(f"animation {a} channel {c} names a missing sampler")
            if not 0 <= channel["target"]["node"] < len(nodes):
                raise GltfError(f"animation {a} channel {c} targets a missing node")
            want = {"rotation": "VEC4", "translation": "VEC3", "scale": "VEC3"}.get(channel["target"]["path"])
            got = accessors[anim["samplers"][channel["sampler"]]["output"]]["type"]
            if want != got:
                raise GltfError(f"animation {a} channel {c}: {channel['target']['path']} needs {want}, got {got}")
