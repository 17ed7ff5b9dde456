// NumPy .npz files written in the browser, for motion the page holds itself (a live recording) rather than
// a finished job the daemon exports. The layout is the daemon's npz download (engine/core/motion.py
// Motion.save_npz, upstream HY-Motion compatible), so one reader takes both: poses (L, 156) axis-angle for
// the 52 SMPL-H joints (the body's 22 first, fingers zero), trans (L, 3), Rh (L, 3), betas zeros (1, 16),
// gender, mocap_framerate, text, seed, model.
//
// An .npz is a zip of .npy arrays; entries are stored (no compression), which numpy reads as it reads its own
// np.savez output.

const SMPLH_JOINTS = 52;
const DOS_DATE = (1 << 5) | 1; // 1980-01-01: entries carry no meaningful time

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One array as .npy (format 1.0): `descr` is a NumPy dtype string, `data` a typed array in that layout. */
function npy(descr, shape, data) {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const bytes = new Uint8Array(10 + header.length + data.byteLength);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  for (let i = 0; i < header.length; i++) bytes[10 + i] = header.charCodeAt(i);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return bytes;
}

/** A 0-d NumPy unicode string ('<U n'): UTF-32 little-endian code points. */
function npyText(text) {
  const points = Uint32Array.from([...text].map((ch) => ch.codePointAt(0)));
  return npy(`<U${Math.max(1, points.length)}`, [], points.length ? points : new Uint32Array(1));
}

/** A zip archive of `entries` ({name, bytes}), stored: what np.load reads as an .npz. */
function storedZip(entries) {
  const encoder = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  for (const { name, bytes } of entries) {
    const nameBytes = encoder.encode(name);
    const crc = crc32(bytes);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true); // version needed: 2.0
    local.setUint16(12, DOS_DATE, true);
    local.setUint16(26, nameBytes.length, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, bytes.length, true);
    local.setUint32(22, bytes.length, true);
    parts.push(local, nameBytes, bytes);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    entry.setUint16(6, 20, true);
    entry.setUint16(14, DOS_DATE, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, bytes.length, true);
    entry.setUint32(24, bytes.length, true);
    entry.setUint16(28, nameBytes.length, true);
    entry.setUint32(42, offset, true);
    central.push(entry, nameBytes);
    offset += 30 + nameBytes.length + bytes.length;
  }
  const centralSize = central.reduce((sum, p) => sum + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end], { type: "application/octet-stream" });
}

/** Quaternion (x, y, z, w) -> axis-angle vector, as engine.core.rotations.quat_to_axis_angle. */
function axisAngle(q, i, out, o) {
  let x = q[i], y = q[i + 1], z = q[i + 2], w = q[i + 3];
  const n = Math.hypot(x, y, z, w) || 1;
  const s = w < 0 ? -1 / n : 1 / n;
  x *= s; y *= s; z *= s; w *= s;
  const sinHalf = Math.hypot(x, y, z);
  const angle = 2 * Math.atan2(sinHalf, w);
  const scale = sinHalf < 1e-6 ? 2 + (angle * angle) / 12 : angle / sinHalf;
  out[o] = x * scale;
  out[o + 1] = y * scale;
  out[o + 2] = z * scale;
}

/**
 * A motion on the SMPL-H body skeleton (root L×3 metres, local rotations L×J×4 x, y, z, w, joints in the
 * hello's order, which is SMPL-H's) as the daemon's npz download, in a Blob.
 */
export function motionNpz({ root, rotations, frames, fps, text = "", seed = 0, model = "" }) {
  const joints = rotations.length / (frames * 4);
  const poses = new Float32Array(frames * SMPLH_JOINTS * 3);
  const rh = new Float32Array(frames * 3);
  for (let f = 0; f < frames; f++) {
    for (let j = 0; j < joints; j++) axisAngle(rotations, (f * joints + j) * 4, poses, (f * SMPLH_JOINTS + j) * 3);
    rh.set(poses.subarray(f * SMPLH_JOINTS * 3, f * SMPLH_JOINTS * 3 + 3), f * 3);
  }
  return storedZip([
    { name: "poses.npy", bytes: npy("<f4", [frames, SMPLH_JOINTS * 3], poses) },
    { name: "trans.npy", bytes: npy("<f4", [frames, 3], Float32Array.from(root)) },
    { name: "Rh.npy", bytes: npy("<f4", [frames, 3], rh) },
    { name: "betas.npy", bytes: npy("<f4", [1, 16], new Float32Array(16)) },
    { name: "gender.npy", bytes: npyText("neutral") },
    { name: "mocap_framerate.npy", bytes: npy("<f8", [], Float64Array.of(fps)) },
    { name: "text.npy", bytes: npyText(text) },
    { name: "seed.npy", bytes: npy("<i8", [], BigInt64Array.of(BigInt(seed))) },
    { name: "model.npy", bytes: npyText(model) },
  ]);
}
