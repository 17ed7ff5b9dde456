"""Directed generation: requests with constraints, sampled as windows with known frames.

A request's clip (with a start motion's context frames in front of it) is covered by windows of at most the
model's training length. A window never spans two segments of a timeline: the first window of a segment
starts `overlap` frames before it, and those frames, already generated with the previous prompt, are known
to it, exactly as the context of a start motion is known to the first window. Each window runs in a frame
where its first known frame stands at the origin facing +Z (as the training clips do, the heading taken
from the hip line), with its goals moved into that frame; known frames are goals on every feature, so one
guide (`guidance.FeatureGuide`) can serve them and every constraint (`GUIDE_MODE` says which it serves:
by default the known frames only, as measured). Each window's first generated frame is joined onto its
known frames by inertialization (`joins`). After sampling, the clip is decoded, smoothed, grounded per
segment (not when a goal fixes the root height), warped so each goal holds exactly (`cleanup.apply_goals`),
foot-locked, warped again, and a start motion's frames are put back exactly with the clip rejoined onto
them.

Rows of all requests that fit one window share one batch; a request that needs several windows runs its
samples together, window after window. Cancelled requests leave between steps and previews show the
current window's estimate, as for undirected requests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.core import rotations as R
from engine.core.motion import Motion
from engine.core.skeleton import SMPLH_BODY
from engine.model.directing import guidance
from engine.model.directing.cleanup import apply_goals
from engine.model.directing.goals import Directive, compile_constraints, feature_targets, position_slice, smoothstep
from engine.model.directing.guidance import FeatureGuide, WindowTargets
from engine.model.directing.joins import inertialize, settle
from engine.model.generation import (
    CancelCheck,
    Cancelled,
    GenerationError,
    GenerationRequest,
    StepCallback,
    StepEvent,
)
from engine.model.representation import FEATURE_DIM, ROOT_POS, decode_features, encode_features
from engine.model.sampler import FlowState
from engine.model.windows import seed_noise, to_local, to_world
from engine.post import clip_ops
from engine.post.footlock import FootLock, lock_feet
from engine.post.postprocess import PostProcess, lift_to_ground

FOOT_LOCK = FootLock(bridge=4)
"""The embedded model's foot lock, closing gaps of up to 4 frames inside a contact (2 by default): a join can
split one contact in two, and two contacts a frame apart snap the foot from one spot to the next (a
19.5 m/s jump in one of 9 timelines, gone with 4)."""
WINDOW_SLACK = 30
"""A window with at most this many known frames may run that much longer than the training window (the
network's attention is a 2 s band, so it runs 6 s windows sanely): a 5 s segment after another, or a 5 s
continuation of a start motion, then takes one window. Measured on 9 timelines: segment checks 17 of 18,
time 1.07× the unconstrained clip, against 18 of 18 and 1.60× with an extra window."""
MIN_WINDOW = 150
"""A window shorter than this starts earlier, knowing more of its segment (see `plan_windows`)."""
WINDOW_OVERLAP = 30
"""Known frames a window takes over from the one before (at most the model's own long-clip overlap): 30 joined
timelines better than 10, 20 or 50 (docs/directing.md)."""
RELOCK_AFTER_JOINS = True
"""Run the foot lock once more after the joins' blends, the start motion's frames kept as given."""
SETTLE_JOINS = True
"""Low-pass the first frames after every join of a start motion or a timeline window (`joins.settle`)."""
GUIDE_MODE = "known"
"""What the sampler is guided toward: "known" (the known frames of start motions and earlier windows; goals
are left to the clean-up, the default), "guide" (known frames and every goal), "replace" (both, by inpainting
replacement), "none" (nothing: windows joined and goals met by the clean-up alone). docs/directing.md
has the measurements that chose the default."""


@dataclass(frozen=True)
class Window:
    """Frames [start, start + length) of the extended timeline (context + clip); the first `known` are known."""

    start: int
    length: int
    known: int
    prompt: str


def plan_windows(directive: Directive, window: int, overlap: int) -> list[Window]:
    """Windows covering a directive's extended timeline (see module docstring). The first window may run
    longer than `window` by a start motion's context frames (at most `START_CONTEXT_FRAMES`), and a later
    one by its known frames when they are at most `WINDOW_SLACK`: a 5 s continuation or segment then takes
    one window, not two. A window shorter than `MIN_WINDOW` (the end of a segment) starts earlier instead,
    knowing more of its own segment's frames: the network does poorly with a few free frames behind a long
    known stretch in a short window."""
    pre = max(len(directive.context) - 1, 0)
    total = pre + directive.frames
    spans = [(s.prompt, pre + s.start, pre + s.start + s.count) for s in directive.segments]
    plan: list[Window] = []
    start, known = 0, len(directive.context)
    while True:
        first = start + known
        prompt, seg_start, seg_end = next(sp for sp in spans if sp[1] <= first < sp[2])
        slack = pre if not plan else known if known <= WINDOW_SLACK else 0
        end = min(start + window + slack, seg_end)
        if plan and end - start < MIN_WINDOW:
            earlier = max(end - MIN_WINDOW, seg_start - overlap, plan[-1].start + 1)
            if earlier < start:
                known, start = known + start - earlier, earlier
        plan.append(Window(start, end - start, known, prompt))
        if end >= total:
            return plan
        known = min(overlap, end - start)
        start = end - known


@dataclass
class _RowState:
    request: int
    sample: int
    seed: int
    directive: Directive
    plan: list[Window]
    target: np.ndarray
    weight: np.ndarray
    facing: np.ndarray
    world: torch.Tensor

    @property
    def pre(self) -> int:
        return max(len(self.directive.context) - 1, 0)


def _row_state(request: int, sample: int, seed: int, directive: Directive, plan: list[Window]) -> _RowState:
    pre = max(len(directive.context) - 1, 0)
    total = pre + directive.frames
    target = np.zeros((total, FEATURE_DIM))
    weight = np.zeros((total, FEATURE_DIM))
    facing = np.full(total, np.nan)
    for f, goal in directive.goals.items():
        target[pre + f], weight[pre + f] = feature_targets(goal)
        if goal.facing is not None:
            facing[pre + f] = goal.facing[0]
    world = torch.zeros(total, FEATURE_DIM, dtype=torch.float64)
    if len(directive.context):
        world[: len(directive.context)] = torch.from_numpy(directive.context)
    return _RowState(request, sample, seed, directive, plan, target, weight, facing, world)


def heading_frame(frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Yaw (radians) and ground origin of one denormalised frame, the heading taken from the hip line (as
    `engine.train.mocap.clip.facing_yaw`): a crawling body's pelvis points at the floor, its hips still say where
    it faces."""
    f = frame.detach().to("cpu", torch.float64)
    across = f[position_slice(1)] - f[position_slice(2)]
    yaw = torch.atan2(-across[2], across[0])
    origin = f[ROOT_POS].clone()
    origin[1] = 0.0
    return yaw, origin


def _window_targets(state: _RowState, w: Window, goals: bool) -> tuple[WindowTargets, tuple | None]:
    """The row's known frames and (with `goals`) goals inside window `w`, in the window's frame, and that
    frame (yaw, origin) or None."""

    sl = slice(w.start, w.start + w.length)
    target, weight, facing = state.target[sl].copy(), state.weight[sl].copy(), state.facing[sl].copy()
    if not goals:
        weight[:], facing[:] = 0.0, np.nan
    frame = None
    if w.known:
        target[: w.known] = state.world[w.start : w.start + w.known].numpy()
        weight[: w.known] = 1.0
        facing[: w.known] = np.nan
        frame = heading_frame(state.world[w.start])
        target = to_local(torch.from_numpy(target), *frame).numpy()
        facing = facing - float(frame[0])
    keys = np.flatnonzero((weight > 0).any(axis=1) | ~np.isnan(facing))
    return WindowTargets(keys, target[keys], weight[keys], facing[keys], w.known), frame


def _run_window(
    model, states: list[_RowState], k: int, cond, steps: int, cfg: float, mode: str,
    drop: Callable[[list[int]], set[int]] | None, after: Callable[[FlowState, list[int]], None] | None,
) -> list[int]:
    """Sample window k of every row in `states`; writes the rows' world features; returns surviving rows."""

    windows = [s.plan[k] for s in states]
    goals = mode in ("guide", "replace")
    targets, frames = zip(*(_window_targets(s, w, goals) for s, w in zip(states, windows, strict=True)),
                          strict=True)
    length = max(w.length for w in windows)
    seeds = [s.seed + 1_000_003 * k for s in states]
    noise = model._noise(seeds) if length <= model.train_frames else seed_noise(seeds, length)
    guide = FeatureGuide(list(targets), length, model.normalizer, noise=noise, radius=guidance.GUIDE_RADIUS,
                         device=model.torch_device)
    latents, live = model._integrate(
        cond, [w.length for w in windows], noise, steps, cfg, drop=drop, after_step=after,
        guide=guide.guide if mode in ("guide", "known") else None,
        constrain=guide.constrain if mode == "replace" else None,
    )
    denorm = model.normalizer.denormalize(latents.detach().to("cpu", torch.float64))
    for pos, i in enumerate(live):
        w, state = windows[i], states[i]
        piece = denorm[pos, : w.length]
        if frames[i] is not None:
            piece = to_world(piece, *frames[i])
        state.world[w.start + w.known : w.start + w.length] = piece[w.known :]
        inertialize(state.world[: w.start + w.length], w.start + w.known, w.start)
    return live


def _directives(model, requests: Sequence[GenerationRequest]) -> list[Directive]:
    out = []
    for r in requests:
        if r.samples < 1:
            raise GenerationError(f"samples must be at least 1, got {r.samples}")
        c = r.constraints
        if not (c is not None and c.segments):
            if not math.isfinite(r.seconds) or r.seconds <= 0:
                raise GenerationError(f"seconds must be a positive number, got {r.seconds}")
            if r.seconds > model.max_seconds:
                raise GenerationError(f"seconds must be at most {model.max_seconds:g}, got {r.seconds:g}")
        seconds = model.frames_for(r.seconds) / model.fps if not (c is not None and c.segments) else r.seconds
        out.append(compile_constraints(c, r.prompt, seconds, model.fps, model.max_seconds, loop=r.loop,
                                       in_place=r.in_place))
    return out


def ground_segments(root: np.ndarray, rotations: np.ndarray, spans: list[tuple[int, int]],
                    ramp: int = 30) -> np.ndarray:
    """Root (L, 3) lifted so each segment's low joints sit at the rest pose's lowest joint height (what the
    ground lift does for a whole clip: each segment's windows may float or sink differently, and a timeline
    lifted as one would leave one segment's feet off the floor), the lift easing between segments over
    `ramp` frames. A segment's floor is the 5th percentile of its frames' lowest joint (as the training
    clips were grounded, `engine.train.mocap.clip.place_on_ground`): a brief dip in a transition must not lift it."""
    pos, _ = R.forward_kinematics(np.asarray(rotations, np.float64), np.asarray(root, np.float64),
                                  SMPLH_BODY.offsets, SMPLH_BODY.parents)
    clearance = float(SMPLH_BODY.rest_positions()[:, 1].min())
    lowest = pos[..., 1].min(axis=1)
    lift = np.zeros(len(root))
    for start, count in spans:
        lift[start : start + count] = clearance - float(np.percentile(lowest[start : start + count], 5))
    lift[: spans[0][0]] = lift[spans[0][0]]
    for start, _count in spans[1:]:
        lo, hi = max(start - ramp // 2, 0), min(start + ramp - ramp // 2, len(root))
        u = smoothstep((np.arange(lo, hi) - lo + 1) / (hi - lo + 1))
        lift[lo:hi] = lift[lo - 1] * (1 - u) + lift[hi - 1] * u if lo > 0 and hi < len(root) else lift[lo:hi]
    out = np.array(root, np.float64, copy=True)
    out[:, 1] += lift
    return out


def _height_fixed(d: Directive) -> bool:
    """True when a goal sets the root's height, so the clip must not be lifted to the ground. A start motion's
    own frame does not count: the lift moves the continuation onto the floor, and frame 0 is pinned back to
    the given pose afterwards (the warp eases that over a few frames)."""
    return any(1 in g.root for f, g in d.goals.items() if f > 0 or not len(d.context))


def _rejoin_start(root: np.ndarray, rotations: np.ndarray, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The start motion's frames put back exactly as given, and the clip joined onto them again: smoothing and
    the foot lock saw both sides of the join but treat the given frames as their own."""
    features = encode_features(root, rotations).double()
    n = len(context)
    features[:n] = torch.from_numpy(context)
    inertialize(features, n, 0)
    new_root, new_rot = decode_features(features)
    return new_root.numpy(), new_rot.numpy()


def finish(model, state: _RowState, request: GenerationRequest, stop: Callable[[], bool] | None = None) -> Motion:
    """Decode a row's clip, post-process it and make every goal hold exactly; raises `Cancelled` between its
    stages once `stop()` is true (the clean-up costs ~40 ms of a live chunk's ~110: a prompt change waiting
    for a dropped chunk's clean-up was live mode's slowest).

    A start motion's frames are decoded and post-processed with the clip, so smoothing and foot locking see
    the motion on both sides of the join, and are cut off at the end. The foot lock runs after the warp (a
    warp moves planted feet) and the warp runs once more after it, to put goal frames back exactly."""
    d = state.directive
    pre = state.pre
    latent = model.normalizer.normalize(state.world.float())
    settings = dataclasses.replace(model.postprocess, foot_lock=False, lift_to_ground=False)
    text = request.prompt or " | ".join(s.prompt for s in d.segments)
    motion = model.decode(latent, postprocess=settings, text=text, seeds=[state.seed])[0]
    _check(stop)
    root = motion.root
    if model.postprocess.lift_to_ground and not _height_fixed(d):
        if len(d.segments) > 1:
            root = ground_segments(root, motion.rotations, [(pre + s.start, s.count) for s in d.segments])
        else:
            root = lift_to_ground(root, motion.rotations)
    goals = {f + pre: g for f, g in d.goals.items()}
    root, rot = apply_goals(root, motion.rotations, goals)
    if model.postprocess.foot_lock:
        rot = lock_feet(root, rot, FOOT_LOCK)
        root, rot = apply_goals(root, rot, goals)
    _check(stop)
    if len(d.context):
        root, rot = _rejoin_start(root, rot, d.context)
        root, rot = apply_goals(root, rot, goals)
    joins = [w.start + w.known for w in state.plan if w.known and w.start + w.known > pre]
    if SETTLE_JOINS and joins:
        for join in joins:
            root[join:], rot[join:] = settle((root[:join], rot[:join]), root[join:], rot[join:])
        _check(stop)
        if model.postprocess.foot_lock and RELOCK_AFTER_JOINS:
            # The join's blends moved planted feet (a walk continued chunk by chunk slid 1.8 m/s in its first
            # 10 frames, 0.1–0.3 after): lock again, the given start frames fixed.
            rot = lock_feet(root, rot, FOOT_LOCK, fixed=len(d.context))
        root, rot = apply_goals(root, rot, goals)
    root, rot = root[pre:], rot[pre:]
    meta = dict(motion.meta)
    meta["joins"] = [join - pre for join in joins]
    if len(d.segments) > 1:
        meta["segments"] = [{"prompt": s.prompt, "start": s.start, "count": s.count} for s in d.segments]
    motion = motion.with_(root=root.astype(np.float32), rotations=rot.astype(np.float32), meta=meta)
    return clip_ops.apply_options(motion, request.in_place, request.loop)


def _check(stop: Callable[[], bool] | None) -> None:
    if stop is not None and stop():
        raise Cancelled("cancelled")


def generate_directed(
    model, requests: Sequence[GenerationRequest], on_step: StepCallback | None = None,
    cancelled: CancelCheck | None = None, mode: str | None = None,
) -> list[list[Motion] | None]:
    """`MotionModel.generate_batch` for requests of which some carry constraints (`engine.model.pipeline` hands
    them here)."""
    mode = mode or GUIDE_MODE
    settings = {model._resolve(r.steps, r.cfg) for r in requests}
    if len(settings) != 1:
        raise GenerationError("requests in one batch must share steps and cfg")
    steps, cfg = settings.pop()
    directives = _directives(model, requests)
    states = []
    for i, (r, d) in enumerate(zip(requests, directives, strict=True)):
        plan = plan_windows(d, model.train_frames, min(WINDOW_OVERLAP, model.window_overlap))
        states += [_row_state(i, k, r.seed + k, d, plan) for k in range(r.samples)]
    prompts = list(dict.fromkeys(w.prompt for s in states for w in s.plan))
    encoded = model.encode_text(prompts)
    single = [s for s in states if len(s.plan) == 1]
    groups = ([single] if single else []) + [
        [s for s in states if s.request == i and len(s.plan) > 1]
        for i in sorted({s.request for s in states if len(s.plan) > 1})
    ]
    total_steps = steps * sum(len(g[0].plan) for g in groups)
    dead: set[int] = set()
    progress = {"step": 0}

    def drop_for(group: list[_RowState]) -> Callable[[list[int]], set[int]]:
        def drop(live: list[int]) -> set[int]:
            if cancelled is None:
                return set()
            for req in {group[i].request for i in live}:
                if req not in dead and cancelled(req):
                    dead.add(req)
            return {i for i in live if group[i].request in dead}

        return drop

    def after_for(group: list[_RowState], k: int) -> Callable[[FlowState, list[int]], None]:
        def after(state: FlowState, live: list[int]) -> None:
            progress["step"] += 1
            if on_step is None:
                return
            estimates: dict[int, list] = {}
            for pos, i in enumerate(live):
                row = group[i]
                n = min(row.plan[k].length, state.estimate.shape[1])
                estimates.setdefault(row.request, []).append((row.seed, state.estimate[pos, :n]))

            def preview(req: int) -> list[Motion]:
                return [m for seed, latent in estimates.get(req, [])
                        for m in model.decode(latent[None], PostProcess.none(), text=requests[req].prompt,
                                              seeds=[seed])]

            on_step(StepEvent(progress["step"], total_steps, preview))

        return after

    done: dict[int, list[Motion]] = {}
    for group in groups:
        live_rows = list(group)
        try:
            for k in range(len(group[0].plan)):
                cond = encoded.select([prompts.index(s.plan[k].prompt) for s in live_rows])
                survivors = _run_window(model, live_rows, k, cond, steps, cfg, mode, drop_for(live_rows),
                                        after_for(live_rows, k))
                live_rows = [live_rows[i] for i in survivors]
        except Cancelled:
            continue
        for state in live_rows:
            if state.request in dead:
                continue

            def stop(req: int = state.request) -> bool:
                return cancelled is not None and cancelled(req)

            try:
                done.setdefault(state.request, []).append(finish(model, state, requests[state.request], stop))
            except Cancelled:
                dead.add(state.request)
                done.pop(state.request, None)
    if not done:
        raise Cancelled("every request in the batch was cancelled")
    return [done.get(i) for i in range(len(requests))]
