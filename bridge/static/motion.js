// Motion clips on the page: assembling `motion` messages, sampling a pose at a time, forward kinematics.
//
// Conventions are the wire's for target "smplh" (see docs/protocol.md): right-handed, Y up, the character
// faces +Z, metres; quaternions are (x, y, z, w), local to the parent joint and relative to the rest pose,
// whose rotations are all identity; the root joint's rotation is global and `root` is its world position.
// The skeleton (joint names, parents, rest offsets) comes from the daemon's `hello`, never from this file.

/** Float32 little-endian bytes -> Float32Array (copies only when the view is not 4-byte aligned). */
export function float32s(bytes) {
  if (typeof bytes === "string") bytes = base64Bytes(bytes);
  if (bytes.byteLength % 4 !== 0) throw new Error(`float32 field has ${bytes.byteLength} bytes, not a multiple of 4`);
  // Every browser this page targets is little-endian, as the wire is, so the bytes can be viewed directly.
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(bytes.slice().buffer);
}

/** A base64 string (the JSON subprotocol's byte fields) -> Uint8Array. */
export function base64Bytes(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** The skeleton of a `hello` message, checked, with a little topology the renderer needs. */
export class Skeleton {
  constructor(wire) {
    const { joints, parents, rest } = wire || {};
    if (!Array.isArray(joints) || !Array.isArray(parents) || !Array.isArray(rest) ||
        joints.length !== parents.length || joints.length !== rest.length) {
      throw new Error("hello.skeleton needs joints, parents and rest of equal length");
    }
    parents.forEach((p, j) => {
      if (p >= j) throw new Error(`skeleton parent ${p} of joint ${j} is not listed before it`);
    });
    this.name = wire.name || "";
    this.joints = joints;
    this.parents = parents;
    this.rest = Float64Array.from(rest.flat());
    this.index = Object.fromEntries(joints.map((n, i) => [n, i]));
  }

  get count() { return this.joints.length; }

  /** Which side a joint is on, from its name: "left" | "right" | "centre". */
  side(j) {
    const n = this.joints[j];
    return n.startsWith("left") ? "left" : n.startsWith("right") ? "right" : "centre";
  }

  /** The rest pose as a one-frame clip (shown before anything was generated). */
  restClip() {
    const rot = new Float32Array(this.count * 4);
    for (let j = 0; j < this.count; j++) rot[j * 4 + 3] = 1;
    return new Clip({ fps: 30, frames: 1, root: Float32Array.from(this.rest.subarray(0, 3)), rotations: rot });
  }
}

/** One sample's motion: root (L×3) and local rotations (L×J×4). */
export class Clip {
  constructor({ fps, frames, root, rotations, seed = null, preview = false, step = null, steps = null }) {
    this.fps = fps;
    this.frames = frames;
    this.root = root;
    this.rotations = rotations;
    this.seed = seed;
    this.preview = preview;
    this.step = step;
    this.steps = steps;
  }

  get seconds() { return this.frames / this.fps; }
  get jointCount() { return this.rotations.length / (this.frames * 4); }
}

/**
 * Collects the `motion` messages of one job: final chunks (start/count, possibly several per sample)
 * and the latest coarse preview of each sample.
 */
export class ClipAssembler {
  constructor(jointCount) {
    this.jointCount = jointCount;
    this.chunks = new Map(); // sample -> [{start, count, root, rotations}]
    this.finals = new Map(); // sample -> Clip
    this.previews = new Map(); // sample -> Clip
    this.previewParts = new Map(); // sample -> chunks of the preview being received
  }

  /** Adds one `motion` message; returns the Clip it completed or updated, or null for a middle chunk. */
  add(msg, progress) {
    const root = float32s(msg.root);
    const rotations = float32s(msg.rotations);
    const count = msg.count;
    const jointCount = Array.isArray(msg.joints) ? msg.joints.length : this.jointCount;
    if (root.length !== count * 3 || rotations.length !== count * jointCount * 4) {
      throw new Error(`motion message sizes do not match count=${count} and ${jointCount} joints`);
    }
    const sample = msg.sample || 0;
    const start = msg.start || 0;
    // A sample is complete at its last chunk; previews come whole with final=false, so `total` decides.
    const complete = msg.total != null ? start + count >= msg.total : (msg.final || msg.preview);
    const store = msg.preview ? this.previewParts : this.chunks;
    const parts = start === 0 ? [] : (store.get(sample) || []);
    parts.push({ start, count, root, rotations });
    store.set(sample, parts);
    if (!complete) return null;
    store.delete(sample);
    const clip = this.join(parts, msg.fps, jointCount);
    clip.seed = msg.seed ?? null;
    if (msg.preview) {
      clip.preview = true;
      clip.step = msg.step ?? (progress ? progress.step : null);
      clip.steps = progress ? progress.steps : null;
      this.previews.set(sample, clip);
    } else {
      this.finals.set(sample, clip);
    }
    return clip;
  }

  join(parts, fps, jointCount) {
    if (parts.length === 1 && parts[0].start === 0) {
      const p = parts[0];
      return new Clip({ fps, frames: p.count, root: p.root, rotations: p.rotations });
    }
    const frames = Math.max(...parts.map((p) => p.start + p.count));
    const root = new Float32Array(frames * 3);
    const rotations = new Float32Array(frames * jointCount * 4);
    for (const p of parts) {
      root.set(p.root, p.start * 3);
      rotations.set(p.rotations, p.start * jointCount * 4);
    }
    return new Clip({ fps, frames, root, rotations });
  }
}

/**
 * The frames of a live session (protocol v1.1 live mode): an endless stream, appended in order as `motion`
 * messages arrive, the oldest dropped once they lie behind what is played. Frame numbers count from the
 * session's first frame; the frames held are `first` … `end` − 1.
 */
export class LiveBuffer {
  constructor(jointCount, fps, capacityFrames) {
    this.jointCount = jointCount;
    this.fps = fps;
    this.capacity = capacityFrames;
    this.root = new Float32Array(capacityFrames * 3);
    this.rotations = new Float32Array(capacityFrames * jointCount * 4);
    this.first = 0;
    this.end = 0;
  }

  get frames() { return this.end - this.first; }

  /** Adds the frames of one live `motion` message; they must follow the last ones held. */
  append(msg) {
    const root = float32s(msg.root);
    const rotations = float32s(msg.rotations);
    const { start, count } = msg;
    if (start !== this.end) {
      throw new Error(`live frames start at ${start} but ${this.end} was expected: the stream is not contiguous`);
    }
    if (root.length !== count * 3 || rotations.length !== count * this.jointCount * 4) {
      throw new Error(`live motion sizes do not match count=${count} and ${this.jointCount} joints`);
    }
    // Never reached while playback keeps up (it drops what it played); a stalled page loses its oldest frames.
    if (this.frames + count > this.capacity) this.dropBefore(this.end + count - this.capacity);
    const at = this.frames;
    this.root.set(root, at * 3);
    this.rotations.set(rotations, at * this.jointCount * 4);
    this.end += count;
  }

  /** Forgets the frames before `frame`. */
  dropBefore(frame) {
    const n = Math.min(frame, this.end) - this.first;
    if (n <= 0) return;
    const J4 = this.jointCount * 4;
    this.root.copyWithin(0, n * 3, this.frames * 3);
    this.rotations.copyWithin(0, n * J4, this.frames * J4);
    this.first += n;
  }

  /** The frames held, as a Clip whose frame 0 is `first` (views, valid until the next append or drop). */
  clip() {
    const n = this.frames;
    return new Clip({ fps: this.fps, frames: n, root: this.root.subarray(0, n * 3),
      rotations: this.rotations.subarray(0, n * this.jointCount * 4) });
  }

  /** Copies of frames `from` … `to` − 1 (session frame numbers, within those held). */
  slice(from, to) {
    const a = from - this.first, b = to - this.first, J4 = this.jointCount * 4;
    return { frames: b - a, root: this.root.slice(a * 3, b * 3), rotations: this.rotations.slice(a * J4, b * J4) };
  }
}

// ------------------------------------------------------------------ quaternion math (x, y, z, w)

function quatMul(a, ai, b, bi, out, oi) {
  const ax = a[ai], ay = a[ai + 1], az = a[ai + 2], aw = a[ai + 3];
  const bx = b[bi], by = b[bi + 1], bz = b[bi + 2], bw = b[bi + 3];
  out[oi] = aw * bx + ax * bw + ay * bz - az * by;
  out[oi + 1] = aw * by - ax * bz + ay * bw + az * bx;
  out[oi + 2] = aw * bz + ax * by - ay * bx + az * bw;
  out[oi + 3] = aw * bw - ax * bx - ay * by - az * bz;
}

/** Rotates (vx, vy, vz) by quaternion q[qi..qi+3]; writes into out[oi..oi+2]. */
export function quatApply(q, qi, vx, vy, vz, out, oi) {
  const x = q[qi], y = q[qi + 1], z = q[qi + 2], w = q[qi + 3];
  const tx = 2 * (y * vz - z * vy), ty = 2 * (z * vx - x * vz), tz = 2 * (x * vy - y * vx);
  out[oi] = vx + w * tx + (y * tz - z * ty);
  out[oi + 1] = vy + w * ty + (z * tx - x * tz);
  out[oi + 2] = vz + w * tz + (x * ty - y * tx);
}

/**
 * The pose of `clip` at `time` seconds: local rotations and root, interpolated between the two nearest
 * frames (normalised lerp along the shorter arc: frames are 1/30 s apart, where nlerp and slerp agree).
 */
export function samplePose(clip, time, pose) {
  const J = clip.jointCount;
  const f = Math.min(Math.max(time * clip.fps, 0), clip.frames - 1);
  const f0 = Math.floor(f), f1 = Math.min(f0 + 1, clip.frames - 1), t = f - f0;
  const r = clip.rotations, o = clip.root;
  pose.local = pose.local && pose.local.length === J * 4 ? pose.local : new Float64Array(J * 4);
  for (let i = 0; i < 3; i++) pose.rootPos[i] = o[f0 * 3 + i] * (1 - t) + o[f1 * 3 + i] * t;
  for (let j = 0; j < J; j++) {
    const a = (f0 * J + j) * 4, b = (f1 * J + j) * 4;
    const sign = r[a] * r[b] + r[a + 1] * r[b + 1] + r[a + 2] * r[b + 2] + r[a + 3] * r[b + 3] < 0 ? -1 : 1;
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const v = r[a + i] * (1 - t) + sign * r[b + i] * t;
      pose.local[j * 4 + i] = v;
      n += v * v;
    }
    n = Math.sqrt(n) || 1;
    for (let i = 0; i < 4; i++) pose.local[j * 4 + i] /= n;
  }
  return pose;
}

