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
from engine.core.rotations import quat_apply, quat_from_yaw, quat_mul, quat_yaw
from engine.model.generation import GenerationRequest

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
TURN_FROM = 0.25
"""Share of the area's radius past which a character moving outwards is steered back towards the centre."""
TURN_RATE = math.pi / 2
"""Radians per second the steering turns a walk inside the area; outside it, twice that. A 4 m area, walks
and jogs of 10 chunks (2 seeds each): the walks stayed within 3.93 and 4.00 m with these, 4.82 and 4.88 m
with 0.4 and π/3; the jogs left it in their free first chunk (7.8–9.0 m) either way (before that chunk was
shortened, `FIRST_CHUNK_IN_AREA_S`)."""
FIRST_CHUNK_IN_AREA_S = 20 / 30
"""Length of a session's first chunk when it keeps an area. The first chunk cannot be steered (nothing tells
where it will go), and a jog covered 7–10 m in a 2 s one, leaving a 4 m area at once. With a first chunk of
2/3 s, and steering that starts when the root would pass `TURN_FROM` within the chunk (not only once it has):
- one prompt, a 4 m area over 10 chunks, 6 seeds and two phrasings each: jogs stayed within 3.0–4.0 m (12 of
  12 runs; 6.8–10.3 m before), walks within 0.8–4.9 m (8 of 12 inside; 3.4–4.3 m, 10 of 12, before); with a
  1 s first chunk walks 12 of 12, jogs 0 of 12 (5.1–7.5 m);
- `bench live`'s endurance schedule simulated chunk by chunk (six prompts, a change every 5 s, 150 s, 3 seeds):
  at most 4.4–4.9 m from the centre, 1 % of frames outside, against 3.9–5.6 m and 0–9 % before (a fourth
  seed, run later: 5.6 m, 16 %).
Short chunks also after a standstill (a walk prompt after a crouch sets off anywhere) made it far worse in the
same simulation (4.3–14.2 m, up to 92 % outside; only where the standstill is past the turning line, 4 seeds:
4.9–12.5 m), so only the first chunk is short. A chunk costs the same
whatever its length, so the stream only asks for the next one sooner."""
MOVING = 0.2
"""Horizontal speed (m/s) under which the character is not travelling: an idle or waving figure is left
alone, a waypoint would only make it slide."""


SET_OFF_RAMP_S = 0.5
"""Seconds over which `set_off_inwards` turns a chunk that sets off from a standstill (per quarter turn: a half
turn takes 1 s), so the figure turns as it sets off rather than snapping round."""
SET_OFF_MIN_TRAVEL = 0.3
"""Metres a chunk from a standstill must cover before `set_off_inwards` turns it: a step or a sway is left alone."""


MAX_ROOT_SPEED = 15.0
"""m/s on the floor no chunk's root may exceed (a sprinter peaks at ~12.4). The embedded model at live mode's
10 steps now and then diverges late in a guided window: in `bench live`'s recording one chunk of 33 ran its
root at 24–35 m/s (a backwards walk continued with "a person is running as fast as possible", 1 seed in 20
for that context; none in 108 other chunk, prompt and seed pairs). A session samples such a chunk again."""
RESAMPLE_LIMIT = 1
"""Implausible chunks a session samples again in a row before it takes what it got (a model that always
answers so, like a random-weight test model, must still stream)."""


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


def new_frames(motion: Motion, continued: bool) -> tuple[np.ndarray, np.ndarray]:
    """The frames a chunk adds to the stream: a continuation's frame 0 is the context's last frame, already sent.
    (Its join is already eased in: the directed pipeline low-passes the frames after every join, `joins.settle`.)"""
    first = 1 if continued else 0
    return np.asarray(motion.root[first:], np.float64), np.asarray(motion.rotations[first:], np.float64)


def plausible(root: np.ndarray, fps: float, previous: np.ndarray | None = None) -> bool:
    """Whether a chunk's root (n, 3) moves as a body can: no step on the floor faster than `MAX_ROOT_SPEED`,
    counting the step from `previous` (the last frame already in the stream, if any) onto its first frame."""
    path = np.asarray(root, np.float64)[:, [0, 2]]
    if previous is not None:
        path = np.concatenate([np.asarray(previous, np.float64)[None, [0, 2]], path])
    if len(path) < 2:
        return True
    return bool(np.all(np.linalg.norm(np.diff(path, axis=0), axis=1) * fps <= MAX_ROOT_SPEED))


