"""Protocol v1.1 `generate` constraints → `engine.model.directing` objects, checked before a job is accepted.

`bridge.protocol.decode_directions` has already decoded the wire fields and converted them from the request's
target convention to the source one (pure, torch-free); this maps them 1:1 onto `Constraints`, resolves
`start.job` against the daemon's finished jobs and runs the engine's `validate`, so that a constraint the model
could not follow is the request's own `bad_request` (naming the field) and never fails a batch it would share
with other clients' jobs.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.codec import ErrorCode, RequestError
from bridge.protocol import DirectedPose, Directions, GenerateJob
from engine.core.motion import Motion
from engine.model.directing import (
    ConstraintError,
    Constraints,
    EffectorKey,
    EndPose,
    Pose,
    PoseKey,
    Segment,
    StartMotion,
    Waypoint,
    validate,
)

ResultOf = Callable[[str], list[Motion] | None]
"""A finished job's motions by job id (source convention), or None when the daemon has no such job."""


def _pose(pose: DirectedPose) -> Pose:
    return Pose(pose.rotations, pose.root)


def build_constraints(directions: Directions, result_of: ResultOf, rid: str) -> Constraints:
    """`Directions` → `Constraints`; an unknown `start.job` or `start.sample` is a RequestError(bad_request)."""
    start = None
    if directions.start_motion is not None:
        start = StartMotion(*directions.start_motion)
    elif directions.start_job is not None:
        job, sample = directions.start_job
        motions = result_of(job)
        if motions is None:
            raise RequestError(ErrorCode.BAD_REQUEST, f"start.job: no finished job {job[:64]!r} on this daemon", rid)
        if not 0 <= sample < len(motions):
            raise RequestError(
                ErrorCode.BAD_REQUEST, f"start.sample: job {job} has samples 0 to {len(motions) - 1}, got {sample}", rid
            )
        start = StartMotion.from_motion(motions[sample])
    keys: list[PoseKey | EffectorKey] = []
    for key in directions.keys:
        if key.pose is not None:
            keys.append(PoseKey(key.time, _pose(key.pose), key.joints, key.weight))
        else:
            assert key.effector is not None and key.position is not None
            keys.append(EffectorKey(key.time, key.effector, key.position, key.weight))
    return Constraints(
        start=start,
        keys=tuple(keys),
        path=tuple(Waypoint(wp.time, wp.position, wp.facing) for wp in directions.path),
        end=None if directions.end is None else EndPose(_pose(directions.end)),
        segments=tuple(Segment(prompt, seconds) for prompt, seconds in directions.segments),
    )


def checked_constraints(spec: GenerateJob, result_of: ResultOf, fps: float, max_seconds: float) -> Constraints | None:
    """The job's constraints, built and validated against its clip; RequestError(bad_request) naming the field."""
    if spec.directions is None:
        return None
    constraints = build_constraints(spec.directions, result_of, spec.id)
    try:
        validate(constraints, spec.seconds, fps, max_seconds, loop=spec.loop, in_place=spec.in_place)
    except ConstraintError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, f"invalid generate: {exc}", spec.id) from None
    return constraints
