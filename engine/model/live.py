"""Live mode (issue 20): one endless motion, continued chunk by chunk from its own last frames.

Each chunk is an ordinary directed request: `start` = the last frames generated so far (so the join carries
the velocity on exactly as a continued clip does, `engine.model.directing`), the prompt of the moment, and,
when the session keeps the character inside an area and it is walking out of it, waypoints along the chunk
that turn it back. The daemon's session (`bridge.live`) decides when a chunk is due and what it
continues from; this module only builds the request and trims its answer, so every backend (the embedded
model, HY-Motion full and Lite) runs live mode through the code path it already has.

Everything is in the source convention (`engine.core.skeleton`: metres, Y up, faces +Z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.core.constraints import START_CONTEXT_FRAMES, Constraints, StartMotion, Waypoint
from engine.core.motion import Motion
from engine.core.rotations import quat_apply
from engine.model.generation import GenerationRequest
from engine.post.smoothing import gaussian_smooth, smooth_quaternions

CHUNK_SECONDS = 2.0
"""Length of one generated chunk. A chunk costs about the same whatever its length up to the model's window
(the sampler runs the whole window): 1 s 0.23 s, 2 s 0.23 s, 4 s 0.37 s with the embedded model at 20 steps
on one busy thread. 2 s keeps a prompt change as cheap as any chunk while leaving the stream ≥ 8× real time."""
LIVE_STEPS = 10
"""Sampler steps per chunk: the embedded model's 20 default steps cost ≈ 230 ms a chunk on one busy thread, too
close to the 250 ms prompt-change bar; 10 cost ≈ 140 ms. On validation prompts 16 and 20 steps did not make the
joins or the skating clearly better (docs/live.md); a client may ask for more (`live_start.steps`)."""
CONTEXT_FRAMES = START_CONTEXT_FRAMES + 1
"""Frames a chunk continues from: the last frame (frame 0 of the chunk) and the ones before it (velocity)."""
HISTORY_FRAMES = 30
"""Frames of history the area steering reads the direction of travel from: over 1 s, a stride's sway and the
pull of the previous waypoint average out (over the 5 context frames they decided the direction)."""
SETTLE_SIGMA = 1.0
"""Gaussian σ (frames) of the low-pass over a chunk's join (`settle`)."""
SETTLE_FRAMES = 10
"""Frames of a chunk the low-pass reaches: fully the first half, fading out over the second."""
SETTLE_CONTEXT = 12
"""Frames before the join the low-pass reads (they are not changed: they were sent)."""
TURN_FROM = 0.4
"""Share of the area's radius past which a character moving outwards is steered back towards the centre."""
TURN_RATE = math.pi / 3
"""Radians per second the steering turns a walk inside the area (a relaxed turn); outside it, twice that."""
MOVING = 0.2
"""Horizontal speed (m/s) under which the character is not travelling: an idle or waving figure is left
alone, a waypoint would only make it slide."""


@dataclass(frozen=True)
class LiveArea:
    """Keep the root within `radius` metres (on the floor) of `centre` (x, z); radius 0 = anywhere."""

    centre: tuple[float, float]
    radius: float


def chunk_request(
    prompt: str,
    seed: int,
    context: tuple[np.ndarray, np.ndarray] | None,
    *,
    fps: float,
    seconds: float = CHUNK_SECONDS,
    steps: int | None = LIVE_STEPS,
    area: LiveArea | None = None,
) -> GenerationRequest:
    """The request for the next chunk: continuing `context` (root (n, 3), rotations (n, 22, 4), the last n frames
    so far, up to `HISTORY_FRAMES`; None for the first chunk), steered back into `area` when needed."""
    if context is None:
        return GenerationRequest(prompt, seconds, seed, 1, steps)
    root, rotations = context
    start = StartMotion(np.asarray(root[-CONTEXT_FRAMES:], np.float64),
                        np.asarray(rotations[-CONTEXT_FRAMES:], np.float64))
    frames = max(2, int(round(seconds * fps)))
    path = turn_back(root, rotations[-1, 0], area, (frames - 1) / fps, fps) if area is not None else ()
    return GenerationRequest(prompt, seconds, seed, 1, steps, constraints=Constraints(start=start, path=path))


