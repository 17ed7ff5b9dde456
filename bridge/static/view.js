// The 3D view: skeletons as capsules on a ground grid with planar shadows, foot-contact marks and the
// pelvis trail, seen through an orbit camera. WebGL 1 when the browser has it; otherwise the same scene
// drawn with canvas 2D (round-capped strokes are capsules seen from the side), so the page still works in
// a browser without GPU access.
//
// World space is the wire's smplh convention: right-handed, Y up, metres, the character faces +Z.

import { quatApply } from "./motion.js";

// ------------------------------------------------------------------ small column-major 4×4 math

function perspective(fovY, aspect, near, far) {
  const f = 1 / Math.tan(fovY / 2), nf = 1 / (near - far);
  return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
}

function lookAt(eye, target, up) {
  let zx = eye[0] - target[0], zy = eye[1] - target[1], zz = eye[2] - target[2];
  let n = Math.hypot(zx, zy, zz) || 1;
  zx /= n; zy /= n; zz /= n;
  let xx = up[1] * zz - up[2] * zy, xy = up[2] * zx - up[0] * zz, xz = up[0] * zy - up[1] * zx;
  n = Math.hypot(xx, xy, xz) || 1;
  xx /= n; xy /= n; xz /= n;
  const yx = zy * xz - zz * xy, yy = zz * xx - zx * xz, yz = zx * xy - zy * xx;
  return [
    xx, yx, zx, 0, xy, yy, zy, 0, xz, yz, zz, 0,
    -(xx * eye[0] + xy * eye[1] + xz * eye[2]),
    -(yx * eye[0] + yy * eye[1] + yz * eye[2]),
    -(zx * eye[0] + zy * eye[1] + zz * eye[2]), 1,
  ];
}

function mul(a, b) {
  const o = new Array(16);
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) {
      o[c * 4 + r] = a[r] * b[c * 4] + a[4 + r] * b[c * 4 + 1] + a[8 + r] * b[c * 4 + 2] + a[12 + r] * b[c * 4 + 3];
    }
  }
  return o;
}

// Light travels along LIGHT (down, a little toward +X and -Z), so shadows fall behind-left of a character
// facing the default camera.
const LIGHT = (() => { const v = [0.35, -1, -0.25]; const n = Math.hypot(...v); return v.map((c) => c / n); })();
const SHADOW_Y = 0.002;
const SHADOW_ALPHA = 0.5;
/** The root path being drawn (waypoints on the ground): cyan, apart from the yellow trail and contacts. */
const PATH_COLOR = { line: [0.37, 0.84, 0.84, 0.75], point: [0.37, 0.84, 0.84, 0.95] };

/** Projects points onto the ground plane along LIGHT (column-major, as the other matrices). */
const SHADOW_MATRIX = [
  1, 0, 0, 0,
  -LIGHT[0] / LIGHT[1], 0, -LIGHT[2] / LIGHT[1], 0,
  0, 0, 1, 0,
  (LIGHT[0] / LIGHT[1]) * SHADOW_Y, SHADOW_Y, (LIGHT[2] / LIGHT[1]) * SHADOW_Y, 1,
];

// ------------------------------------------------------------------ camera

const FOV_Y = (40 * Math.PI) / 180;

/** Orbits a target point; yaw 0 looks at the character's face (the camera sits on +Z). */
export class OrbitCamera {
  constructor() {
    this.follow = true;
    this.reset();
  }

  reset() {
    this.yaw = 0.55;
    this.pitch = 0.22;
    this.distance = 4.2;
    this.target = [0, 0.9, 0];
  }

  eye() {
    const c = Math.cos(this.pitch);
    return [
      this.target[0] + this.distance * c * Math.sin(this.yaw),
      this.target[1] + this.distance * Math.sin(this.pitch),
      this.target[2] + this.distance * c * Math.cos(this.yaw),
    ];
  }

  orbit(dYaw, dPitch) {
    this.yaw += dYaw;
    this.pitch = Math.min(1.5, Math.max(-0.15, this.pitch + dPitch));
  }

  zoom(factor) {
    this.distance = Math.min(30, Math.max(0.8, this.distance * factor));
  }

