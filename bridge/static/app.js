// The MotionBridge preview page: talks protocol v1 to the daemon that served it (docs/protocol.md),
// shows coarse previews while sampling, plays the result in the 3D view and downloads exports.
//
// Codec choice, measured in headless Chromium 156 (shared 2-core CPU) on one final `motion` message of a
// 10 s clip (300 frames × 22 joints), frames made by the daemon's own encoder
// (python tests/browser/codec_measurement.py; median per message until root/rotations are Float32Arrays):
//   msgpack: 109,554 bytes, decode + float views    0.22–0.24 ms
//   json:    146,049 bytes, JSON.parse + base64     0.72–0.79 ms   (+33 % bytes, ~3.3× decode time)
// MessagePack is the default; `?codec=json` switches to the JSON subprotocol. `?renderer=webgl|canvas2d`
// overrides the renderer choice (see view.js createRenderer).
// Automated checks rely on: #prompt, #generate, canvas#view and body[data-state] = idle|generating|done|error.
// Directing (protocol v1.1, offered only when hello.capabilities lists it): #continue starts the next clip at
// the end of the shown variation ("constraints"), #timeline sends `segments` once it has two rows
// ("timeline") and done.segments marks the boundaries on the scrubber; #draw-path turns clicks on the ground of
// the 3D view into `path` waypoints ("constraints").
// Live mode (v1.1 "live"): #live starts an endless stream (`live_start` with #area), played in real time from the
// frames buffered as they arrive; prompt edits steer it (`live_prompt`, debounced), #record saves the last
// #record-seconds played as NPZ, and turning #live off sends `live_stop`. body[data-state] is "live" meanwhile.

import { decode, encode } from "./msgpack.js";
import { ClipAssembler, LiveBuffer, Skeleton, forwardKinematics, makePose, samplePose } from "./motion.js";
import { motionNpz } from "./npz.js";
import { OrbitCamera, attachOrbitControls, createRenderer, groundPoint } from "./view.js";

const CLIENT = "motionbridge-browser/0.1.0";
const SUBPROTOCOLS = { msgpack: "motionbridge.v1.msgpack", json: "motionbridge.v1.json" };
const HISTORY_KEY = "motionbridge.history";
const TOKEN_KEY = "motionbridge.token";
const HISTORY_SIZE = 12;
const PREVIEWS_PER_RUN = 6;
/** Live mode: frames held ahead of real time (the daemon paces to it), how much played motion stays for Record
 * (and review after stopping), and how long the prompt must rest before the edit steers the stream. */
const LIVE_BUFFER_MS = 500;
const LIVE_KEEP_S = 60;
const LIVE_PROMPT_DEBOUNCE_MS = 400;
const LIVE_LOG_SIZE = 5000;
// Close codes after which reconnecting cannot help until the user changes something.
const FINAL_CLOSES = { 4001: "unauthorized: the token is missing or wrong", 4002: "the daemon refused the subprotocol",
  4006: "the daemon does not speak protocol 1" };

const $ = (sel) => document.querySelector(sel);
const ui = {
  form: $("#request"), prompt: $("#prompt"), promptCount: $("#prompt-count"),
  seconds: $("#seconds"), seed: $("#seed"), randomSeed: $("#random-seed"), samples: $("#samples"),
  steps: $("#steps"), cfg: $("#cfg"), livePreview: $("#live-preview"),
  generate: $("#generate"), cancel: $("#cancel"), progress: $("#progress"), progressText: $("#progress-text"),
  message: $("#message"), connection: $("#connection"), tokenForm: $("#token-form"), token: $("#token"),
  history: $("#history"), clearHistory: $("#clear-history"),
  canvas: $("canvas#view"), overlay: $("#overlay"), rendererKind: $("#renderer-kind"),
  play: $("#play"), scrub: $("#scrub"), time: $("#time"), loop: $("#loop"), speed: $("#speed"),
  follow: $("#follow"), sideBySide: $("#side-by-side"), variations: $("#variations"),
  downloads: [...document.querySelectorAll("#downloads button")], resultInfo: $("#result-info"),
  continue: $("#continue"), timeline: $("#timeline"), timelineRows: $("#timeline-rows"),
  addSegment: $("#add-segment"), timelineTotal: $("#timeline-total"), segmentMarks: $("#segment-marks"),
  pathTools: $("#path-tools"), drawPath: $("#draw-path"), undoWaypoint: $("#undo-waypoint"),
  clearPath: $("#clear-path"), pathInfo: $("#path-info"),
  liveTools: $("#live-tools"), live: $("#live"), area: $("#area"), record: $("#record"),
  recordSeconds: $("#record-seconds"), liveInfo: $("#live-info"),
};

const params = new URLSearchParams(location.search);
const codec = params.get("codec") === "json" ? "json" : "msgpack";

/** What the page knows; `window.motionbridge` exposes it for diagnostics. */
const app = {
  hello: null,
  skeleton: null,
  run: null, // the request in flight or last finished: {id, job, prompt, assembler, progress, done, seed}
  live: null, // the live session running or last stopped (startLive documents its fields)
  clips: [], // final clips of the last run, by sample
  selected: 0,
  path: [], // root path waypoints drawn on the ground, [x, z] in the page's smplh world (metres)
  time: 0,
  playing: true,
  stats: { codec, lastMotion: null },
};
window.motionbridge = app;

// ------------------------------------------------------------------ state and messages

function setState(state) {
  document.body.dataset.state = state;
  const generating = state === "generating";
  ui.generate.disabled = generating || state === "live" || document.body.dataset.connection !== "ready";
  ui.cancel.disabled = !generating;
  updateContinue();
  updateLiveControls();
}

function hasCapability(name) {
  const caps = app.hello && app.hello.capabilities;
  return Array.isArray(caps) && caps.includes(name);
}

/** "Continue from end" needs the daemon's constraints and a finished job whose end is on screen. */
function updateContinue() {
  if (!ui.continue) return;
  ui.continue.hidden = !hasCapability("constraints");
  const r = app.run;
  ui.continue.disabled = ui.continue.hidden || document.body.dataset.state !== "done" || !r || !r.done || !r.job
    || document.body.dataset.connection !== "ready";
}

