"""ue_adapter's directing and live mode against the recording fake `unreal` and the real daemon: Continue (from
the last clip, a selected AnimSequence, a selected character or the preview), Timeline, capability gating, and
the Live toggle driving the preview on ticks, debounced prompts and Record."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np
import ue_fake_editor
from motionbridge_unreal.clips import DONE
from motionbridge_unreal.live import STOPPED, STREAMING
from test_unreal_adapter import _manny_mesh, _run_node, _tick_until, editor_at_startup  # noqa: F401 - a fixture


def _connected(ue: Any, adapter: Any, port: int, select: bool = True) -> Any:
    """Manny selected in the level (the preview's mesh), connected; returns the selected actor."""
    actor = ue.SkeletalMeshActor(_manny_mesh(ue), ue.Vector(), ue.Vector(), 0.0)
    actors = ue.get_editor_subsystem(ue.EditorActorSubsystem)
    actors.level.append(actor)
    if select:
        actors.selected.append(actor)
    assert adapter.MotionBridgeLibrary.Connect("127.0.0.1", port)
    _tick_until(lambda: adapter.EDITOR.client is not None, "the connection")
    return actor


def _generated(adapter: Any, request_id: str) -> Any:
    assert request_id, ue_fake_editor.errors
    _tick_until(lambda: not adapter.EDITOR.tracker.busy, "the clip", timeout=60)
    assert adapter.EDITOR.tracker.state == DONE, adapter.MotionBridgeLibrary.Status()
    assert adapter.EDITOR.tracker.request_id == request_id
    return adapter.EDITOR.tracker.final


def _same_frame(clip_a: Any, frame_a: int, clip_b: Any, frame_b: int, cm: float = 1e-3, dot: float = 1e-5) -> None:
    assert np.allclose(clip_a.root[frame_a], clip_b.root[frame_b], atol=cm), (clip_a.root[frame_a],
                                                                              clip_b.root[frame_b])
    dots = np.abs(np.sum(np.array(clip_a.rotations[frame_a]) * np.array(clip_b.rotations[frame_b]), axis=1))
    assert np.all(dots > 1.0 - dot), dots


def test_continue_goes_on_from_the_last_clips_final_frame(fake_unreal: tuple[Any, Any], live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    first = _generated(adapter, library.Generate("a person walks forward", 1.0, 1))
    second = _generated(adapter, library.Continue("a person turns around", 1.0, 2))
    _same_frame(second, 0, first, first.frames - 1)
    assert second.frames == 30


def test_continue_before_any_clip_says_to_generate_first(fake_unreal: tuple[Any, Any], live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    assert adapter.MotionBridgeLibrary.Continue("a person sits", 1.0, 0) == ""
    assert "nothing to continue yet: Generate a motion" in ue_fake_editor.errors[-1]


def test_timeline_rows_make_one_clip_and_status_shows_where_segments_start(fake_unreal: tuple[Any, Any],
                                                                         live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    clip = _generated(adapter, library.Timeline("1 a person walks forward\n0.7 a person sits down", 3))
    assert clip.frames == 51
    assert adapter.EDITOR.tracker.segments == [(0, 30), (30, 21)]
    assert "done: 51 frames (1.7 s), 2 segments starting at 0.0, 1.0 s" in library.Status()
    assert library.Timeline("walk then sit", 3) == ""
    assert "must start with its seconds" in ue_fake_editor.errors[-1]


def test_a_daemon_without_a_capability_is_sent_nothing_and_the_user_is_told_why(fake_unreal: tuple[Any, Any],
                                                                               live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    _generated(adapter, library.Generate("a person waves", 1.0, 0))
    # What an older daemon's hello says (protocol 1.0: no capabilities field).
    adapter.EDITOR.client.hello.capabilities = []
    request_id = adapter.EDITOR.tracker.request_id
    assert library.Timeline("1 a person walks", 0) == ""
    assert "Timeline needs a daemon with the 'timeline' capability" in ue_fake_editor.errors[-1]
    assert library.Continue("a person sits", 1.0, 0) == ""
    assert "Continue needs a daemon with the 'constraints' capability" in ue_fake_editor.errors[-1]
    assert library.ContinueFromSelection("a person sits", 1.0, 0) == ""
    assert "'constraints' capability" in ue_fake_editor.errors[-1]
    assert library.Live(True, "a person walks", 0, 0.0) is False
    assert "Live needs a daemon with the 'live' capability" in ue_fake_editor.errors[-1]
    assert adapter.EDITOR.tracker.state == DONE and adapter.EDITOR.tracker.request_id == request_id
    assert adapter.EDITOR.live is None, "nothing was started"


def test_continue_from_a_selected_anim_sequence_starts_on_its_last_frame(fake_unreal: tuple[Any, Any],
                                                                       live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    first = _generated(adapter, library.Generate("a person jumps", 1.0, 4))
    path = library.Bake("/Game/MotionBridge/A_Jump")
    assert path == "/Game/MotionBridge/A_Jump.A_Jump"
    ue.EditorUtilityLibrary.selected_assets = [ue.AssetTools.created[path]]
    second = _generated(adapter, library.ContinueFromSelection("a person lands and walks", 1.0, 5))
    # Baked, evaluated by the editor and turned back into wire frames: the clip goes on from the same pose.
    _same_frame(second, 0, first, first.frames - 1, cm=1e-2, dot=1e-5)
    times = [c[0] for c in ue_fake_editor.log.named("get_anim_pose_at_time")]  # (time, options) after the asset
    assert np.allclose(times, [(24 + k) / 30 for k in range(6)]), "the last six frames, 1/30 s apart"


def test_an_anim_sequence_of_another_skeleton_is_refused(fake_unreal: tuple[Any, Any], live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    _generated(adapter, library.Generate("a person jumps", 1.0, 4))
    other = ue.AnimSequence("/Game/Other/A_Other.A_Other")
    other._factory = ue.AnimSequenceFactory()
    other._factory.set_editor_property("target_skeleton", ue.Skeleton("/Game/Other/SK_Other"))
    ue.EditorUtilityLibrary.selected_assets = [other]
    assert library.ContinueFromSelection("a person walks", 1.0, 0) == ""
    assert "is for another skeleton than the preview's" in ue_fake_editor.errors[-1]


def _bent_pose() -> dict[str, tuple[tuple, tuple]]:
    """Local transforms of a Manny that squats a little, lifts its left forearm and stands 30 cm to the side."""
    bent = {}
    for name, _parent, t, q in _manny_mesh(sys.modules["unreal"])._bones:
        if name == "lowerarm_l":
            half = math.radians(70) / 2
            q = _mul(q, (0.0, math.sin(half), 0.0, math.cos(half)))
        elif name == "calf_r":
            half = math.radians(40) / 2
            q = _mul(q, (0.0, 0.0, math.sin(half), math.cos(half)))
        elif name == "pelvis":
            t = (t[0] + 30.0, t[1], t[2] - 8.0)
        bent[name] = (t, q)
    return bent


def _mul(a: tuple, b: tuple) -> tuple:
    return ue_fake_editor._quat_mul(a, b)


def test_continue_from_a_selected_character_starts_on_its_current_pose(fake_unreal: tuple[Any, Any],
                                                                      live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    actor = _connected(ue, adapter, live_daemon.port)
    component = actor.skeletal_mesh_component
    component._pose_override = _bent_pose()
    clip = _generated(adapter, adapter.MotionBridgeLibrary.ContinueFromSelection("a person stands up", 1.0, 6))
    rig = adapter.EDITOR.rig
    pose = rig.retargeter(adapter.EDITOR.client.hello, clip.joints).retarget(clip.root[0], clip.rotations[0])
    posed = ue_fake_editor.component_space(component._mesh._bones, component._pose_override)
    for bone in clip.joints:
        assert abs(float(np.dot(pose.component_rotations[bone], posed[bone][1]))) > 1.0 - 1e-5, bone
    assert np.allclose(pose.root_component_position, posed["pelvis"][0], atol=1e-2)


def test_continue_from_the_selected_preview_goes_on_from_the_frame_it_shows(fake_unreal: tuple[Any, Any],
                                                                          live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    first = _generated(adapter, library.Generate("a person waves", 1.0, 7))
    actors = ue.get_editor_subsystem(ue.EditorActorSubsystem)
    preview = next(a for a in actors.level if a.get_actor_label() == adapter.PREVIEW_ACTOR_LABEL)
    actors.selected[:] = [preview]
    adapter.EDITOR.playback_time = 10.5 / 30
    second = _generated(adapter, library.ContinueFromSelection("a person bows", 1.0, 8))
    _same_frame(second, 0, first, 10)


def test_nothing_selected_to_continue_from_says_what_to_select(fake_unreal: tuple[Any, Any], live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    ue.get_editor_subsystem(ue.EditorActorSubsystem).selected.clear()
    assert adapter.MotionBridgeLibrary.ContinueFromSelection("a person walks", 1.0, 0) == ""
    assert "select an AnimSequence in the Content Browser or a character" in ue_fake_editor.errors[-1]


# ---------------------------------------------------------------- live mode


class Clock:
    """The editor's clock for the prompt debouncer, moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tick_for(seconds: float, adapter: Any) -> list[float]:
    """Editor ticks at ~60 Hz with their real durations for `seconds`; returns how long each tick took."""
    took = []
    last = time.monotonic()
    end = last + seconds
    while time.monotonic() < end:
        time.sleep(1 / 60)
        now = time.monotonic()
        for tick in list(ue_fake_editor.tick_callbacks.values()):
            tick(now - last)
        took.append(time.monotonic() - now)
        last = now
    return took


def test_live_drives_the_preview_in_real_time_and_record_bakes_what_was_shown(fake_unreal: tuple[Any, Any],
                                                                            live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    editor = adapter.EDITOR
    editor.clock = clock = Clock()
    assert library.Live(True, "a person walks around", 1, 150.0) is True
    _tick_until(lambda: editor.live.playhead.frame is not None, "the first live frames")
    live = editor.live
    assert live.state == STREAMING
    calls_before = len(ue_fake_editor.log.named("set_bone_rotation_by_name"))
    started_at = live.playhead.frame
    took = sorted(_tick_for(1.5, adapter))
    shown = live.playhead.frame - started_at
    assert 30 <= shown <= 50, f"{shown} frames shown in 1.5 s of editor time (45 in real time)"
    # The daemon samples in this process on a shared CPU, so single ticks can be slowed by it; a tick that
    # waited for the network would wait ~33 ms for every frame the daemon paces out.
    median = took[len(took) // 2]
    assert median < 0.015, f"median tick {median * 1000:.0f} ms, longest {took[-1] * 1000:.0f} ms"
    assert len(ue_fake_editor.log.named("set_bone_rotation_by_name")) > calls_before + 25 * 30, "posed on ticks"
    assert library.Status().startswith("connected to motionbridge/") and "live: 'a person walks around'" in \
        library.Status()

    assert library.LivePrompt("a person j") is True
    assert library.LivePrompt("a person jumps") is True
    _tick_for(0.2, adapter)
    assert live.prompt == "a person walks around", "not sent while typing"
    clock.now += 0.5
    _tick_until(lambda: live.prompt == "a person jumps", "the live_state of the debounced prompt")
    assert live.prompt_frame > 0

    path = library.Record(1.0, "/Game/MotionBridge/A_Live")
    assert path == "/Game/MotionBridge/A_Live.A_Live", ue_fake_editor.errors
    recorded = live.record(1.0)
    controller = ue.AssetTools.created[path].controller
    assert controller.number_of_frames == 29 and recorded.frames == 30
    hips = [(p.x, p.y, p.z) for p in controller.tracks["pelvis"][0]]
    retargeter = editor.rig.retargeter(editor.client.hello, recorded.joints)
    shown_last = live.playhead.frame
    want = [retargeter.retarget(*live.ring.frame(f)).root_local_translation for f in range(shown_last - 29,
                                                                                          shown_last + 1)]
    assert np.allclose(hips, want, atol=1e-3), "the last second up to the frame shown when Record was pressed"
    assert f"recorded 1.0 s to {path}" in library.Status()

    assert library.Live(False, "", 0, 0.0) is True
    assert library.Live(True, "a person walks", 0, 0.0) is False, "the stopping session has no done yet"
    assert "still stopping" in ue_fake_editor.errors[-1]
    _tick_until(lambda: live.state == STOPPED, "the live session's done")
    assert f"live stopped after {live.ring.end} frames" in library.Status()
    assert library.Live(False, "", 0, 0.0) is True and editor.live_off() is False, "already off"


def test_record_saves_nothing_when_the_controller_refuses_a_track(fake_unreal: tuple[Any, Any],
                                                                  live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    assert library.Record(1.0, "/Game/MotionBridge/A_None") == ""
    assert "nothing to record: turn Live on first" in ue_fake_editor.errors[-1]
    ue.AnimationDataController.refused_keys = {"foot_r"}
    assert library.Live(True, "a person walks", 2, 0.0)
    _tick_until(lambda: (adapter.EDITOR.live.playhead.frame or 0) > 10, "some live frames shown")
    assert library.Record(0.3, "/Game/MotionBridge/A_Refused") == ""
    assert "foot_r" in ue_fake_editor.errors[-1] and "nothing was saved" in ue_fake_editor.errors[-1]
    assert ue.EditorAssetLibrary.saved == []
    assert library.Live(False, "", 0, 0.0)


def test_generate_during_live_stops_the_stream_and_shows_the_clip(fake_unreal: tuple[Any, Any],
                                                                 live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    assert library.Live(True, "a person walks", 3, 0.0)
    _tick_until(lambda: adapter.EDITOR.live.state == STREAMING, "the live session")
    live = adapter.EDITOR.live
    clip = _generated(adapter, library.Generate("a person waves", 1.0, 1))
    _tick_until(lambda: live.state == STOPPED, "the stopped stream")
    assert clip.frames == 30 and adapter.EDITOR.live_view is False
    assert library.Status().endswith("done: 30 frames (1.0 s)")


def test_live_while_disconnected_reconnects_to_the_last_daemon_and_starts_once_connected(
        fake_unreal: tuple[Any, Any], live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    adapter.EDITOR.disconnect()
    assert adapter.MotionBridgeLibrary.Live(True, "a person walks", 4, 0.0) is True
    assert adapter.EDITOR.client is None and adapter.EDITOR.live.state == "starting"
    assert adapter.MotionBridgeLibrary.Status().startswith(f"connecting to ws://127.0.0.1:{live_daemon.port}/v1")
    _tick_until(lambda: adapter.EDITOR.live.state != "starting", "the queued live_start")
    assert adapter.EDITOR.live.state == STREAMING, adapter.MotionBridgeLibrary.Status()
    assert adapter.MotionBridgeLibrary.Live(False, "", 0, 0.0)


# ---------------------------------------------------------------- the panel's new nodes


def test_the_panels_live_nodes_work_when_restored_before_init_unreal_ran(editor_at_startup: tuple[Any, dict],  # noqa: F811
                                                                        live_daemon: Any) -> None:
    ue, nodes = editor_at_startup
    assert "motionbridge_unreal.ue_adapter" not in sys.modules
    assert _run_node(nodes["LivePrompt"], prompt="a person walks") == {}, "nothing live: a no-op, not an error"
    adapter = sys.modules["motionbridge_unreal.ue_adapter"]
    ue.get_editor_subsystem(ue.EditorActorSubsystem).selected.append(
        ue.SkeletalMeshActor(_manny_mesh(ue), ue.Vector(), ue.Vector(), 0.0))
    _run_node(nodes["Connect"]._replace(script=nodes["Connect"].script.replace("8747", str(live_daemon.port))))
    _tick_until(lambda: adapter.EDITOR.client is not None, "the connection")
    _run_node(nodes["Live"], on=True, prompt="a person walks", seed=2.0, area=100.0)
    _tick_until(lambda: (adapter.EDITOR.live.playhead.frame or 0) >= 12, "live frames shown")
    _run_node(nodes["Record"], seconds=0.3, path="/Game/MotionBridge/A_PanelLive")
    assert "recorded 0.3 s to /Game/MotionBridge/A_PanelLive.A_PanelLive" in _run_node(nodes["Status"])["status"]
    _run_node(nodes["Live"], on=False, prompt="", seed=0.0, area=0.0)
    _tick_until(lambda: adapter.EDITOR.live.state == STOPPED, "the stop")
    _run_node(nodes["Timeline"], rows="0.7 a person walks\n0.7 a person jumps", seed=1.0)
    _tick_until(lambda: adapter.EDITOR.tracker.state == DONE, "the timeline")
    _run_node(nodes["Continue"], prompt="a person sits", seconds=1.0, seed=2.0)
    _tick_until(lambda: adapter.EDITOR.tracker.state == DONE and adapter.EDITOR.tracker.final.frames == 30,
                "the continuation")
    assert ue.ToolMenus.get().find_menu(adapter.TOOLS_MENU).sections == {}, "init_unreal.py never ran"


def test_every_unreal_member_directing_and_live_touch_exists_in_the_ue5_stub(fake_unreal: tuple[Any, Any],
                                                                            live_daemon: Any) -> None:
    from ue_api_stub import load_stub_index

    index = load_stub_index()
    ue, adapter = fake_unreal
    _connected(ue, adapter, live_daemon.port)
    library = adapter.MotionBridgeLibrary
    _generated(adapter, library.ContinueFromSelection("a person walks", 1.0, 1))
    ue.EditorUtilityLibrary.selected_assets = [ue.AssetTools.created[library.Bake("/Game/MotionBridge/A_Api")]]
    _generated(adapter, library.ContinueFromSelection("a person walks on", 1.0, 2))
    assert library.Live(True, "a person walks", 0, 50.0)
    _tick_until(lambda: (adapter.EDITOR.live.playhead.frame or 0) > 3, "live frames")
    assert library.Record(0.1, "/Game/MotionBridge/A_ApiLive")
    assert library.Live(False, "", 0, 0.0)
    own_classes = {name for name, value in vars(adapter).items() if isinstance(value, type)}
    touched = sorted(a for a in ue_fake_editor.log.accessed if a[0] not in own_classes)
    for used in [("SkeletalMeshComponent", "get_bone_transform"), ("AnimSequence", "get_skeleton"),
                 ("AnimPoseExtensions", "get_anim_pose_at_time"), ("AnimPoseExtensions", "get_bone_pose"),
                 ("AnimationLibrary", "get_sequence_length"), ("Transform", "rotation")]:
        assert used in touched, used
    missing = [f"{cls}.{member}" for cls, member in touched if not index.has(cls, member)]
    assert not missing, f"not in the UE 5 API: {missing}"