  /** Moves the target in the view plane by (dx, dy) in units of the distance. */
  pan(dx, dy) {
    const s = this.distance;
    const rx = Math.cos(this.yaw), rz = -Math.sin(this.yaw);
    this.target[0] += (-dx * rx) * s;
    this.target[2] += (-dx * rz) * s;
    this.target[1] = Math.max(0, this.target[1] + dy * s);
  }

  /** Eases the target toward a point on the character (follow-cam); `k` is the share moved this draw.
   * Returns the distance still to go. */
  track(x, z, k) {
    this.target[0] += (x - this.target[0]) * k;
    this.target[2] += (z - this.target[2]) * k;
    return Math.hypot(x - this.target[0], z - this.target[2]);
  }

  viewProjection(aspect) {
    return mul(perspective(FOV_Y, aspect, 0.05, 200), lookAt(this.eye(), this.target, [0, 1, 0]));
  }
}

/** The point on the ground plane (y = 0) under a client position on the canvas, as [x, z]; null when the
 * ray from the eye through it does not come down to the ground (at or above the horizon). */
export function groundPoint(camera, canvas, clientX, clientY) {
  const r = canvas.getBoundingClientRect();
  if (!r.width || !r.height) return null;
  const nx = ((clientX - r.left) / r.width) * 2 - 1;
  const ny = 1 - ((clientY - r.top) / r.height) * 2;
  const eye = camera.eye();
  const t = camera.target;
  let fx = t[0] - eye[0], fy = t[1] - eye[1], fz = t[2] - eye[2];
  let n = Math.hypot(fx, fy, fz);
  fx /= n; fy /= n; fz /= n;
  // right = forward × up(0, 1, 0), up' = right × forward (as lookAt builds the view).
  let rx = -fz, rz = fx;
  n = Math.hypot(rx, rz) || 1;
  rx /= n; rz /= n;
  const ux = -rz * fy, uy = rz * fx - rx * fz, uz = rx * fy;
  const ty = Math.tan(FOV_Y / 2), tx = ty * (r.width / r.height);
  const dx = fx + rx * nx * tx + ux * ny * ty;
  const dy = fy + uy * ny * ty;
  const dz = fz + rz * nx * tx + uz * ny * ty;
  if (dy > -1e-6) return null;
  const k = -eye[1] / dy;
  return [eye[0] + dx * k, eye[2] + dz * k];
}

/** Mouse, wheel, touch and keyboard orbit controls; `onChange(kind)` is told "view" or "follow-off". */
export function attachOrbitControls(canvas, camera, onChange) {
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag.x = e.clientX;
    drag.y = e.clientY;
    if (drag.pan) {
      camera.pan(dx / canvas.clientHeight, dy / canvas.clientHeight);
      if (camera.follow) onChange("follow-off");
    } else camera.orbit(-dx * 0.008, dy * 0.006);
    onChange("view");
  });
  const end = () => { drag = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    camera.zoom(Math.exp(e.deltaY * 0.001));
    onChange("view");
  }, { passive: false });
  // While a path is being drawn (data-drawing on the canvas), quick clicks are waypoints, not a reset.
  canvas.addEventListener("dblclick", () => {
    if (canvas.dataset.drawing) return;
    camera.reset();
    onChange("view");
  });
  canvas.addEventListener("keydown", (e) => {
    const step = e.shiftKey ? 0.25 : 0.08;
    const keys = {
      ArrowLeft: () => camera.orbit(step, 0),
      ArrowRight: () => camera.orbit(-step, 0),
      ArrowUp: () => camera.orbit(0, step),
      ArrowDown: () => camera.orbit(0, -step),
      "+": () => camera.zoom(0.9),
      "=": () => camera.zoom(0.9),
      "-": () => camera.zoom(1 / 0.9),
      PageUp: () => camera.zoom(0.9),
      PageDown: () => camera.zoom(1 / 0.9),
      r: () => camera.reset(),
      R: () => camera.reset(),
    };
    const action = keys[e.key];
    if (!action) return;
    e.preventDefault();
    action();
    onChange("view");
  });
}

// ------------------------------------------------------------------ what a figure is made of

