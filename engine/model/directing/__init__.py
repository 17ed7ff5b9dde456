"""Directing the motion (issue 19): start poses, pose and effector keys, root paths, end poses, timelines.

- the typed constraint objects a request carries (`Constraints`, `StartMotion`, `PoseKey`, `EffectorKey`,
  `Waypoint`, `EndPose`, `Segment`) and `validate`, which raises `ConstraintError` naming the field, live in
  `engine.core.constraints` (the wire decoder builds them) and are re-exported here;
- `goals`: constraints compiled into per-frame goals, the one form the rest works from;
- `guidance`: the sampler hook that pulls each step's clean estimate onto the goals;
- `sampling`: windows with known frames (start context, timeline segments) and the batched directed path;
- `ik`, `cleanup`: the exact fix after sampling (IK for effectors, displacement-map warping);
the measured bars live in `engine.train.directing_metrics` and `motionbridge bench directing`.

Generation with constraints goes through the usual model interface:
`model.generate(prompt, seconds, constraints=Constraints(...))` or `GenerationRequest(..., constraints=...)`.
"""

from engine.core.constraints import (
    MAX_KEYS,
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

__all__ = [
    "MAX_KEYS",
    "ConstraintError",
    "Constraints",
    "EffectorKey",
    "EndPose",
    "Pose",
    "PoseKey",
    "Segment",
    "StartMotion",
    "Waypoint",
    "validate",
]