function showMessage(text, { kind = "error", title = "" } = {}) {
  ui.message.hidden = false;
  ui.message.className = kind === "note" ? "note" : "";
  ui.message.replaceChildren();
  if (title) {
    const strong = document.createElement("strong");
    strong.textContent = `${title}: `;
    ui.message.append(strong);
  }
  ui.message.append(text);
}

function clearMessage() {
  ui.message.hidden = true;
  ui.message.textContent = "";
}

const ERROR_TITLES = {
  too_long: "Too long", busy: "Daemon busy", bad_request: "Bad request", model_error: "Model error",
  internal: "Daemon error", not_found: "Not found", cancelled: "Cancelled",
};

function showDaemonError(msg) {
  const hint = msg.code === "busy" ? " Try again in a moment." : "";
  showMessage(`${msg.message || msg.code}${hint}`, { title: ERROR_TITLES[msg.code] || msg.code });
}

// ------------------------------------------------------------------ connection

class Connection {
  constructor() {
    this.ws = null;
    this.retry = 0;
    this.timer = null;
  }

  open() {
    clearTimeout(this.timer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/v1`, [SUBPROTOCOLS[codec]]);
    ws.binaryType = "arraybuffer";
    // A socket replaced by open() (new token) may still deliver its close: only the current one counts.
    ws.onmessage = (e) => { if (ws === this.ws) this.receive(e.data); };
    ws.onclose = (e) => { if (ws === this.ws) this.closed(e); };
    this.ws = ws;
    setConnection("connecting", "Connecting to the daemon…");
  }

  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error("not connected to the daemon");
    this.ws.send(codec === "json" ? JSON.stringify(msg) : encode(msg));
  }

  receive(data) {
    const t0 = performance.now();
    let msg;
    try {
      msg = codec === "json" ? JSON.parse(data) : decode(new Uint8Array(data));
    } catch (err) {
      showMessage(String(err.message || err), { title: "Undecodable message from the daemon" });
      return;
    }
    if (!msg || typeof msg !== "object") return; // the protocol only sends maps
    const bytes = typeof data === "string" ? data.length : data.byteLength;
    if (msg.op === "motion") app.stats.lastMotion = { bytes, decodeMs: performance.now() - t0, count: msg.count };
    handle(msg);
  }

  closed(e) {
    this.ws = null;
    const reason = FINAL_CLOSES[e.code];
    if (liveRunning()) endLive("Live ended: the connection to the daemon dropped.");
    if (app.run && document.body.dataset.state === "generating") {
      // Replayed with `fetch` after reconnecting if the daemon had accepted it (see onReady).
      app.run.lost = true;
      ui.progressText.textContent = "Connection lost";
    }
    if (reason) {
      setConnection("closed", `Disconnected (${e.code}): ${reason}`);
      showMessage(reason, { title: `Connection closed (${e.code})` });
      if (e.code === 4001) ui.tokenForm.hidden = false;
      setState("error");
      return;
    }
    const delay = Math.min(10, 0.5 * 2 ** this.retry++);
    const why = e.code === 1001 ? "daemon restarting" : `code ${e.code}`;
    setConnection("closed", `Disconnected (${why}); retrying in ${delay.toFixed(1)} s…`);
    this.timer = setTimeout(() => this.open(), delay * 1000);
  }
}

const connection = new Connection();

function setConnection(kind, text) {
  document.body.dataset.connection = kind;
  ui.connection.textContent = text;
  const state = document.body.dataset.state;
  ui.generate.disabled = kind !== "ready" || state === "generating" || state === "live";
  updateContinue();
  updateLiveControls();
}

function handle(msg) {
  if (app.live && msg.id === app.live.id) return onLive(msg);
  switch (msg.op) {
    case "hello": return onHello(msg);
    case "ready": return onReady();
    case "accepted": return forRun(msg, onAccepted);
    case "progress": return forRun(msg, onProgress);
    case "motion": return forRun(msg, onMotion);
    case "done": return forRun(msg, onDone);
    case "error": return onError(msg);
    default: return undefined; // other ops (status replies, future events) are not the page's business
  }
}

function forRun(msg, fn) {
  if (app.run && msg.id === app.run.id) fn(msg);
}

function onHello(msg) {
  try {
    app.skeleton = new Skeleton(msg.skeleton);
  } catch (err) {
    showMessage(err.message, { title: "Unusable skeleton in hello" });
    return;
  }
  app.hello = msg;
  applyLimits(msg);
  const identify = { op: "identify", protocol: 1, client: CLIENT };
  if (msg.auth === "token") {
    const token = params.get("token") || localStorage.getItem(TOKEN_KEY);
    if (!token) {
      ui.tokenForm.hidden = false;
      setConnection("closed", "This daemon needs an access token.");
      ui.token.focus();
      return;
    }
    identify.token = token;
  }
  connection.send(identify);
}

function onReady() {
  connection.retry = 0;
  const m = app.hello.model || {};
  setConnection("ready", `Connected · model ${m.name || "?"} on ${m.device || "?"} · ${codec}`);
  ui.tokenForm.hidden = true;
  if (!app.clips.length) showClips([app.skeleton.restClip()]);
  const r = app.run;
  if (r && r.lost && r.job) {
    // The connection dropped mid-run; a finished job is kept by the daemon and can be replayed.
    r.lost = false;
    r.id = `fetch-${Date.now().toString(36)}`;
    r.assembler = new ClipAssembler(app.skeleton.count);
    connection.send({ op: "fetch", id: r.id, job: r.job, target: "smplh" });
  } else if (r && r.lost) {
    r.lost = false;
    setState("error");
    showMessage("The connection dropped before the daemon accepted the request; generate again.",
      { title: "Connection lost" });
  }
}

function applyLimits(msg) {
  const lim = msg.limits || {};
  const model = msg.model || {};
  if (lim.max_seconds) ui.seconds.max = lim.max_seconds;
  if (lim.max_samples) ui.samples.max = lim.max_samples;
  if (lim.max_steps) ui.steps.max = lim.max_steps;
  if (!ui.steps.dataset.touched && model.default_steps) ui.steps.value = model.default_steps;
  if (!ui.cfg.dataset.touched && model.default_cfg != null) ui.cfg.value = model.default_cfg;
  const formats = Array.isArray(msg.formats) ? msg.formats : ["npz", "bvh", "glb"];
  for (const b of ui.downloads) b.hidden = !formats.includes(b.dataset.format);
  ui.timeline.hidden = !hasCapability("timeline");
  ui.pathTools.hidden = !hasCapability("constraints");
  if (ui.pathTools.hidden) setDrawing(false);
  ui.liveTools.hidden = !hasCapability("live");
  updatePromptCount();
  updateTimelineTotal();
  updateContinue();
}

// ------------------------------------------------------------------ generate / cancel

function readNumber(input, { integer = false } = {}) {
  const v = Number(input.value);
  if (input.value.trim() === "" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new Error(`${input.labels[0].textContent} must be ${integer ? "a whole number" : "a number"}`);
  }
  return v;
}

/** `start` continues a finished job's sample: {job, sample} (protocol v1.1 "constraints"). */
function generate({ start = null } = {}) {
  if (document.body.dataset.state === "generating" || liveRunning()) return;
  clearMessage();
  let request;
  let segments = null;
  try {
    segments = timelineSegments();
    request = {
      op: "generate",
      id: `g-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`,
      prompt: ui.prompt.value,
      seconds: readNumber(ui.seconds),
      seed: readNumber(ui.seed, { integer: true }),
      samples: readNumber(ui.samples, { integer: true }),
      steps: readNumber(ui.steps, { integer: true }),
      cfg: readNumber(ui.cfg),
      target: "smplh",
    };
  } catch (err) {
    showMessage(err.message, { title: "Check the settings" });
    setState("error");
    return;
  }
  if (segments) {
    // A timeline: each segment has its own prompt, the clip lasts their sum (docs/directing.md).
    delete request.prompt;
    request.segments = segments;
    request.seconds = Number(segments.reduce((sum, s) => sum + s.seconds, 0).toFixed(6));
  } else if (!request.prompt.trim()) {
    showMessage("Type what the character should do.", { title: "Empty prompt" });
    ui.prompt.focus();
    setState("error");
    return;
  }
  if (start) request.start = start;
  if (app.path.length && !ui.pathTools.hidden) request.path = pathWaypoints(request.seconds);
  if (ui.livePreview.checked) request.preview_every = Math.max(1, Math.round(request.steps / PREVIEWS_PER_RUN));
  const label = segments ? segments.map((s) => s.prompt).join(" → ") : request.prompt;
  app.run = {
    id: request.id, job: null, prompt: label, seed: request.seed, samples: request.samples, start,
    assembler: new ClipAssembler(app.skeleton.count), progress: null, done: null, lost: false,
  };
  try {
    connection.send(request);
  } catch (err) {
    showMessage(err.message, { title: "Not connected" });
    setState("error");
    return;
  }
  app.run.request = request;
  setState("generating");
  setDownloads(false);
  ui.progress.removeAttribute("value"); // indeterminate until the first step
  ui.progressText.textContent = "Sending…";
  ui.resultInfo.textContent = "";
  showSegmentMarks(null);
}

/** Continues the shown variation of the finished run from its last frame, with the prompt (or timeline). */
function continueFromEnd() {
  const r = app.run;
  if (ui.continue.disabled || !r || !r.done || !r.job) return;
  generate({ start: { job: r.job, sample: app.selected } });
}

// ------------------------------------------------------------------ root path (protocol v1.1 "constraints")

/** The drawn waypoints as `path`: evenly spaced times, the last on the clip's last frame; positions in the
 * request's target convention (smplh: metres, Y up, whose component the daemon ignores). */
function pathWaypoints(seconds) {
  const fps = (app.hello && app.hello.model && app.hello.model.fps) || 30;
  const last = Math.max(1, Math.round(seconds * fps) - 1) / fps;
  const n = app.path.length;
  return app.path.map(([x, z], i) => ({ time: Number(((last * (i + 1)) / n).toFixed(6)), position: [x, 0, z] }));
}

function setDrawing(on) {
  ui.drawPath.setAttribute("aria-pressed", String(on));
  if (on) {
    ui.canvas.dataset.drawing = "1";
    // A following camera would move the ground under the pointer between clicks.
    ui.follow.checked = false;
    camera.follow = false;
  } else delete ui.canvas.dataset.drawing;
}

function updatePath() {
  const n = app.path.length;
  ui.undoWaypoint.disabled = !n;
  ui.clearPath.disabled = !n;
  ui.pathInfo.textContent = n ? `${n} waypoint${n > 1 ? "s" : ""}` : "No path";
  invalidate();
}

let pointerDown = null;
ui.canvas.addEventListener("pointerdown", (e) => { pointerDown = { x: e.clientX, y: e.clientY }; });
ui.canvas.addEventListener("pointerup", (e) => {
  const down = pointerDown;
  pointerDown = null;
  // A click, not an orbit drag: the pointer stayed within a few pixels.
  if (!ui.canvas.dataset.drawing || !down || Math.hypot(e.clientX - down.x, e.clientY - down.y) > 4) return;
  const p = groundPoint(camera, ui.canvas, e.clientX, e.clientY);
  if (!p) return;
  const max = (app.hello && app.hello.limits && app.hello.limits.max_keys) || 64;
  if (app.path.length >= max) {
    showMessage(`A path has at most ${max} waypoints.`, { kind: "note", title: "Path" });
    return;
  }
  app.path.push([Number(p[0].toFixed(4)), Number(p[1].toFixed(4))]);
  updatePath();
});

// ------------------------------------------------------------------ timeline (protocol v1.1 "timeline")

/** The timeline's segments when it has two rows or more, else null (one row is just a prompt). */
function timelineSegments() {
  const rows = [...ui.timelineRows.children];
  if (ui.timeline.hidden || rows.length < 2) return null;
  return rows.map((li, i) => {
    const prompt = li.querySelector("input[type=text]").value.trim();
    if (!prompt) throw new Error(`Segment ${i + 1} needs a prompt`);
    const seconds = readNumber(li.querySelector("input[type=number]"));
    if (!(seconds > 0)) throw new Error(`Segment ${i + 1}'s seconds must be more than 0`);
    return { prompt, seconds };
  });
}