def travel(root: np.ndarray, fps: float) -> np.ndarray:
    """The root's mean velocity on the floor (x, z; m/s) over its last `HISTORY_FRAMES` frames (zero for fewer
    than two)."""
    n = np.shape(root)[0]
    if n < 2:
        return np.zeros(2)
    span = min(n - 1, HISTORY_FRAMES - 1)
    return (np.asarray(root[-1], np.float64)[[0, 2]] - np.asarray(root[-1 - span], np.float64)[[0, 2]]) * fps / span


def turn_back(root: np.ndarray, pelvis: np.ndarray, area: LiveArea, seconds: float,
              fps: float) -> tuple[Waypoint, ...]:
    """Waypoints over the next `seconds` that bend an outward walk back towards the area's centre, or none while
    the character stays well inside (and would still be, going straight to the chunk's end), heads inwards or
    is not travelling.

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
    v = travel(root, fps)
    speed = float(np.linalg.norm(v))
    out = p - c
    r = float(np.linalg.norm(out))
    ahead = float(np.linalg.norm(out + v * seconds))  # where it would be at the chunk's end, going straight
    if speed < MOVING or max(r, ahead) < TURN_FROM * area.radius or float(v @ out) <= 0:
        return ()
    heading = v / speed
    inward = -out / r
    angle = math.atan2(heading[0] * inward[1] - heading[1] * inward[0], float(heading @ inward))
    rate = TURN_RATE * (2.0 if r > area.radius else 1.0)
    theta = math.copysign(min(abs(angle), rate * seconds), angle)
    facing = float(quat_yaw(np.asarray(pelvis, np.float64)))
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


def set_off_inwards(history: np.ndarray, root: np.ndarray, rotations: np.ndarray, area: LiveArea,
                    fps: float) -> tuple[np.ndarray, np.ndarray] | None:
    """A chunk that set off from a standstill (`history`: the stream's roots it continued, up to `HISTORY_FRAMES`;
    `root` (n, 3), `rotations` (n, 22, 4): its new frames), turned about the vertical through the stream's last
    root so that it travels towards the area's centre instead of out past the turning line; None when the stream
    was moving (`turn_back` steers those), or the chunk does not leave or barely moves.

    Waypoints cannot do this: before the chunk exists nothing says which way a standing figure will set off (a
    walk prompt after a crouch, 2.7 m out, left a 4 m area to 6.5 m in `bench live`). So the chunk is sampled
    free and then turned whole, body and travel together, the turn eased in over `SET_OFF_RAMP_S` from its first
    frame (which continues the stream as sampled). `bench live`'s endurance schedule simulated chunk by chunk
    (4 seeds, a 4 m area, 150 s): at most 4.3–4.8 m from the centre and ≤ 1 % of frames outside, against
    4.4–5.6 m and up to 16 % without; 1 to 4 chunks turned per run.
    """
    if area.radius <= 0 or np.shape(root)[0] < 2 or np.shape(history)[0] < 1:
        return None
    if float(np.linalg.norm(travel(history, fps))) >= MOVING:
        return None
    last = np.asarray(history[-1], np.float64)
    c = np.asarray(area.centre, np.float64)
    p = last[[0, 2]]
    travel_xz = np.asarray(root[-1], np.float64)[[0, 2]] - p
    out = p - c
    r = float(np.linalg.norm(out))
    if float(np.linalg.norm(travel_xz)) < SET_OFF_MIN_TRAVEL or r < 1e-6:  # at the centre every way is inwards
        return None
    if float(np.linalg.norm(out + travel_xz)) <= max(r, TURN_FROM * area.radius):
        return None
    inward = -out
    # Heading is atan2(x, z), so turning the travel onto `inward` is a turn about +Y by their heading difference.
    turn = math.atan2(inward[0], inward[1]) - math.atan2(travel_xz[0], travel_xz[1])
    turn = (turn + math.pi) % (2 * math.pi) - math.pi
    n = np.shape(root)[0]
    ramp = SET_OFF_RAMP_S * max(1.0, abs(turn) / (math.pi / 2)) * fps
    u = np.clip(np.arange(1, n + 1) / ramp, 0.0, 1.0)
    yaw = quat_from_yaw(turn * u * u * (3.0 - 2.0 * u))  # one rotation per frame for the travel and the body
    turned = last + quat_apply(yaw, np.asarray(root, np.float64) - last)
    body = np.array(rotations, np.float64, copy=True)
    body[:, 0] = quat_mul(yaw, body[:, 0])
    return turned, body
