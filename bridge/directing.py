"""Protocol v1.1 `generate` constraints, made whole and checked before a job is accepted.

`bridge.protocol.decode_directions` has already decoded the wire fields into `engine.core.constraints` values in
the source convention (pure, torch-free); this resolves a `start.job` against the daemon's finished jobs and
runs `validate`, so that a constraint the model could not follow is the request's own `bad_request` (naming the
field) and never fails a batch it would share with other clients' jobs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bridge.codec import ErrorCode, RequestError
from bridge.protocol import Directions, GenerateJob
from engine.core.constraints import ConstraintError, Constraints, StartMotion, validate
from engine.core.motion import Motion

ResultOf = Callable[[str], list[Motion] | None]
"""A finished job's motions by job id (source convention), or None when the daemon has no such job."""


def resolve_start(directions: Directions, result_of: ResultOf, rid: str) -> Constraints:
    """The request's constraints with a `start.job` replaced by that job's last frames; an unknown job or sample
    is a RequestError(bad_request)."""
    if directions.start_job is None:
        return directions.constraints
    job, sample = directions.start_job
    motions = result_of(job)
    if motions is None:
        raise RequestError(ErrorCode.BAD_REQUEST, f"start.job: no finished job {job[:64]!r} on this daemon", rid)
    if not 0 <= sample < len(motions):
        raise RequestError(
            ErrorCode.BAD_REQUEST, f"start.sample: job {job} has samples 0 to {len(motions) - 1}, got {sample}", rid
        )
    return dataclasses.replace(directions.constraints, start=StartMotion.from_motion(motions[sample]))


def checked_constraints(spec: GenerateJob, result_of: ResultOf, fps: float, max_seconds: float) -> Constraints | None:
    """The job's constraints, resolved and validated against its clip; RequestError(bad_request) naming the field."""
    if spec.directions is None:
        return None
    constraints = resolve_start(spec.directions, result_of, spec.id)
    try:
        validate(constraints, spec.seconds, fps, max_seconds, loop=spec.loop, in_place=spec.in_place)
    except ConstraintError as exc:
        raise RequestError(ErrorCode.BAD_REQUEST, f"invalid generate: {exc}", spec.id) from None
    return constraints