function addSegment(prompt = "", seconds = 2) {
  const li = document.createElement("li");
  const index = document.createElement("span");
  index.className = "index";
  const text = document.createElement("input");
  text.type = "text";
  text.value = prompt;
  text.placeholder = "what happens in this stretch";
  const secs = document.createElement("input");
  secs.type = "number";
  secs.min = "0.1";
  secs.step = "0.1";
  secs.value = String(seconds);
  secs.inputMode = "decimal";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "small remove-segment";
  remove.textContent = "Remove";
  remove.addEventListener("click", () => {
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    renumberTimeline();
    (next ? next.querySelector("input[type=text]") : ui.addSegment).focus();
  });
  secs.addEventListener("input", updateTimelineTotal);
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); generate(); }
  });
  li.append(index, text, secs, remove);
  ui.timelineRows.append(li);
  renumberTimeline();
  return li;
}

function renumberTimeline() {
  [...ui.timelineRows.children].forEach((li, i) => {
    const n = i + 1;
    li.querySelector(".index").textContent = `${n}.`;
    li.querySelector("input[type=text]").setAttribute("aria-label", `Segment ${n} prompt`);
    li.querySelector("input[type=number]").setAttribute("aria-label", `Segment ${n} seconds`);
    li.querySelector(".remove-segment").setAttribute("aria-label", `Remove segment ${n}`);
  });
  updateTimelineTotal();
}

