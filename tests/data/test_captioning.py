"""Generated captions (`engine.train.mocap.captioning`): CMU's words through our phrase banks, checked against
what the motion measurably does."""

import numpy as np

from engine.train.mocap.captioning import Measures, action_keys, captions, clean_description, measure
from engine.train.mocap.clip import MocapClip


def measures(**changes) -> Measures:
    """A person standing still for 5 s; `changes` override single figures."""
    base = dict(seconds=5.0, forward=0.0, lateral=0.0, path=0.1, speed=0.02, heading=0.0, pelvis_min=0.93,
                pelvis_start=0.95, pelvis_end=0.95, rise=0.02, wrist_min=0.75, hands_up=0.0)
    return Measures(**{**base, **changes})


WALK = measures(forward=5.0, path=5.0, speed=1.0)
SEATED = measures(pelvis_min=0.55, pelvis_end=0.56)
SIT_AND_RISE = measures(pelvis_min=0.55, pelvis_end=0.94)


def test_actions_come_in_the_order_the_description_names_them():
    assert action_keys("walk, sit down, get up") == ["walk", "sit", "stand_up"]
    assert action_keys("direct traffic, wave, point") == ["signal", "wave", "point"]
    assert action_keys("jumping jacks, side twists, bend over, squats") == ["jumping_jacks", "twist", "bend", "squat"]
    assert action_keys("pick box up, bend from waist") == ["pick_up", "box", "bend"]
    assert action_keys("salsa dance") == ["salsa"]
    assert action_keys("elbow stretch") == ["stretch"], "'elbow' is not a bow"


def test_two_person_bookkeeping_and_file_noise_are_removed():
    assert clean_description("walk; b catches keys thrown by a (2 subjects - subject a)") == "walk"
    assert clean_description("runningwideleft      cleanedgrs") == "runningwideleft"


def test_a_segment_only_says_what_it_measurably_does():
    # The walking part of "walk, sit down, get up": the pelvis never goes low, so no sitting is claimed.
    walk_part = captions("t#0", "walk, sit down, get up", WALK)
    assert walk_part and all("walk" in c or "stroll" in c for c in walk_part)
    assert not any("sit" in c or "seat" in c or "stand" in c for c in walk_part)
    seated = captions("t#1", "walk, sit down, get up", SEATED)
    assert seated and all("sit" in c or "seat" in c for c in seated)
    assert not any("walk" in c for c in seated)
    rising = captions("t#2", "walk, sit down, get up", SIT_AND_RISE)
    assert all(("sit" in c or "seat" in c) and ("up" in c or "feet" in c) for c in rising)


def test_measured_words_for_locomotion():
    back = captions("b", "walk", measures(forward=-3.0, path=3.0, speed=0.6))
    assert all("backwards" in c for c in back)
    left = captions("l", "walk", measures(forward=0.3, lateral=2.5, path=2.6, speed=0.5))
    assert any("sideways to the left" in c for c in left)
    turning = captions("r", "run", measures(forward=6.0, path=12.0, speed=2.4, heading=-120.0))
    assert all("turning right" in c for c in turning)


def test_three_or_more_distinct_captions_and_the_same_ones_on_a_rebuild():
    for desc, m in (("wave", measures()), ("chicken (human subject)", measures()), ("sadwalk", WALK)):
        caps = captions("cmu-13_01#0", desc, m)
        assert 3 <= len(caps) <= 4 and len(set(caps)) == len(caps)
        assert caps == captions("cmu-13_01#0", desc, m)
    assert any("chicken" in c for c in captions("x", "chicken (human subject)", measures()))
    assert any("sad" in c or "head hung low" in c for c in captions("x", "sadwalk", WALK))


def test_nothing_is_said_about_a_take_that_names_nothing_known_and_does_nothing():
    assert captions("u", "unknown", measures()) == []
    assert captions("u", "walk", measures()) == [], "a 'walk' take that stands still is not captioned"
    assert any("walk" in c for c in captions("u", "unknown", WALK))


def test_measure_reads_travel_height_and_hands_from_a_clip():
    frames = 150
    root = np.zeros((frames, 3))
    root[:, 1] = np.linspace(0.95, 0.5, frames)
    root[:, 2] = np.linspace(0.0, 3.0, frames)
    rot = np.zeros((frames, 22, 4))
    rot[..., 3] = 1.0
    m = measure(MocapClip(name="m", root=root, rotations=rot, fps=30.0))
    assert abs(m.forward - 3.0) < 1e-6 and abs(m.lateral) < 1e-6 and 2.6 < m.path < 3.0  # smoothing trims the ends
    assert 0.49 < m.pelvis_min < 0.52 and m.pelvis_start > 0.9 and m.pelvis_end < 0.55
    assert m.hands_up == 0.0 and abs(m.heading) < 1e-6