const PALETTE = {
  final: { left: [0.31, 0.62, 0.96], right: [0.97, 0.56, 0.24], centre: [0.86, 0.88, 0.92] },
  preview: { left: [0.55, 0.6, 0.75], right: [0.72, 0.62, 0.6], centre: [0.66, 0.68, 0.74] },
  dim: { left: [0.33, 0.45, 0.6], right: [0.6, 0.46, 0.36], centre: [0.52, 0.54, 0.58] },
};

/** Capsule radius (metres) of the bone that ends at a joint, from the joint's name. */
function boneRadius(name) {
  if (/spine|pelvis/.test(name)) return 0.075;
  if (/hip|collar/.test(name)) return 0.05;
  if (/knee/.test(name)) return 0.06;
  if (/ankle/.test(name)) return 0.048;
  if (/foot|toe/.test(name)) return 0.035;
  if (/neck|head/.test(name)) return 0.045;
  if (/shoulder/.test(name)) return 0.045;
  if (/elbow/.test(name)) return 0.042;
  return 0.035;
}

/** Capsules and balls of one posed skeleton, in world space. */
function figureParts(skeleton, pose, style, offsetX) {
  const colors = PALETTE[style] || PALETTE.final;
  const P = pose.worldPos, Q = pose.worldRot;
  const at = (j) => [P[j * 3] + offsetX, P[j * 3 + 1], P[j * 3 + 2]];
  const capsules = [];
  const balls = [];
  const out = [0, 0, 0];
  for (let j = 0; j < skeleton.count; j++) {
    const p = skeleton.parents[j];
    const name = skeleton.joints[j];
    const color = colors[skeleton.side(j)];
    if (p >= 0) capsules.push({ a: at(p), b: at(j), r: boneRadius(name), color });
    if (name === "head") {
      quatApply(Q, j * 4, 0, 0.1, 0.02, out, 0);
      const c = at(j);
      balls.push({ c: [c[0] + out[0], c[1] + out[1], c[2] + out[2]], r: 0.105, color });
    } else if (/wrist/.test(name)) {
      // The hand continues the forearm: +X in the left wrist's frame, -X in the right's.
      quatApply(Q, j * 4, skeleton.side(j) === "right" ? -0.09 : 0.09, 0, 0, out, 0);
      const c = at(j);
      capsules.push({ a: c, b: [c[0] + out[0], c[1] + out[1], c[2] + out[2]], r: 0.032, color });
    }
  }
  return { capsules, balls };
}

// ------------------------------------------------------------------ renderers

const BACKGROUND = [0.086, 0.098, 0.122];

// Renderer strings of WebGL implementations that run on the CPU (Chrome/Edge SwiftShader, Mesa, Windows WARP).
const SOFTWARE_WEBGL = /swiftshader|llvmpipe|softpipe|software|basic render driver/i;

/** Whether a WebGL context draws on the CPU; browsers that hide the renderer string count as hardware. */
function isSoftware(gl) {
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const name = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  return SOFTWARE_WEBGL.test(String(name));
}

/**
 * The renderer for `canvas`: `prefer` = "auto" (WebGL on a GPU, canvas 2D when WebGL would run in software),
 * "webgl" (WebGL even in software) or "canvas2d".
 * Software WebGL (SwiftShader, as in headless Chromium or a browser with the GPU blocklisted) took ~185 ms a
 * frame here against ~20 ms for the canvas 2D drawing of the same scene, hence "auto".
 */
export function createRenderer(canvas, prefer = "auto") {
  if (prefer !== "canvas2d") {
    // A canvas keeps the first context type it hands out, so software WebGL is probed on a scratch canvas.
    const probe = prefer === "auto" ? document.createElement("canvas").getContext("webgl") : null;
    const software = probe ? isSoftware(probe) : false;
    probe?.getExtension("WEBGL_lose_context")?.loseContext();
    const gl = software ? null : canvas.getContext("webgl", {
      antialias: true, stencil: true, preserveDrawingBuffer: true, failIfMajorPerformanceCaveat: prefer === "auto",
    });
    if (gl) {
      try {
        return new WebGLRenderer(canvas, gl);
      } catch (err) {
        console.warn("WebGL renderer failed, using canvas 2D:", err);
      }
    }
  }
  return new Canvas2DRenderer(canvas);
}