/** A reusable pose buffer: local rotations in, world positions and rotations out. */
export function makePose(jointCount) {
  return {
    rootPos: new Float64Array(3),
    local: new Float64Array(jointCount * 4),
    worldRot: new Float64Array(jointCount * 4),
    worldPos: new Float64Array(jointCount * 3),
  };
}

/**
 * Forward kinematics, the same recursion as engine.rotations.forward_kinematics:
 * world_rot[j] = world_rot[parent] ⊗ local[j]; world_pos[j] = world_pos[parent] + world_rot[parent]·rest[j];
 * the root's world position is the clip's root, not its rest offset.
 */
export function forwardKinematics(skeleton, pose) {
  const { parents, rest } = skeleton;
  const { local, worldRot, worldPos, rootPos } = pose;
  const tmp = [0, 0, 0];
  for (let j = 0; j < parents.length; j++) {
    const p = parents[j];
    if (p < 0) {
      for (let i = 0; i < 4; i++) worldRot[j * 4 + i] = local[j * 4 + i];
      for (let i = 0; i < 3; i++) worldPos[j * 3 + i] = rootPos[i];
      continue;
    }
    quatMul(worldRot, p * 4, local, j * 4, worldRot, j * 4);
    quatApply(worldRot, p * 4, rest[j * 3], rest[j * 3 + 1], rest[j * 3 + 2], tmp, 0);
    for (let i = 0; i < 3; i++) worldPos[j * 3 + i] = worldPos[p * 3 + i] + tmp[i];
  }
  return pose;
}