function updateTimelineTotal() {
  const rows = [...ui.timelineRows.children];
  const total = rows.reduce((sum, li) => sum + (Number(li.querySelector("input[type=number]").value) || 0), 0);
  const max = app.hello && app.hello.limits && app.hello.limits.max_seconds;
  ui.timelineTotal.classList.toggle("over", Boolean(max && total > max));
  ui.timelineTotal.textContent = rows.length < 2
    ? (rows.length ? "Add one more segment to use the timeline" : "")
    : `${rows.length} segments · ${total.toFixed(1)} s${max ? ` of at most ${max} s` : ""}`;
}

/** Marks where each segment starts on the scrubber (done.segments, frames) and lists them in words. */
function showSegmentMarks(segments, frames = 0, fps = 30) {
  ui.segmentMarks.replaceChildren();
  app.segments = segments || null;
  if (!segments || segments.length < 2 || frames < 2) return "";
  for (const s of segments.slice(1)) {
    const mark = document.createElement("span");
    mark.style.left = `${(100 * s.start) / (frames - 1)}%`;
    mark.title = `Segment starts at ${(s.start / fps).toFixed(2)} s`;
    ui.segmentMarks.append(mark);
  }
  return segments.map((s, i) => `${i + 1}: ${(s.start / fps).toFixed(2)}–${((s.start + s.count) / fps).toFixed(2)} s`)
    .join(", ");
}

function cancel() {
  if (!app.run || document.body.dataset.state !== "generating") return;
  try {
    connection.send({ op: "cancel", id: app.run.id });
    ui.progressText.textContent = "Cancelling…";
  } catch (err) {
    showMessage(err.message, { title: "Not connected" });
  }
}

function onAccepted(msg) {
  app.run.job = msg.job;
  if (app.run.request.prompt) remember(app.run.request); // timelines are not kept in the history
  ui.progressText.textContent = msg.queue_position > 0 ? `Queued (${msg.queue_position} ahead)` : "Starting…";
}

function onProgress(msg) {
  app.run.progress = msg;
  ui.progress.max = msg.steps;
  ui.progress.value = msg.step;
  const eta = msg.eta_ms != null ? ` · ${(msg.eta_ms / 1000).toFixed(1)} s left` : "";
  ui.progressText.textContent = `Step ${msg.step} / ${msg.steps}${eta}`;
}

function onMotion(msg) {
  let clip;
  try {
    clip = app.run.assembler.add(msg, app.run.progress);
  } catch (err) {
    showMessage(err.message, { title: "Bad motion message" });
    return;
  }
  if (!clip) return;
  if (clip.seed == null) clip.seed = app.run.seed + (msg.sample || 0);
  if (clip.preview) {
    if ((msg.sample || 0) === Math.min(app.selected, app.run.samples - 1)) {
      showPreview(app.run.assembler.previews);
    }
    return;
  }
  ui.progressText.textContent = "Receiving…";
}