function resize(canvas) {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  return [w, h];
}

const LIT_VS = `
attribute vec3 aPos; attribute vec3 aNormal;
uniform mat4 uViewProj; uniform mat4 uModel;
varying vec3 vNormal; varying vec3 vWorld;
void main() {
  vec4 w = uModel * vec4(aPos, 1.0);
  vWorld = w.xyz;
  vNormal = mat3(uModel) * aNormal;
  gl_Position = uViewProj * w;
}`;
const LIT_FS = `
precision mediump float;
uniform vec4 uColor; uniform vec3 uToLight; uniform vec3 uEye;
varying vec3 vNormal; varying vec3 vWorld;
void main() {
  vec3 n = normalize(vNormal);
  float diffuse = max(dot(n, uToLight), 0.0);
  float sky = 0.5 + 0.5 * n.y;
  float rim = pow(1.0 - max(dot(n, normalize(uEye - vWorld)), 0.0), 3.0);
  vec3 c = uColor.rgb * (0.30 + 0.25 * sky + 0.6 * diffuse) + 0.18 * rim;
  gl_FragColor = vec4(c, uColor.a);
}`;
const FLAT_VS = `
attribute vec3 aPos;
uniform mat4 uViewProj; uniform mat4 uModel;
varying vec3 vWorld;
void main() {
  vec4 w = uModel * vec4(aPos, 1.0);
  vWorld = w.xyz;
  gl_Position = uViewProj * w;
}`;
const FLAT_FS = `
precision mediump float;
uniform vec4 uColor; uniform vec3 uCentre; uniform vec2 uFade;
varying vec3 vWorld;
void main() {
  float d = distance(vWorld.xz, uCentre.xz);
  gl_FragColor = vec4(uColor.rgb, uColor.a * (1.0 - smoothstep(uFade.x, uFade.y, d)));
}`;

function sphereMesh(rings, segments) {
  const pos = [], idx = [];
  for (let i = 0; i <= rings; i++) {
    const v = (i / rings) * Math.PI;
    for (let k = 0; k <= segments; k++) {
      const u = (k / segments) * 2 * Math.PI;
      pos.push(Math.sin(v) * Math.cos(u), Math.cos(v), Math.sin(v) * Math.sin(u));
    }
  }
  for (let i = 0; i < rings; i++) {
    for (let k = 0; k < segments; k++) {
      const a = i * (segments + 1) + k, b = a + segments + 1;
      idx.push(a, b, a + 1, b, b + 1, a + 1);
    }
  }
  return { pos, normal: pos, idx };
}

function cylinderMesh(segments) {
  const pos = [], normal = [], idx = [];
  for (let k = 0; k <= segments; k++) {
    const u = (k / segments) * 2 * Math.PI, x = Math.cos(u), z = Math.sin(u);
    pos.push(x, 0, z, x, 1, z);
    normal.push(x, 0, z, x, 0, z);
  }
  for (let k = 0; k < segments; k++) idx.push(2 * k, 2 * k + 1, 2 * k + 2, 2 * k + 1, 2 * k + 3, 2 * k + 2);
  return { pos, normal, idx };
}

function discMesh(segments) {
  const pos = [0, 0, 0], idx = [];
  for (let k = 0; k <= segments; k++) {
    const u = (k / segments) * 2 * Math.PI;
    pos.push(Math.cos(u), 0, Math.sin(u));
    if (k > 0) idx.push(0, k, k + 1);
  }
  return { pos, normal: pos.map((_, i) => (i % 3 === 1 ? 1 : 0)), idx };
}

// Grid lines in step-long pieces: a long line reaching behind the camera gets lost entirely by some
// rasterisers (SwiftShader drops it instead of clipping), short pieces only lose the part behind.
function gridLines(half, step) {
  const pos = [];
  for (let a = -half; a <= half + 1e-9; a += step) {
    for (let b = -half; b < half - 1e-9; b += step) pos.push(a, 0, b, a, 0, b + step, b, 0, a, b + step, 0, a);
  }
  return pos;
}

