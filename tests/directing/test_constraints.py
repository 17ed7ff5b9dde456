"""Validation: every malformed constraint raises `ConstraintError` naming the field, before any sampling."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model.directing import (
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
from engine.model.generation import GenerationError

REST = np.tile([0.0, 0.0, 0.0, 1.0], (22, 1))


def field_of(constraints: Constraints, seconds: float = 5.0, **options) -> str:
    with pytest.raises(ConstraintError) as err:
        validate(constraints, seconds, **options)
    return err.value.field


def test_a_valid_set_gives_the_clip_frame_count():
    c = Constraints(keys=(PoseKey(1.0, Pose(REST)), EffectorKey(2.0, "left_wrist", np.zeros(3))),
                    path=(Waypoint(4.9, np.array([1.0, 0.0, 2.0]), facing=0.3),), end=EndPose(Pose(REST)))
    assert validate(c, 5.0) == 150
    assert validate(Constraints(segments=(Segment("walk", 2.0), Segment("sit", 3.5))), 99.0) == 165


@pytest.mark.parametrize(
    ("constraints", "field"),
    [
        (Constraints(keys=(PoseKey(5.2, Pose(REST)),)), "keys[0].time"),
        (Constraints(keys=(PoseKey(-0.1, Pose(REST)),)), "keys[0].time"),
        (Constraints(keys=(PoseKey(float("nan"), Pose(REST)),)), "keys[0].time"),
        (Constraints(keys=(PoseKey(1.0, Pose(REST[:21])),)), "keys[0].pose.rotations"),
        (Constraints(keys=(PoseKey(1.0, Pose(np.zeros((22, 4)))),)), "keys[0].pose.rotations"),
        (Constraints(keys=(PoseKey(1.0, Pose(REST, np.array([0.0, np.inf, 0.0]))),)), "keys[0].pose.root"),
        (Constraints(keys=(PoseKey(1.0, Pose(REST), joints=("left_hip", "tail")),)), "keys[0].joints"),
        (Constraints(keys=(PoseKey(1.0, Pose(REST), weight=0.0),)), "keys[0].weight"),
        (Constraints(keys=(EffectorKey(1.0, "left_hand_tip", np.zeros(3)),)), "keys[0].effector"),
        (Constraints(keys=(EffectorKey(1.0, "left_wrist", np.array([0.0, np.nan, 0.0])),)), "keys[0].position"),
        (Constraints(keys=(EffectorKey(1.0, "left_wrist", np.zeros(2)),)), "keys[0].position"),
        (Constraints(keys=tuple(PoseKey(0.0, Pose(REST)) for _ in range(MAX_KEYS + 1))), "keys"),
        (Constraints(path=(Waypoint(9.0, np.zeros(3)),)), "path[0].time"),
        (Constraints(path=(Waypoint(1.0, np.zeros(3), facing=float("inf")),)), "path[0].facing"),
        (Constraints(start=StartMotion(np.zeros((3, 3)), np.zeros((2, 22, 4)))), "start.motion.rotations"),
        (Constraints(start=StartMotion(np.full((1, 3), np.nan), np.tile(REST, (1, 1, 1)))), "start.motion.root"),
        (Constraints(end=EndPose(Pose(REST[:, :3]))), "end.pose.rotations"),
        (Constraints(segments=(Segment("walk", 2.0), Segment(" ", 2.0))), "segments[1].prompt"),
        (Constraints(segments=(Segment("walk", -1.0),)), "segments[0].seconds"),
        (Constraints(segments=(Segment("walk", 15.0), Segment("run", 15.0))), "segments"),
    ],
)
def test_malformed_constraints_name_their_field(constraints, field):
    assert field_of(constraints, max_seconds=20.0) == field


def test_end_with_loop_and_path_with_in_place_are_refused():
    assert field_of(Constraints(end=EndPose(Pose(REST))), loop=True) == "end"
    assert field_of(Constraints(path=(Waypoint(1.0, np.zeros(3)),)), in_place=True) == "path"


def test_a_bad_request_fails_before_sampling_with_a_generation_error(tiny):
    steps = []
    with pytest.raises(GenerationError, match=r"keys\[0\]\.effector"):
        tiny.generate("a person walks", seconds=2.0, steps=2, on_step=steps.append,
                      constraints=Constraints(keys=(EffectorKey(1.0, "tail", np.zeros(3)),)))
    assert steps == []