function onDone(msg) {
  const r = app.run;
  r.done = msg;
  r.job = msg.job;
  const finals = [...r.assembler.finals.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  if (!finals.length) {
    setState("error");
    showMessage("The daemon finished without sending any motion.", { title: "Empty result" });
    return;
  }
  app.selected = Math.min(app.selected, finals.length - 1);
  showClips(finals);
  ui.progress.max = 1;
  ui.progress.value = 1;
  const t = msg.timings || {};
  ui.progressText.textContent = msg.cached ? "Done (cached)" : "Done";
  ui.resultInfo.textContent = `“${r.prompt}” · ${finals.length} variation${finals.length > 1 ? "s" : ""} · ` +
    `${(msg.seconds ?? finals[0].seconds).toFixed(2)} s · ` +
    (t.total_ms != null ? `generated in ${(t.total_ms / 1000).toFixed(2)} s` : "") +
    (msg.cached ? " (cached)" : "");
  const marks = showSegmentMarks(Array.isArray(msg.segments) ? msg.segments : null, finals[0].frames, finals[0].fps);
  if (marks) ui.resultInfo.textContent += ` · segments ${marks}`;
  if (r.start) ui.resultInfo.textContent += " · continued from the previous clip";
  setDownloads(true);
  setState("done");
}

function onError(msg) {
  const mine = app.run && msg.id === app.run.id;
  if (mine && msg.code === "cancelled") {
    ui.progress.value = 0;
    ui.progressText.textContent = "Cancelled";
    showMessage("Generation was cancelled.", { kind: "note", title: "Cancelled" });
    showClips(app.clips.length ? app.clips : [app.skeleton.restClip()]);
    setState("idle");
    return;
  }
  showDaemonError(msg);
  if (mine || msg.id == null) {
    ui.progress.value = 0;
    ui.progressText.textContent = "Failed";
    if (mine || document.body.dataset.state === "generating") setState("error");
  }
}

// ------------------------------------------------------------------ live mode (protocol v1.1 "live")

/** A live session that has not ended yet (starting, streaming or stopping). */
function liveRunning() {
  return Boolean(app.live) && app.live.state !== "stopped";
}

/** The live stream is on screen: running, and its first frames are in. */
function liveShowing() {
  return liveRunning() && app.live.clock != null;
}

function updateLiveControls() {
  if (!ui.live) return;
  const L = app.live;
  const state = document.body.dataset.state;
  ui.live.checked = liveRunning() && L.state !== "stopping";
  ui.live.disabled = ui.liveTools.hidden || document.body.dataset.connection !== "ready" || state === "generating"
    || (L != null && L.state === "stopping");
  ui.area.disabled = liveRunning();
  ui.record.disabled = !L || L.clock == null || L.buffer.frames === 0;
  ui.play.disabled = liveShowing();
  ui.scrub.disabled = liveShowing();
}

function startLive() {
  if (liveRunning() || document.body.dataset.state === "generating") return;
  clearMessage();
  const prompt = ui.prompt.value.trim();
  let request;
  try {
    if (!prompt) throw new Error("Type what the character should do, then turn Live on.");
    const area = readNumber(ui.area);
    if (area < 0) throw new Error("Area radius must be 0 (anywhere) or more metres");
    request = { op: "live_start", id: `live-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`,
      prompt, target: "smplh", seed: readNumber(ui.seed, { integer: true }), buffer_ms: LIVE_BUFFER_MS, area };
  } catch (err) {
    showMessage(err.message, { title: "Live" });
    updateLiveControls();
    return;
  }
  const fps = (app.hello.model && app.hello.model.fps) || 30;
  app.live = {
    id: request.id, request, job: null, state: "starting",
    buffer: new LiveBuffer(app.skeleton.count, fps, Math.round((LIVE_KEEP_S + 30) * fps)),
    clock: null, // performance.now() of the last playhead update; null until the first frames arrive
    playhead: 0, // seconds since the session's first frame, advancing with the wall clock
    prompt, // the prompt last sent (live_start's, then each live_prompt's)
    prompts: [], // live_prompt messages sent: {prompt, at: frames received by then}
    states: [], // live_state replies: {prompt, frame}
    log: [], // the newest motion messages: {start, count}
    done: null, recording: null, timer: null, trailAt: 0,
  };
  try {
    connection.send(request);
  } catch (err) {
    app.live.state = "stopped";
    showMessage(err.message, { title: "Not connected" });
    updateLiveControls();
    return;
  }
  setDrawing(false);
  // The stream may walk anywhere: the camera follows the character.
  ui.follow.checked = true;
  camera.follow = true;
  setDownloads(false);
  showSegmentMarks(null);
  ui.liveInfo.textContent = "Starting…";
  ui.resultInfo.textContent = "";
  setState("live");
}

function stopLive() {
  const L = app.live;
  if (!liveRunning() || L.state === "stopping") return;
  clearTimeout(L.timer);
  try {
    connection.send({ op: "live_stop", id: L.id });
  } catch {
    endLive("Live ended: not connected to the daemon.");
    return;
  }
  L.state = "stopping";
  ui.liveInfo.textContent = "Stopping…";
  updateLiveControls();
}

/** After an edit of the prompt box: steer a running stream once the text has rested. */
function livePromptEdited() {
  const L = app.live;
  if (!liveRunning() || L.state === "stopping") return;
  clearTimeout(L.timer);
  L.timer = setTimeout(sendLivePrompt, LIVE_PROMPT_DEBOUNCE_MS);
}

function sendLivePrompt() {
  const L = app.live;
  const prompt = ui.prompt.value.trim();
  if (!liveRunning() || L.state === "stopping" || !prompt || prompt === L.prompt) return;
  try {
    connection.send({ op: "live_prompt", id: L.id, prompt });
  } catch (err) {
    showMessage(err.message, { title: "Not connected" });
    return;
  }
  L.prompt = prompt;
  L.prompts.push({ prompt, at: L.buffer.end });
  ui.liveInfo.textContent = `Steering: “${prompt}”…`;
}

function onLive(msg) {
  const L = app.live;
  switch (msg.op) {
    case "accepted":
      L.job = msg.job;
      if (L.state === "starting") L.state = "live";
      if (L.clock == null) ui.liveInfo.textContent = "Live · waiting for the first frames…";
      return;
    case "motion": return onLiveMotion(msg);
    case "live_state": {
      L.states.push({ prompt: msg.prompt, frame: msg.frame });
      ui.liveInfo.textContent = `Following: “${msg.prompt}” from frame ${msg.frame} ` +
        `(${(msg.frame / L.buffer.fps).toFixed(2)} s)`;
      updateOverlay();
      return;
    }
    case "done": {
      L.done = msg;
      endLive(`Live stopped · ${msg.frames} frames (${(msg.seconds ?? msg.frames / L.buffer.fps).toFixed(2)} s) ` +
        "streamed · scrub to review, Record saves from the end");
      return;
    }
    case "error":
      showDaemonError(msg);
      endLive(`Live failed: ${msg.message || msg.code}`);
      if (document.body.dataset.state !== "error") setState("error");
      return;
    default:
      return undefined;
  }
}

function onLiveMotion(msg) {
  const L = app.live;
  try {
    L.buffer.append(msg);
  } catch (err) {
    showMessage(err.message, { title: "Bad live motion" });
    stopLive();
    return;
  }
  L.log.push({ start: msg.start, count: msg.count });
  if (L.log.length > LIVE_LOG_SIZE) L.log.splice(0, L.log.length - LIVE_LOG_SIZE);
  if (L.clock == null) {
    L.clock = performance.now();
    L.playhead = 0;
    if (!L.states.length) ui.liveInfo.textContent = `Following: “${L.request.prompt}”`;
    updateLiveControls();
  }
  showLiveClip();
}

/** Puts the buffered frames on screen (the buffer's clip views change with every append and drop). */
function showLiveClip() {
  const L = app.live;
  const clip = L.buffer.clip();
  shown = [clip];
  app.selected = 0;
  const now = performance.now();
  if (now - L.trailAt > 500) {
    L.trailAt = now;
    trail = trailOf(clip);
  }
  if (ui.variations.children.length) renderVariations();
  ui.scrub.max = duration();
  updateOverlay();
}

/** Moves the playhead on with the wall clock, never past the newest frame (a stalled stream holds its pose),
 * and forgets frames more than LIVE_KEEP_S behind it. */
function advanceLive(now) {
  const L = app.live;
  const b = L.buffer;
  L.playhead = Math.max(b.first / b.fps, Math.min((b.end - 1) / b.fps, L.playhead + (now - L.clock) / 1000));
  L.clock = now;
  const keepFrom = Math.floor((L.playhead - LIVE_KEEP_S) * b.fps);
  if (keepFrom - b.first >= b.fps) {
    b.dropBefore(keepFrom);
    L.trailAt = 0;
    showLiveClip();
  }
  app.time = L.playhead - b.first / b.fps;
}

/** The session ended (done, error, connection lost): what was played stays on screen as a clip to review. */
function endLive(text) {
  const L = app.live;
  clearTimeout(L.timer);
  L.state = "stopped";
  ui.liveInfo.textContent = text;
  if (L.clock != null && L.buffer.frames) {
    const clip = L.buffer.clip();
    clip.live = true;
    const time = L.playhead - L.buffer.first / L.buffer.fps;
    showClips([clip]);
    app.time = Math.min(time, duration());
    setPlaying(false);
  }
  if (document.body.dataset.state === "live") setState("idle");
  updateLiveControls();
}

/** The prompts the stream followed over frames from … to − 1, in order, joined with arrows. */
function livePromptsOver(from, to) {
  const L = app.live;
  const spans = [{ prompt: L.request.prompt, frame: 0 }, ...L.states];
  const seen = spans.filter((s, i) => s.frame < to && (i + 1 === spans.length || spans[i + 1].frame > from));
  return seen.map((s) => s.prompt).join(" → ");
}

/** Saves the last #record-seconds of the live motion played (up to the playhead) as an NPZ download. */
function recordLive() {
  const L = app.live;
  if (!L || L.clock == null || !L.buffer.frames) return;
  let seconds;
  try {
    seconds = readNumber(ui.recordSeconds);
    if (!(seconds > 0)) throw new Error("Record's seconds must be more than 0");
  } catch (err) {
    showMessage(err.message, { title: "Record" });
    return;
  }
  const b = L.buffer;
  const to = Math.min(b.end, Math.floor(L.playhead * b.fps + 1e-6) + 1);
  const from = Math.max(b.first, to - Math.round(seconds * b.fps));
  const text = livePromptsOver(from, to);
  const blob = motionNpz({ ...b.slice(from, to), fps: b.fps, text, seed: L.request.seed,
    model: (app.hello.model && app.hello.model.name) || "" });
  const name = `${slug(L.request.prompt)}-live-${(from / b.fps).toFixed(1)}s-${((to - from) / b.fps).toFixed(1)}s.npz`;
  L.recording = { from, count: to - from, name, text };
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  showMessage(`${((to - from) / b.fps).toFixed(2)} s (frames ${from}–${to - 1}) saved as ${name}`,
    { kind: "note", title: "Recorded" });
}

// ------------------------------------------------------------------ downloads

function setDownloads(enabled) {
  for (const b of ui.downloads) b.disabled = !enabled;
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 40) || "motion";
}