/** Model matrix of the unit cylinder (radius 1, y from 0 to 1) stretched from a to b with radius r. */
function capsuleMatrix(a, b, r) {
  let yx = b[0] - a[0], yy = b[1] - a[1], yz = b[2] - a[2];
  const len = Math.hypot(yx, yy, yz);
  if (len < 1e-6) return null;
  yx /= len; yy /= len; yz /= len;
  const h = Math.abs(yy) < 0.9 ? [0, 1, 0] : [1, 0, 0];
  let xx = h[1] * yz - h[2] * yy, xy = h[2] * yx - h[0] * yz, xz = h[0] * yy - h[1] * yx;
  const n = Math.hypot(xx, xy, xz);
  xx /= n; xy /= n; xz /= n;
  const zx = xy * yz - xz * yy, zy = xz * yx - xx * yz, zz = xx * yy - xy * yx;
  return [xx * r, xy * r, xz * r, 0, yx * len, yy * len, yz * len, 0, zx * r, zy * r, zz * r, 0, a[0], a[1], a[2], 1];
}

function ballMatrix(c, r) {
  return [r, 0, 0, 0, 0, r, 0, 0, 0, 0, r, 0, c[0], c[1], c[2], 1];
}

class WebGLRenderer {
  constructor(canvas, gl) {
    this.kind = "webgl";
    this.canvas = canvas;
    this.gl = gl;
    this.lit = this.program(LIT_VS, LIT_FS);
    this.flat = this.program(FLAT_VS, FLAT_FS);
    this.sphere = this.mesh(sphereMesh(10, 16));
    this.cylinder = this.mesh(cylinderMesh(16));
    this.disc = this.mesh(discMesh(28));
    this.grid = this.lines(gridLines(12, 0.5));
    this.ground = this.mesh({ pos: [-40, 0, -40, 40, 0, -40, 40, 0, 40, -40, 0, 40], normal: [0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0], idx: [0, 2, 1, 0, 3, 2] });
    this.trail = { buffer: gl.createBuffer(), count: 0 };
    this.path = { buffer: gl.createBuffer(), count: 0 };
    this.attribSlots = gl.getParameter(gl.MAX_VERTEX_ATTRIBS);
  }