def new_frames(motion: Motion, context: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """The frames a chunk adds to the stream. A continuation's frame 0 is the context's last frame, already sent,
    and its first `SETTLE_FRAMES` are eased into the context (`settle`)."""
    if context is None:
        return np.asarray(motion.root, np.float64), np.asarray(motion.rotations, np.float64)
    root, rotations = np.asarray(motion.root[1:], np.float64), np.asarray(motion.rotations[1:], np.float64)
    return settle(context, root, rotations)


def settle(context: tuple[np.ndarray, np.ndarray], root: np.ndarray,
           rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's first frames low-passed together with the frames before them (Gaussian, σ = `SETTLE_SIGMA`),
    fully for the first half of `SETTLE_FRAMES` and fading out over the second; frames already sent stay.

    The network's first free frames after known ones can snap a limb (a wrist 12 m/s faster in one frame)
    that the join's inertialization does not remove. Measured on validation prompts (10 steps, 27 joins,
    docs/live.md): joins over the data's 99th percentile of velocity jumps 9 → 6, worst 14.1 → 8.8 m/s, foot
    skating 0.23 → 0.29 m/s; σ 1.5 took the joins to 3 but the skating to 0.36, over 1.5× the data's 0.20."""
    ctx_root, ctx_rot = (np.asarray(a, np.float64) for a in context)
    n, h = root.shape[0], min(ctx_root.shape[0], SETTLE_CONTEXT)
    if n == 0 or h == 0:
        return root, rotations
    both_root = np.concatenate([ctx_root[ctx_root.shape[0] - h:], root])
    both_rot = np.concatenate([ctx_rot[ctx_rot.shape[0] - h:], rotations])
    smooth_root = gaussian_smooth(both_root, SETTLE_SIGMA)[h:]
    smooth_rot = smooth_quaternions(both_rot, SETTLE_SIGMA)[h:]
    smooth_rot = np.where((smooth_rot * rotations).sum(-1, keepdims=True) < 0, -smooth_rot, smooth_rot)
    half = SETTLE_FRAMES / 2
    weight = np.clip(2.0 - np.arange(n) / half, 0.0, 1.0)
    k = int(np.count_nonzero(weight))  # later frames are returned untouched
    out_root, out_rot = root.copy(), rotations.copy()
    out_root[:k] += weight[:k, None] * (smooth_root[:k] - root[:k])
    eased = rotations[:k] + weight[:k, None, None] * (smooth_rot[:k] - rotations[:k])
    out_rot[:k] = eased / np.linalg.norm(eased, axis=-1, keepdims=True)
    return out_root, out_rot


def turn_back(root: np.ndarray, pelvis: np.ndarray, area: LiveArea, seconds: float,
              fps: float) -> tuple[Waypoint, ...]:
    """Waypoints over the next `seconds` that bend an outward walk back towards the area's centre, or none while
    the character stays well inside, heads inwards or is not travelling.

    The root keeps its speed (measured over `HISTORY_FRAMES`) and turns at `TURN_RATE` towards the centre. A point
    a share s along an arc of length L that turns by θ lies L·s·sin(sθ/2)/(sθ/2) away, sθ/2 off the current
    heading; waypoints at each quarter of the arc ask the model for the arc a walker would take (with one at the
    end only, a 3 m area was left by 3.6 m mid-chunk; with quarters by 1.9 m, the first chunk being free). The
    body (`pelvis`: the last frame's root quaternion) is asked to face the new heading too: moving the root alone
    slides a figure that keeps facing out.
    """
    if area.radius <= 0 or np.shape(root)[0] < 2:
        return ()
    p = np.array([root[-1][0], root[-1][2]], np.float64)
    c = np.asarray(area.centre, np.float64)
    span = min(np.shape(root)[0] - 1, HISTORY_FRAMES - 1)
    v = (p - np.array([root[-1 - span][0], root[-1 - span][2]])) * fps / span
    speed = float(np.linalg.norm(v))
    out = p - c
    r = float(np.linalg.norm(out))
    if speed < MOVING or r < TURN_FROM * area.radius or float(v @ out) <= 0:
        return ()
    heading = v / speed
    inward = -out / r
    angle = math.atan2(heading[0] * inward[1] - heading[1] * inward[0], float(heading @ inward))
    rate = TURN_RATE * (2.0 if r > area.radius else 1.0)
    theta = math.copysign(min(abs(angle), rate * seconds), angle)
    forward = quat_apply(np.asarray(pelvis, np.float64), np.array([0.0, 0.0, 1.0]))
    facing = math.atan2(forward[0], forward[2])
    points = []
    for share in (0.25, 0.5, 0.75, 1.0):
        half = share * theta / 2
        chord = speed * seconds * share * (math.sin(half) / half if abs(half) > 1e-9 else 1.0)
        cos_h, sin_h = math.cos(half), math.sin(half)
        direction = np.array([heading[0] * cos_h - heading[1] * sin_h, heading[0] * sin_h + heading[1] * cos_h])
        end = p + chord * direction
        # A turn by +θ in (x, z) is a heading change of −θ (heading = atan2(x, z)).
        points.append(Waypoint(round(share * seconds * fps) / fps, np.array([end[0], 0.0, end[1]]),
                               facing=facing - share * theta))
    return tuple(points)