async function download(format) {
  const r = app.run;
  if (!r || !r.done || !r.job) return;
  const sample = app.selected;
  const listed = r.done.files && r.done.files[format] && r.done.files[format][sample];
  const url = new URL(listed || `/v1/jobs/${encodeURIComponent(r.job)}/${sample}.${format}`, location.href);
  url.searchParams.set("target", "smplh");
  const token = params.get("token") || localStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const button = ui.downloads.find((b) => b.dataset.format === format);
  button.disabled = true;
  try {
    const res = await fetch(url, { headers });
    if (!res.ok) {
      const detail = (await res.text()).trim().slice(0, 300);
      const why = res.status === 501 ? `${format.toUpperCase()} export is not available in this daemon build.`
        : `HTTP ${res.status}${detail ? `: ${detail}` : ""}`;
      showMessage(why, { title: `Download failed` });
      return;
    }
    const blob = await res.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${slug(r.prompt)}-seed${r.seed + sample}.${format}`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  } catch (err) {
    showMessage(String(err.message || err), { title: "Download failed" });
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ history (localStorage)

function loadHistory() {
  try {
    const items = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(items) ? items.filter((h) => h && typeof h.prompt === "string") : [];
  } catch {
    return [];
  }
}

function remember(req) {
  const entry = { prompt: req.prompt, seconds: req.seconds, seed: req.seed, samples: req.samples,
    steps: req.steps, cfg: req.cfg };
  const items = [entry, ...loadHistory().filter((h) => h.prompt !== req.prompt)].slice(0, HISTORY_SIZE);
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(items));
  } catch {
    // Storage full or disabled (private mode): history is a convenience, generation goes on.
  }
  renderHistory();
}

function renderHistory() {
  const items = loadHistory();
  ui.history.replaceChildren();
  ui.clearHistory.disabled = !items.length;
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "Prompts you generate appear here.";
    ui.history.append(li);
    return;
  }
  for (const h of items) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = h.prompt;
    b.title = `${h.prompt}\n${h.seconds} s · seed ${h.seed} · ${h.samples} variation(s) · ${h.steps} steps · cfg ${h.cfg}`;
    b.addEventListener("click", () => {
      ui.prompt.value = h.prompt;
      for (const k of ["seconds", "seed", "samples", "steps", "cfg"]) if (h[k] != null) ui[k].value = h[k];
      updatePromptCount();
      livePromptEdited();
      ui.prompt.focus();
    });
    li.append(b);
    ui.history.append(li);
  }
}

// ------------------------------------------------------------------ playback and view

const camera = new OrbitCamera();
const renderer = createRenderer(ui.canvas, { webgl: "webgl", canvas2d: "canvas2d" }[params.get("renderer")] || "auto");
ui.rendererKind.textContent = renderer.kind === "webgl" ? "WebGL" : "Canvas 2D";
document.body.dataset.renderer = renderer.kind;
app.renderer = renderer;
app.camera = camera;
let shown = []; // clips on screen: the finals, or the newest previews while sampling
let trail = null;

function showClips(clips) {
  app.clips = clips.some((c) => c.preview || c.frames === 1) ? app.clips : clips;
  shown = clips;
  app.selected = Math.min(app.selected, clips.length - 1);
  trail = trailOf(shown[app.selected]);
  renderVariations();
  const d = duration();
  ui.scrub.max = d;
  ui.scrub.step = 1 / (shown[0].fps || 30);
  if (app.time > d) app.time = 0;
  updateOverlay();
  fitRow();
  invalidate();
}

function showPreview(previews) {
  const clips = [...previews.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  shown = clips;
  app.selected = Math.min(app.selected, clips.length - 1);
  trail = trailOf(shown[app.selected]);
  renderVariations();
  ui.scrub.max = duration();
  updateOverlay();
  invalidate();
}

function duration() {
  const c = shown[app.selected];
  return c ? Math.max(0, (c.frames - 1) / c.fps) : 0;
}

function trailOf(clip) {
  if (!clip || clip.frames < 2 || clip.preview) return null;
  const t = new Float32Array(clip.frames * 3);
  for (let f = 0; f < clip.frames; f++) {
    t[f * 3] = clip.root[f * 3];
    t[f * 3 + 2] = clip.root[f * 3 + 2];
  }
  return t;
}

function updateOverlay() {
  const c = shown[app.selected];
  if (!c) { ui.overlay.textContent = ""; return; }
  if (liveShowing()) {
    const L = app.live;
    const following = L.states.length ? L.states[L.states.length - 1].prompt : L.request.prompt;
    ui.overlay.textContent = `Live · ${following}`;
    return;
  }
  if (c.live) { ui.overlay.textContent = "Live session, stopped · scrub to review"; return; }
  if (c.preview) ui.overlay.textContent = `Coarse preview · step ${c.step ?? "?"}${c.steps ? ` / ${c.steps}` : ""}`;
  else if (c.frames === 1) ui.overlay.textContent = "Rest pose · type a prompt and press Generate";
  else ui.overlay.textContent = `Variation ${app.selected + 1}${c.seed != null ? ` · seed ${c.seed}` : ""}`;
}

function renderVariations() {
  ui.variations.replaceChildren();
  if (shown.length < 2) return;
  shown.forEach((c, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(i === app.selected));
    b.tabIndex = i === app.selected ? 0 : -1;
    b.textContent = `${i + 1}${c.seed != null ? ` · seed ${c.seed}` : ""}`;
    b.addEventListener("click", () => selectVariation(i));
    b.addEventListener("keydown", (e) => {
      const dir = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (!dir) return;
      e.preventDefault();
      selectVariation((i + dir + shown.length) % shown.length);
      ui.variations.children[app.selected].focus();
    });
    ui.variations.append(b);
  });
}

function selectVariation(i) {
  if (i < 0 || i >= shown.length) return;
  app.selected = i;
  trail = trailOf(shown[i]);
  renderVariations();
  ui.scrub.max = duration();
  updateOverlay();
  invalidate();
}

function setPlaying(playing) {
  app.playing = playing;
  invalidate();
  ui.play.textContent = playing ? "Pause" : "Play";
  ui.play.setAttribute("aria-pressed", String(playing));
}

function seek(t) {
  app.time = Math.min(Math.max(t, 0), duration());
  invalidate();
}

const poses = [];
const contactPose = makePose(64);
const FOOT_JOINTS = ["left_foot", "right_foot", "left_ankle", "right_ankle"];

/** Feet on the ground now: low and nearly still over the last frame (metres, metres per second). */
function contactsOf(skeleton, clip, time, pose) {
  if (!clip || clip.frames < 2 || clip.preview) return [];
  const prev = samplePose(clip, Math.max(0, time - 1 / clip.fps), contactPose);
  forwardKinematics(skeleton, prev);
  const out = [];
  for (const name of FOOT_JOINTS) {
    const j = skeleton.index[name];
    if (j == null) continue;
    const y = pose.worldPos[j * 3 + 1];
    const limit = name.endsWith("foot") ? 0.06 : 0.11;
    const speed = Math.hypot(pose.worldPos[j * 3] - prev.worldPos[j * 3],
      pose.worldPos[j * 3 + 2] - prev.worldPos[j * 3 + 2]) * clip.fps;
    if (y < limit && speed < 0.5) out.push([pose.worldPos[j * 3], pose.worldPos[j * 3 + 2]]);
  }
  return out;
}

// Drawing is on demand: at most 30 times a second while something moves (the clips are 30 fps), and once
// after any change while paused, so an idle page costs no GPU (or, without one, no CPU) time.
const DRAW_INTERVAL_MS = 1000 / 30;
let dirty = true;
let chasing = false; // the follow-cam is still easing toward the character
let last = performance.now();
let lastDraw = -Infinity;
let lastLabel = 0;

function invalidate() { dirty = true; }

function frame(now) {
  const dt = Math.min(0.1, (now - last) / 1000);
  last = now;
  const live = liveShowing();
  if (live) advanceLive(now);
  const d = duration();
  if (!live && app.playing && d > 0) {
    app.time += dt * Number(ui.speed.value);
    if (app.time > d) {
      if (ui.loop.checked) app.time %= d;
      else { app.time = d; setPlaying(false); }
    }
  }
  const moving = live || (app.playing && d > 0) || chasing;
  if (app.skeleton && shown.length && (dirty || (moving && now - lastDraw >= DRAW_INTERVAL_MS - 2))) {
    dirty = false;
    lastDraw = now;
    draw();
  }
  if (now - lastLabel > 60) {
    lastLabel = now;
    if (document.activeElement !== ui.scrub) ui.scrub.value = app.time;
    ui.time.textContent = live ? `live ${app.live.playhead.toFixed(2)} s`
      : `${app.time.toFixed(2)} / ${d.toFixed(2)} s`;
  }
  requestAnimationFrame(frame);
}

/** Side-by-side spacing along X (the characters' left-right axis, so they stand shoulder to shoulder). */
const SIDE_BY_SIDE_SPACING = 1.8;

/** Backs the camera off far enough to see a whole side-by-side row (horizontal field of view ≈ 66° at 16:9). */
function fitRow() {
  if (ui.sideBySide.checked && shown.length > 1) {
    camera.distance = Math.max(camera.distance, 1.05 * shown.length * SIDE_BY_SIDE_SPACING);
  }
}

function sideBySideOffset(i) {
  return ui.sideBySide.checked ? (i - (shown.length - 1) / 2) * SIDE_BY_SIDE_SPACING : 0;
}

function draw() {
  const sk = app.skeleton;
  const indices = ui.sideBySide.checked ? shown.map((_, i) => i) : [app.selected];
  const figures = [];
  let selectedPose = null;
  indices.forEach((i, k) => {
    const clip = shown[i];
    if (!poses[k]) poses[k] = makePose(sk.count);
    const t = Math.min(app.time, (clip.frames - 1) / clip.fps);
    const pose = forwardKinematics(sk, samplePose(clip, t, poses[k]));
    const style = clip.preview ? "preview" : i === app.selected || indices.length === 1 ? "final" : "dim";
    figures.push({ skeleton: sk, pose, style, offsetX: sideBySideOffset(i) });
    if (i === app.selected) selectedPose = pose;
  });
  const clip = shown[app.selected];
  chasing = false;
  if (ui.follow.checked && selectedPose) {
    // Tracking the selected clip's own root keeps a side-by-side row centred: the offsets sum to zero.
    chasing = camera.track(selectedPose.worldPos[0], selectedPose.worldPos[2], 0.15) > 0.002;
    // A live stream has no end to frame in advance: the camera also rises and sinks with the pelvis (slowly,
    // so steps do not bob the view), keeping a jump or a climb in the picture.
    const height = Math.min(3, Math.max(0.5, selectedPose.worldPos[1]));
    if (liveShowing()) camera.target[1] += (height - camera.target[1]) * 0.03;
  }
  const dx = sideBySideOffset(app.selected);
  const contacts = selectedPose ? contactsOf(sk, clip, Math.min(app.time, duration()), selectedPose) : [];
  renderer.render({
    figures,
    trail: dx ? shiftedTrail(dx) : trail,
    contacts: contacts.map(([x, z]) => [x + dx, z]),
    path: app.path.length ? app.path.map(([x, z]) => [x + dx, z]) : null,
  }, camera);
}

let shifted = { source: null, dx: 0, trail: null };
function shiftedTrail(dx) {
  if (!trail) return null;
  if (shifted.source !== trail || shifted.dx !== dx) {
    const t = trail.slice();
    for (let i = 0; i < t.length; i += 3) t[i] += dx;
    shifted = { source: trail, dx, trail: t };
  }
  return shifted.trail;
}

// ------------------------------------------------------------------ wiring

function updatePromptCount() {
  const max = app.hello && app.hello.limits && app.hello.limits.max_prompt_chars;
  const n = [...ui.prompt.value].length;
  ui.promptCount.textContent = max ? `${n} / ${max}` : String(n);
  ui.promptCount.classList.toggle("over", Boolean(max && n > max));
}

ui.form.addEventListener("submit", (e) => { e.preventDefault(); generate(); });
ui.prompt.addEventListener("input", () => { updatePromptCount(); livePromptEdited(); });
// Example prompts (docs/prompting.md): a click puts one in the box, ready to edit or generate.
for (const b of document.querySelectorAll("#examples button[data-prompt]")) {
  b.addEventListener("click", () => {
    ui.prompt.value = b.dataset.prompt;
    updatePromptCount();
    livePromptEdited();
    ui.prompt.focus();
  });
}
ui.prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); generate(); }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && document.body.dataset.state === "generating") { e.preventDefault(); cancel(); }
});
ui.cancel.addEventListener("click", cancel);
ui.continue.addEventListener("click", continueFromEnd);
ui.live.addEventListener("change", () => (ui.live.checked ? startLive() : stopLive()));
ui.record.addEventListener("click", recordLive);
ui.drawPath.addEventListener("click", () => setDrawing(ui.drawPath.getAttribute("aria-pressed") !== "true"));
ui.undoWaypoint.addEventListener("click", () => { app.path.pop(); updatePath(); });
ui.clearPath.addEventListener("click", () => { app.path = []; updatePath(); });
ui.addSegment.addEventListener("click", () => {
  // The first segment starts from what is in the prompt box, so a timeline grows out of a prompt.
  const first = !ui.timelineRows.children.length;
  const li = addSegment(first ? ui.prompt.value.trim() : "", first ? Number(ui.seconds.value) || 2 : 2);
  li.querySelector("input[type=text]").focus();
});
ui.randomSeed.addEventListener("click", () => { ui.seed.value = Math.floor(Math.random() * 100000); });
ui.steps.addEventListener("input", () => { ui.steps.dataset.touched = "1"; });
ui.cfg.addEventListener("input", () => { ui.cfg.dataset.touched = "1"; });
ui.clearHistory.addEventListener("click", () => { localStorage.removeItem(HISTORY_KEY); renderHistory(); });
ui.tokenForm.addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(TOKEN_KEY, ui.token.value.trim());
  clearMessage();
  setState("idle");
  const old = connection.ws;
  connection.open();
  old?.close();
});

ui.play.addEventListener("click", () => {
  if (!app.playing && app.time >= duration() - 1e-6) app.time = 0;
  setPlaying(!app.playing);
});
ui.scrub.addEventListener("input", () => { seek(Number(ui.scrub.value)); });
ui.follow.addEventListener("change", () => { camera.follow = ui.follow.checked; });
ui.downloads.forEach((b) => b.addEventListener("click", () => download(b.dataset.format)));

attachOrbitControls(ui.canvas, camera, (kind) => {
  if (kind === "follow-off") { ui.follow.checked = false; camera.follow = false; }
  invalidate();
});
for (const input of [ui.loop, ui.follow, ui.sideBySide]) input.addEventListener("change", invalidate);
ui.sideBySide.addEventListener("change", fitRow);
new ResizeObserver(invalidate).observe(ui.canvas);
ui.canvas.addEventListener("keydown", (e) => {
  const fps = shown[app.selected]?.fps || 30;
  const keys = {
    " ": () => ui.play.click(),
    k: () => ui.play.click(),
    ",": () => { setPlaying(false); seek(app.time - 1 / fps); },
    ".": () => { setPlaying(false); seek(app.time + 1 / fps); },
    Home: () => seek(0),
    End: () => seek(duration()),
    l: () => { ui.loop.checked = !ui.loop.checked; },
    f: () => { ui.follow.click(); },
  };
  if (/^[1-9]$/.test(e.key)) keys[e.key] = () => selectVariation(Number(e.key) - 1);
  const action = keys[e.key];
  if (!action) return;
  e.preventDefault();
  action();
});

renderHistory();
setState("idle");
connection.open();
requestAnimationFrame(frame);