  program(vsText, fsText) {
    const gl = this.gl;
    const shader = (type, text) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, text);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const p = gl.createProgram();
    gl.attachShader(p, shader(gl.VERTEX_SHADER, vsText));
    gl.attachShader(p, shader(gl.FRAGMENT_SHADER, fsText));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    const u = {};
    const nu = gl.getProgramParameter(p, gl.ACTIVE_UNIFORMS);
    for (let i = 0; i < nu; i++) {
      const name = gl.getActiveUniform(p, i).name;
      u[name] = gl.getUniformLocation(p, name);
    }
    return { p, u, aPos: gl.getAttribLocation(p, "aPos"), aNormal: gl.getAttribLocation(p, "aNormal") };
  }

  mesh({ pos, normal, idx }) {
    const gl = this.gl;
    const vb = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, vb);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(pos), gl.STATIC_DRAW);
    const nb = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, nb);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(normal), gl.STATIC_DRAW);
    const ib = gl.createBuffer();
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, ib);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, new Uint16Array(idx), gl.STATIC_DRAW);
    return { vb, nb, ib, count: idx.length };
  }

  lines(pos) {
    const gl = this.gl;
    const vb = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, vb);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(pos), gl.STATIC_DRAW);
    return { buffer: vb, count: pos.length / 3 };
  }

  use(prog, viewProj) {
    const gl = this.gl;
    // An array left enabled by the other program would make draws read past a smaller buffer and fail.
    for (let i = 0; i < this.attribSlots; i++) gl.disableVertexAttribArray(i);
    gl.useProgram(prog.p);
    gl.uniformMatrix4fv(prog.u.uViewProj, false, viewProj);
  }

  drawMesh(prog, mesh, model, color) {
    const gl = this.gl;
    gl.uniformMatrix4fv(prog.u.uModel, false, model);
    gl.uniform4fv(prog.u.uColor, color);
    gl.bindBuffer(gl.ARRAY_BUFFER, mesh.vb);
    gl.enableVertexAttribArray(prog.aPos);
    gl.vertexAttribPointer(prog.aPos, 3, gl.FLOAT, false, 0, 0);
    if (prog.aNormal >= 0) {
      gl.bindBuffer(gl.ARRAY_BUFFER, mesh.nb);
      gl.enableVertexAttribArray(prog.aNormal);
      gl.vertexAttribPointer(prog.aNormal, 3, gl.FLOAT, false, 0, 0);
    }
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, mesh.ib);
    gl.drawElements(gl.TRIANGLES, mesh.count, gl.UNSIGNED_SHORT, 0);
  }

  drawLines(prog, lines, mode, color, lift) {
    const gl = this.gl;
    gl.uniformMatrix4fv(prog.u.uModel, false, ballMatrix([0, lift, 0], 1));
    gl.uniform4fv(prog.u.uColor, color);
    gl.bindBuffer(gl.ARRAY_BUFFER, lines.buffer);
    gl.enableVertexAttribArray(prog.aPos);
    gl.vertexAttribPointer(prog.aPos, 3, gl.FLOAT, false, 0, 0);
    gl.drawArrays(mode, 0, lines.count);
  }

  drawParts(prog, parts, pre, colorOf) {
    const apply = (m) => (pre ? mul(pre, m) : m);
    for (const c of parts.capsules) {
      const m = capsuleMatrix(c.a, c.b, c.r);
      if (m) this.drawMesh(prog, this.cylinder, apply(m), colorOf(c));
      this.drawMesh(prog, this.sphere, apply(ballMatrix(c.b, c.r)), colorOf(c));
      this.drawMesh(prog, this.sphere, apply(ballMatrix(c.a, c.r)), colorOf(c));
    }
    for (const b of parts.balls) this.drawMesh(prog, this.sphere, apply(ballMatrix(b.c, b.r)), colorOf(b));
  }

  render(scene, camera) {
    const gl = this.gl;
    const [w, h] = resize(this.canvas);
    gl.viewport(0, 0, w, h);
    gl.clearColor(...BACKGROUND, 1);
    gl.clearStencil(0);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT | gl.STENCIL_BUFFER_BIT);
    const vp = camera.viewProjection(w / h);
    const eye = camera.eye();
    const figures = scene.figures.map((f) => figureParts(f.skeleton, f.pose, f.style, f.offsetX || 0));
    const centre = camera.target;

    gl.enable(gl.DEPTH_TEST);
    gl.depthFunc(gl.LEQUAL);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);

    // Ground, then everything lying on it without writing depth, so the figures still test against it.
    this.use(this.flat, vp);
    gl.uniform3fv(this.flat.u.uCentre, centre);
    gl.uniform2f(this.flat.u.uFade, 5, 13);
    this.drawMesh(this.flat, this.ground, ballMatrix([0, 0, 0], 1), [0.13, 0.15, 0.18, 1]);
    gl.depthMask(false);
    // The stencil lets every shadow pixel darken once, however many capsules overlap there.
    this.drawLines(this.flat, this.grid, gl.LINES, [0.42, 0.46, 0.52, 0.55], 0.001);
    gl.enable(gl.STENCIL_TEST);
    gl.stencilFunc(gl.EQUAL, 0, 0xff);
    gl.stencilOp(gl.KEEP, gl.KEEP, gl.INCR);
    for (const parts of figures) this.drawParts(this.flat, parts, SHADOW_MATRIX, () => [0, 0, 0, SHADOW_ALPHA]);
    gl.disable(gl.STENCIL_TEST);
    if (scene.trail && scene.trail.length >= 6) {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.trail.buffer);
      gl.bufferData(gl.ARRAY_BUFFER, scene.trail, gl.DYNAMIC_DRAW);
      this.trail.count = scene.trail.length / 3;
      this.drawLines(this.flat, this.trail, gl.LINE_STRIP, [0.95, 0.8, 0.35, 0.5], 0.003);
    }
    for (const c of scene.contacts || []) {
      this.drawMesh(this.flat, this.disc, ballMatrix([c[0], 0.004, c[1]], 0.075), [0.98, 0.82, 0.3, 0.55]);
    }
    if (scene.path && scene.path.length) {
      const pts = scene.path;
      if (pts.length >= 2) {
        const line = new Float32Array(pts.length * 3);
        pts.forEach((p, i) => { line[i * 3] = p[0]; line[i * 3 + 2] = p[1]; });
        gl.bindBuffer(gl.ARRAY_BUFFER, this.path.buffer);
        gl.bufferData(gl.ARRAY_BUFFER, line, gl.DYNAMIC_DRAW);
        this.path.count = pts.length;
        this.drawLines(this.flat, this.path, gl.LINE_STRIP, PATH_COLOR.line, 0.005);
      }
      for (const p of pts) this.drawMesh(this.flat, this.disc, ballMatrix([p[0], 0.006, p[1]], 0.06), PATH_COLOR.point);
    }
    gl.depthMask(true);

    this.use(this.lit, vp);
    gl.uniform3fv(this.lit.u.uToLight, LIGHT.map((c) => -c));
    gl.uniform3fv(this.lit.u.uEye, eye);
    for (const parts of figures) this.drawParts(this.lit, parts, null, (p) => [...p.color, 1]);
  }
}

class Canvas2DRenderer {
  constructor(canvas) {
    this.kind = "canvas2d";
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.shadowCanvas = document.createElement("canvas");
  }

  render(scene, camera) {
    const ctx = this.ctx;
    const [w, h] = resize(this.canvas);
    const vp = camera.viewProjection(w / h);
    const pixelsPerUnit = (vp[5] * h) / 2; // screen size of 1 m at view depth 1
    const project = (x, y, z) => {
      const cw = vp[3] * x + vp[7] * y + vp[11] * z + vp[15];
      if (cw < 0.05) return null;
      return [((vp[0] * x + vp[4] * y + vp[8] * z + vp[12]) / cw + 1) * 0.5 * w,
        (1 - (vp[1] * x + vp[5] * y + vp[9] * z + vp[13]) / cw) * 0.5 * h, cw];
    };
    const rgb = (c, k = 1) => `rgb(${c.map((v) => Math.round(Math.min(1, v * k) * 255)).join(",")})`;
    const fade = (x, z) => {
      const d = Math.hypot(x - camera.target[0], z - camera.target[2]);
      return 1 - Math.min(1, Math.max(0, (d - 5) / 8));
    };

    ctx.fillStyle = rgb(BACKGROUND);
    ctx.fillRect(0, 0, w, h);

    // Grid in 0.5 m pieces so each piece can be dropped when it is behind the camera.
    ctx.lineWidth = Math.max(1, h / 720);
    for (let a = -12; a <= 12; a += 0.5) {
      for (let b = -12; b < 12; b += 0.5) {
        for (const [x0, z0, x1, z1] of [[a, b, a, b + 0.5], [b, a, b + 0.5, a]]) {
          const alpha = 0.5 * fade((x0 + x1) / 2, (z0 + z1) / 2);
          if (alpha <= 0.01) continue;
          const p = project(x0, 0, z0), q = project(x1, 0, z1);
          if (!p || !q) continue;
          ctx.strokeStyle = `rgba(107,117,133,${alpha})`;
          ctx.beginPath();
          ctx.moveTo(p[0], p[1]);
          ctx.lineTo(q[0], q[1]);
          ctx.stroke();
        }
      }
    }

    const figures = scene.figures.map((f) => figureParts(f.skeleton, f.pose, f.style, f.offsetX || 0));
    const stroke = (c, a, b, r, color) => {
      const p = project(...a), q = project(...b);
      if (!p || !q) return;
      c.strokeStyle = color;
      c.lineWidth = Math.max(1, (2 * r * pixelsPerUnit * 2) / (p[2] + q[2]));
      c.beginPath();
      c.moveTo(p[0], p[1]);
      c.lineTo(q[0], q[1]);
      c.stroke();
    };
    // A zero-length round-capped stroke draws nothing in some browsers, so balls are filled arcs.
    const disc = (c, centre, r, color) => {
      const p = project(...centre);
      if (!p) return;
      c.fillStyle = color;
      c.beginPath();
      c.arc(p[0], p[1], Math.max(1, (r * pixelsPerUnit) / p[2]), 0, 2 * Math.PI);
      c.fill();
    };
    const onGround = (p) => {
      const t = p[1] / LIGHT[1];
      return [p[0] - LIGHT[0] * t, SHADOW_Y, p[2] - LIGHT[2] * t];
    };

    // Shadows drawn opaque off screen, then laid down once at SHADOW_ALPHA so overlaps do not darken twice.
    const sc = this.shadowCanvas;
    sc.width = w;
    sc.height = h;
    const sctx = sc.getContext("2d");
    sctx.lineCap = "round";
    for (const parts of figures) {
      for (const c of parts.capsules) stroke(sctx, onGround(c.a), onGround(c.b), c.r, "#000");
      for (const b of parts.balls) disc(sctx, onGround(b.c), b.r, "#000");
    }
    ctx.globalAlpha = SHADOW_ALPHA;
    ctx.drawImage(sc, 0, 0);
    ctx.globalAlpha = 1;

    if (scene.trail && scene.trail.length >= 6) {
      ctx.strokeStyle = "rgba(242,204,89,0.5)";
      ctx.lineWidth = Math.max(1.5, h / 480);
      ctx.beginPath();
      let started = false;
      for (let i = 0; i < scene.trail.length; i += 3) {
        const p = project(scene.trail[i], 0, scene.trail[i + 2]);
        if (!p) { started = false; continue; }
        if (started) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]);
        started = true;
      }
      ctx.stroke();
    }
    if (scene.path && scene.path.length) {
      ctx.strokeStyle = "rgba(94,214,214,0.75)";
      ctx.lineWidth = Math.max(1.5, h / 400);
      ctx.beginPath();
      let started = false;
      for (const [x, z] of scene.path) {
        const p = project(x, 0, z);
        if (!p) { started = false; continue; }
        if (started) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]);
        started = true;
      }
      ctx.stroke();
      ctx.fillStyle = "rgba(94,214,214,0.95)";
      for (const [x, z] of scene.path) {
        const p = project(x, 0.006, z);
        if (!p) continue;
        ctx.beginPath();
        ctx.arc(p[0], p[1], Math.max(3, (0.06 * pixelsPerUnit) / p[2]), 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    for (const c of scene.contacts || []) {
      ctx.fillStyle = "rgba(250,209,77,0.55)";
      ctx.beginPath();
      let ok = true;
      for (let k = 0; k < 24 && ok; k++) {
        const u = (k / 24) * 2 * Math.PI;
        const p = project(c[0] + 0.075 * Math.cos(u), 0.004, c[1] + 0.075 * Math.sin(u));
        if (!p) ok = false;
        else if (k === 0) ctx.moveTo(p[0], p[1]);
        else ctx.lineTo(p[0], p[1]);
      }
      if (ok) ctx.fill();
    }

    // Per figure (farthest first): a dark silhouette, then the limbs far to near, then a highlight along
    // each limb's upper-left edge, so the sticks read as round capsules without per-pixel lighting.
    const eye = camera.eye();
    const dist = (p) => Math.hypot(p[0] - eye[0], p[1] - eye[1], p[2] - eye[2]);
    const mid = (it) => [(it.a[0] + it.b[0]) / 2, (it.a[1] + it.b[1]) / 2, (it.a[2] + it.b[2]) / 2];
    const groups = figures.map((parts) => {
      const items = [
        ...parts.capsules.map((c) => ({ a: c.a, b: c.b, r: c.r, color: c.color })),
        ...parts.balls.map((b) => ({ a: b.c, b: b.c, r: b.r, color: b.color })),
      ];
      items.sort((x, y) => dist(mid(y)) - dist(mid(x)));
      return { items, depth: Math.min(...items.map((it) => dist(mid(it)))) };
    });
    groups.sort((x, y) => y.depth - x.depth);
    ctx.lineCap = "round";
    const shape = (it, r, color) => (it.a === it.b ? disc(ctx, it.a, r, color) : stroke(ctx, it.a, it.b, r, color));
    for (const { items } of groups) {
      for (const it of items) shape(it, it.r + 0.012, "rgba(10,12,16,0.9)");
      for (const it of items) shape(it, it.r, rgb(it.color, 0.82));
      ctx.save();
      ctx.translate(-Math.max(1, h / 400), -Math.max(1, h / 400));
      for (const it of items) shape(it, it.r * 0.45, rgb(it.color, 1.12));
      ctx.restore();
    }
  }
}
