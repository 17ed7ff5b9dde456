"""ue_adapter against a recording fake `unreal` module and the real daemon: menus, the Blueprint library, the
panel's Execute Python Script nodes, connecting off the game thread, live preview on a PoseableMeshComponent and
baking an AnimSequence, checked call by call against the engine's reference retarget of the same job fetched in
the source convention."""

from __future__ import annotations

import importlib
import math
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ue_fake_editor
from motionbridge_unreal import protocol
from motionbridge_unreal.clips import DONE, GenerationTracker
from motionbridge_unreal.retarget import quat_about_z, quat_mul, quat_rotate

from engine.core.motion import Motion
from engine.retarget.rig import RigMotion
from engine.retarget.rig import retarget as engine_retarget
from engine.retarget.rigs import manny

DOCS = Path(__file__).resolve().parents[2] / "docs" / "unreal.md"
MANNY_PATH = "/Game/Characters/Mannequins/Meshes/SKM_Manny"
TURN = quat_about_z(math.pi / 2)
"""Unreal skeletal meshes face +Y in component space; the engine's stand-in Manny faces +X."""


def _manny_mesh(ue: Any) -> Any:
    """The engine's Manny stand-in turned to face +Y, as an editor SkeletalMesh (reference pose)."""
    rig = manny()
    bones = []
    for b, name in enumerate(rig.bones):
        t = tuple(float(v) for v in rig.rest_translations[b])
        q = tuple(float(v) for v in rig.rest_rotations[b])
        if rig.parents[b] == 0:  # children of `root`: turning them turns the whole body
            t, q = quat_rotate(TURN, t), quat_mul(TURN, q)
        parent = rig.bones[rig.parents[b]] if rig.parents[b] >= 0 else None
        bones.append((name, parent, t, q))
    return ue.SkeletalMesh(MANNY_PATH, ue.Skeleton("/Game/Characters/Mannequins/Meshes/SK_Mannequin"), bones)


def _same_rotation(a: Any, b: Any, tol: float = 2e-4) -> bool:
    return abs(float(np.dot(a, b))) > 1.0 - tol


def _quat(q: Any) -> tuple:
    return (q.x, q.y, q.z, q.w)


def _vec(v: Any) -> tuple:
    return (v.x, v.y, v.z)


def _tick_until(done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Run the editor's slate ticks (the plugin's post-tick callback) until `done`."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"waited for {what}; errors: {ue_fake_editor.errors}"
        for tick in list(ue_fake_editor.tick_callbacks.values()):
            tick(0.03)
        time.sleep(0.005)


@dataclass
class EditorRun:
    ue: Any
    adapter: Any
    request_id: str
    clip: Any
    expected: RigMotion
    selected: Any
    preview_calls: list
    preview_frame: int
    bake_calls: list
    baked: Any
    baked_path: str


def _reference(client: Any, job: str) -> RigMotion:
    """The same job in the source convention, retargeted by the engine's reference implementation."""
    fetch_id = client.next_id()
    client.send(protocol.fetch(fetch_id, job, target="smplh"))
    tracker = GenerationTracker()
    tracker.start(fetch_id)
    deadline = time.monotonic() + 30
    while tracker.state != DONE and time.monotonic() < deadline:
        event = client.next_event(0.5)
        if isinstance(event, dict):
            tracker.handle(event)
    assert tracker.state == DONE, tracker.describe()
    clip = tracker.final
    motion = Motion(root=np.array(clip.root, dtype=np.float32), rotations=np.array(clip.rotations, dtype=np.float32))
    return engine_retarget(motion, manny())


def run_editor(ue: Any, adapter: Any, port: int) -> EditorRun:
    """What a user does: select the Mannequin, Connect, Generate, watch the preview, Bake."""
    mesh = _manny_mesh(ue)
    # A Character: capsule at (100, 200, 90), its mesh 90 cm lower and turned −90° like the template's.
    selected = ue.SkeletalMeshActor(mesh, ue.Vector(100.0, 200.0, 90.0), ue.Vector(0.0, 0.0, -90.0), -90.0)
    actors = ue.get_editor_subsystem(ue.EditorActorSubsystem)
    actors.level.append(selected)
    actors.selected.append(selected)
    library = adapter.MotionBridgeLibrary
    assert library.Connect("127.0.0.1", port) is True, ue_fake_editor.errors
    (tick,) = ue_fake_editor.tick_callbacks.values()
    request_id = library.Generate("a person waves with both hands", 1.0, 5)
    assert request_id, ue_fake_editor.errors
    deadline = time.monotonic() + 60
    while adapter.EDITOR.tracker.state != DONE and time.monotonic() < deadline:
        tick(1.0 / 30.0)
        time.sleep(0.005)
    assert adapter.EDITOR.tracker.state == DONE, library.Status()
    clip = adapter.EDITOR.tracker.final
    expected = _reference(adapter.EDITOR.client, adapter.EDITOR.tracker.job)

    frame = 10
    adapter.EDITOR.playback_time = 0.0
    start = len(ue_fake_editor.log.calls)
    tick((frame + 0.5) / 30.0)
    preview_calls = ue_fake_editor.log.calls[start:]

    start = len(ue_fake_editor.log.calls)
    baked_path = library.Bake("/Game/MotionBridge/A_Wave")
    bake_calls = ue_fake_editor.log.calls[start:]
    baked = ue.AssetTools.created.get("/Game/MotionBridge/A_Wave.A_Wave")
    return EditorRun(ue, adapter, request_id, clip, expected, selected, preview_calls, frame, bake_calls, baked,
                     baked_path)


@pytest.fixture()
def editor_run(fake_unreal: tuple[Any, Any], live_daemon: Any) -> EditorRun:
    ue, adapter = fake_unreal
    return run_editor(ue, adapter, live_daemon.port)


def test_generate_spawns_a_poseable_preview_of_the_selected_mesh_where_it_stands(editor_run: EditorRun) -> None:
    ue = editor_run.ue
    actors = ue.get_editor_subsystem(ue.EditorActorSubsystem)
    preview = next(a for a in actors.level if a.get_actor_label() == editor_run.adapter.PREVIEW_ACTOR_LABEL)
    component = preview.get_component_by_class(ue.PoseableMeshComponent)
    assert component.get_skinned_asset().get_path_name() == MANNY_PATH
    assert _vec(preview.get_actor_location()) == (100.0, 200.0, 0.0), "at the mesh, not the capsule centre"
    assert preview._rotation.yaw == -90.0


def test_preview_sets_component_space_rotations_parent_first_from_the_reference_retarget(
        editor_run: EditorRun) -> None:
    rig = editor_run.expected.rig
    calls = [c for c in editor_run.preview_calls if c[0] == "PoseableMeshComponent"]
    assert calls[0][1] == "set_bone_location_by_name" and calls[0][2][0] == "pelvis"
    rotations = [c for c in calls if c[1] == "set_bone_rotation_by_name"]
    driven = [b for b in rig.bones if b in rig.bone_map]
    assert [c[2][0] for c in rotations] == driven, "every driven bone once, parents before children"
    assert all(c[2][2] == "COMPONENT_SPACE" for c in calls)
    world_pos, world_rot = editor_run.expected.world("rig")
    f = editor_run.preview_frame
    for _, _, (bone, rotator, _space) in rotations:
        expected = quat_mul(TURN, tuple(world_rot[f, rig.index(bone)]))
        assert _same_rotation(_quat(rotator.quaternion()), expected), bone
    hips = quat_rotate(TURN, tuple(world_pos[f, rig.index("pelvis")]))
    assert np.allclose(_vec(calls[0][2][1]), hips, atol=0.05)


def test_bake_calls_the_animation_data_controller_in_order_and_saves(editor_run: EditorRun) -> None:
    assert editor_run.baked_path == "/Game/MotionBridge/A_Wave.A_Wave"
    rig = editor_run.expected.rig
    driven = [b for b in rig.bones if b in rig.bone_map]
    members = [(c[0], c[1]) for c in editor_run.bake_calls
               if c[0] in ("AnimSequenceFactory", "AssetToolsHelpers", "AssetTools", "AnimationDataController",
                           "EditorAssetLibrary")]
    assert members == [
        ("AnimSequenceFactory", "set_editor_property"),
        ("AnimSequenceFactory", "set_editor_property"),
        ("AssetToolsHelpers", "get_asset_tools"),
        ("EditorAssetLibrary", "does_asset_exist"),
        ("AssetTools", "create_asset"),
        ("AnimationDataController", "open_bracket"),
        ("AnimationDataController", "set_frame_rate"),
        ("AnimationDataController", "set_number_of_frames"),
        ("AnimationDataController", "remove_all_bone_tracks"),
        *[(owner, m) for _ in driven for owner, m in (("AnimationDataController", "add_bone_curve"),
                                                      ("AnimationDataController", "set_bone_track_keys"))],
        ("AnimationDataController", "close_bracket"),
        ("EditorAssetLibrary", "save_loaded_asset"),
    ]
    log = ue_fake_editor.log
    props = dict(log.named("set_editor_property", "AnimSequenceFactory"))
    mesh = editor_run.selected.skeletal_mesh_component.get_skinned_asset()
    assert props == {"target_skeleton": mesh.skeleton, "preview_skeletal_mesh": mesh}
    name, folder, asset_class, _factory = log.named("create_asset")[0]
    assert (name, folder, asset_class) == ("A_Wave", "/Game/MotionBridge", editor_run.ue.AnimSequence)
    assert [c[2][0] for c in editor_run.bake_calls if c[1] == "add_bone_curve"] == driven
    controller = editor_run.baked.controller
    assert controller.bracket_depth == 0
    assert (controller.frame_rate.numerator, controller.frame_rate.denominator) == (30, 1)
    assert controller.number_of_frames == editor_run.clip.frames - 1 == 29
    assert editor_run.ue.EditorAssetLibrary.saved == [editor_run.baked]


def test_baked_keys_are_the_reference_local_rotations_in_unreals_frame(editor_run: EditorRun) -> None:
    expected = editor_run.expected
    rig = expected.rig
    tracks = editor_run.baked.controller.tracks
    frames = editor_run.clip.frames
    assert sorted(tracks) == sorted(rig.bone_map)
    for bone, (positions, rotations, scales) in tracks.items():
        b = rig.index(bone)
        assert len(positions) == len(rotations) == len(scales) == frames, bone
        quats = np.array([_quat(q) for q in rotations])
        assert np.all(np.sum(quats[1:] * quats[:-1], axis=1) >= 0.0), f"{bone}: keys flip sign between frames"
        for f in range(frames):
            want = expected.rotations[f, b]
            if bone == "pelvis":
                want = quat_mul(TURN, tuple(want))
            assert _same_rotation(quats[f], want), (bone, f)
        assert all(_vec(s) == (1.0, 1.0, 1.0) for s in scales)
        trans = np.array([_vec(p) for p in positions])
        want_trans = expected.translations[:, b]
        if bone == "pelvis":
            want_trans = np.array([quat_rotate(TURN, tuple(t)) for t in want_trans])
        assert np.allclose(trans, want_trans, atol=0.05), bone


def test_every_unreal_member_the_adapter_touched_exists_in_the_ue5_stub(editor_run: EditorRun) -> None:
    from ue_api_stub import load_stub_index

    index = load_stub_index()
    adapter = editor_run.adapter
    ue = editor_run.ue
    adapter.register_menus()
    adapter.show_status()
    adapter.generate_dialog()
    adapter.bake_dialog()
    ue.EditorAssetLibrary.assets[adapter.WIDGET_ASSET] = ue.Object()
    adapter.open_panel()
    adapter.EDITOR.rig = None
    assert adapter.EDITOR._preview_rig().component is not None, "finds the preview actor already in the level"
    ue.get_editor_subsystem(ue.EditorActorSubsystem).selected.clear()
    ue.EditorAssetLibrary.assets[adapter.MANNEQUIN_MESHES[1]] = _manny_mesh(ue)
    assert adapter._selected_mesh()[0].get_path_name() == MANNY_PATH
    own_classes = {name for name, value in vars(adapter).items() if isinstance(value, type)}
    touched = sorted(a for a in ue_fake_editor.log.accessed if a[0] not in own_classes)
    assert ("AnimationDataController", "set_bone_track_keys") in touched
    assert ("PoseableMeshComponent", "set_bone_rotation_by_name") in touched
    assert ("EditorUtilitySubsystem", "spawn_and_register_tab") in touched
    assert ("Actor", "get_component_by_class") in touched
    assert ("EditorAssetLibrary", "load_asset") in touched
    missing = [f"{cls}.{member}" for cls, member in touched if not index.has(cls, member)]
    assert not missing, f"not in the UE 5 API: {missing}"


def test_status_reports_connection_and_result(editor_run: EditorRun) -> None:
    status = editor_run.adapter.MotionBridgeLibrary.Status()
    assert status.startswith("connected to motionbridge/")
    assert "done: 30 frames (1.0 s)" in status
    assert "baked /Game/MotionBridge/A_Wave.A_Wave" in status


def test_cancel_stops_a_running_generation(fake_unreal: tuple[Any, Any], live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    actors = ue.get_editor_subsystem(ue.EditorActorSubsystem)
    actors.selected.append(ue.SkeletalMeshActor(_manny_mesh(ue), ue.Vector(), ue.Vector(), 0.0))
    library = adapter.MotionBridgeLibrary
    assert library.Connect("127.0.0.1", live_daemon.port)
    _tick_until(lambda: adapter.EDITOR.client is not None, "the connection")
    assert library.Cancel() is False, "nothing runs yet"
    assert library.Generate("a person walks in a long circle", 10.0, 1)
    assert library.Cancel() is True
    (tick,) = ue_fake_editor.tick_callbacks.values()
    deadline = time.monotonic() + 30
    while adapter.EDITOR.tracker.busy and time.monotonic() < deadline:
        tick(0.03)
        time.sleep(0.01)
    assert adapter.EDITOR.tracker.state == "cancelled", library.Status()
    assert library.Bake("/Game/MotionBridge/A_Nothing") == ""
    assert "nothing to bake yet" in ue_fake_editor.errors[-1]


def test_user_errors_are_reported_not_raised(fake_unreal: tuple[Any, Any], live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    library = adapter.MotionBridgeLibrary
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    assert library.Connect("127.0.0.1", closed_port) is True, "Connect only starts connecting"
    _tick_until(lambda: library.Status().startswith("not connected"), "the refusal")
    assert "motionbridge serve" in ue_fake_editor.errors[-1]
    assert library.Connect("127.0.0.1", live_daemon.port) is True
    assert library.Generate("a person walks", 1.0, 0) == "", "no mesh selected and no Mannequin in the project"
    assert "no skeletal mesh to preview on" in ue_fake_editor.errors[-1]
    assert library.Generate("   ", 1.0, 0) == ""
    assert library.Bake("not-a-path") == ""
    assert "Status" not in ue_fake_editor.errors[-1]
    assert not ue.AssetTools.created


def test_tools_menu_entries_run_python_that_reaches_the_adapter(fake_unreal: tuple[Any, Any]) -> None:
    ue, adapter = fake_unreal
    adapter.register_menus()
    tools = ue.ToolMenus.get().find_menu(adapter.TOOLS_MENU)
    entries = tools.sections[adapter.MENU_OWNER]
    assert [e._label for e in entries] == ["MotionBridge", "MotionBridge: Generate...", "MotionBridge: Cancel",
                                          "MotionBridge: Bake...", "MotionBridge: Status"]
    assert all(e.type == "MENU_ENTRY" and e._command[0] == "PYTHON" for e in entries)
    status_entry = entries[-1]
    exec(status_entry._command[2], {})  # noqa: S102 - exactly what the editor does with a Python menu command
    assert ue_fake_editor.log.named("show_message")[-1][1] == "disconnected | idle"
    assert ue_fake_editor.log.named("refresh_all_widgets")
    assert ue_fake_editor.shutdown_callbacks == [adapter.EDITOR.disconnect]


def test_open_panel_uses_the_widget_when_built_and_the_dialog_otherwise(fake_unreal: tuple[Any, Any]) -> None:
    ue, adapter = fake_unreal
    ue.EditorDialog.answer = False
    adapter.open_panel()
    assert ue_fake_editor.log.named("show_object_details_view")[-1][0] == "MotionBridge: generate"
    assert not ue_fake_editor.log.named("Generate"), "a cancelled dialog generates nothing"
    widget = ue.Object()
    ue.EditorAssetLibrary.assets[adapter.WIDGET_ASSET] = widget
    adapter.open_panel()
    assert ue_fake_editor.log.named("spawn_and_register_tab") == [(widget,)]


def test_connect_returns_at_once_while_the_daemon_is_slow_to_answer(fake_unreal: tuple[Any, Any]) -> None:
    """TCP connect, upgrade, hello and ready have 5 s timeouts each: none of that may freeze the game thread."""
    ue, adapter = fake_unreal
    library = adapter.MotionBridgeLibrary
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        assert library.Connect("127.0.0.1", port) is True
        assert time.monotonic() - started < 0.5, "Connect waited for the daemon on the game thread"
        assert library.Status() == f"connecting to ws://127.0.0.1:{port}/v1 | idle"
        for tick in ue_fake_editor.tick_callbacks.values():
            tick(0.03)
        assert library.Status().startswith("connecting"), "a tick does not wait for the handshake either"
        daemon_side, _ = silent.accept()
        daemon_side.close()  # the "daemon" hangs up mid-handshake
        _tick_until(lambda: library.Status().startswith("not connected"), "the failed handshake")
    assert f"ws://127.0.0.1:{port}/v1" in ue_fake_editor.errors[-1]
    assert adapter.EDITOR.client is None


def test_a_generate_made_while_connecting_is_sent_once_connected(fake_unreal: tuple[Any, Any], live_daemon: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ue, adapter = fake_unreal
    ue.get_editor_subsystem(ue.EditorActorSubsystem).selected.append(
        ue.SkeletalMeshActor(_manny_mesh(ue), ue.Vector(), ue.Vector(), 0.0))
    handshake_may_finish = threading.Event()
    real_connect = adapter.BridgeClient.connect

    def slow_connect(client: Any) -> Any:
        handshake_may_finish.wait(30)
        return real_connect(client)

    monkeypatch.setattr(adapter.BridgeClient, "connect", slow_connect)
    library = adapter.MotionBridgeLibrary
    assert library.Connect("127.0.0.1", live_daemon.port)
    cancelled = library.Generate("a person jumps", 1.0, 2)
    assert cancelled and library.Cancel() is True, "a queued request can be cancelled before it is sent"
    assert adapter.EDITOR.tracker.state == "cancelled"
    request_id = library.Generate("a person waves", 1.0, 4)
    assert request_id and adapter.EDITOR.tracker.state == "sent"
    handshake_may_finish.set()
    _tick_until(lambda: adapter.EDITOR.tracker.state == "done", "the queued request")
    assert adapter.EDITOR.tracker.request_id == request_id
    assert library.Status().startswith("connected to motionbridge/")


@pytest.mark.parametrize("refusal", ["refused_tracks", "refused_keys"])
def test_a_track_the_controller_refuses_fails_the_bake_and_nothing_is_saved(
        fake_unreal: tuple[Any, Any], live_daemon: Any, refusal: str) -> None:
    ue, adapter = fake_unreal
    setattr(ue.AnimationDataController, refusal, {"hand_l"})
    run = run_editor(ue, adapter, live_daemon.port)
    assert run.baked_path == ""
    assert "hand_l" in ue_fake_editor.errors[-1] and "nothing was saved" in ue_fake_editor.errors[-1]
    assert ue.EditorAssetLibrary.saved == []
    (deleted,) = ue.EditorAssetLibrary.deleted
    assert deleted.get_path_name() == "/Game/MotionBridge/A_Wave.A_Wave" and run.baked is None
    assert "baked" not in run.adapter.MotionBridgeLibrary.Status()


def test_a_refused_bake_over_an_existing_asset_keeps_that_asset(fake_unreal: tuple[Any, Any],
                                                                live_daemon: Any) -> None:
    ue, adapter = fake_unreal
    ue.EditorAssetLibrary.assets["/Game/MotionBridge/A_Wave"] = ue.AnimSequence("/Game/MotionBridge/A_Wave.A_Wave")
    ue.AnimationDataController.refused_tracks = {"hand_l"}
    run = run_editor(ue, adapter, live_daemon.port)
    assert run.baked_path == "" and ue.EditorAssetLibrary.saved == []
    assert ue.EditorAssetLibrary.deleted == [], "deleting would delete the saved asset it replaced"
    assert "do not save it" in ue_fake_editor.errors[-1]


def test_the_preview_component_is_the_instance_not_the_deprecated_lookup(fake_unreal: tuple[Any, Any]) -> None:
    ue, adapter = fake_unreal
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        component = adapter._spawn_preview_component(_manny_mesh(ue), None)
    assert isinstance(component, ue.PoseableMeshComponent)
    assert ue_fake_editor.log.named("get_associated_object") and not ue_fake_editor.log.named("get_object")


def test_an_engine_without_get_associated_object_uses_get_object(fake_unreal: tuple[Any, Any],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ue, adapter = fake_unreal
    monkeypatch.delattr(ue.SubobjectDataBlueprintFunctionLibrary, "get_associated_object")  # UE 5.3 to 5.5
    with pytest.warns(DeprecationWarning):
        component = adapter._spawn_preview_component(_manny_mesh(ue), None)
    assert isinstance(component, ue.PoseableMeshComponent)


def test_the_preview_mesh_hangs_under_the_spawned_actors_default_scene_root(fake_unreal: tuple[Any, Any]) -> None:
    ue, adapter = fake_unreal
    component = adapter._spawn_preview_component(_manny_mesh(ue), None)
    (actor,) = ue.get_editor_subsystem(ue.EditorActorSubsystem).level
    root = actor.root_component
    assert root is not component and root.get_path_name().endswith(".DefaultSceneRoot")
    assert component.get_attach_parent() is root
    assert adapter._find_preview_component() is component


# ---------------------------------------------------------------- the panel, restored before init_unreal.py


def _doc_scripts() -> str:
    return DOCS.read_text(encoding="utf-8")


@pytest.fixture()
def editor_at_startup() -> Iterator[tuple[Any, dict[str, Any]]]:
    """The editor as it restores a panel left open: `unreal` exists, init_unreal.py has not run (the plugin's
    module is not imported, no menu exists). Yields the fake `unreal` and the panel's nodes."""
    saved = sys.modules.get("unreal")
    sys.modules["unreal"] = ue_fake_editor.make_module()
    sys.modules.pop("motionbridge_unreal.ue_adapter", None)
    nodes = dict(importlib.import_module("motionbridge_unreal.ue_adapter").PANEL_NODES)
    sys.modules.pop("motionbridge_unreal.ue_adapter", None)
    sys.modules["unreal"] = ue_fake_editor.make_module()
    try:
        yield sys.modules["unreal"], nodes
    finally:
        adapter = sys.modules.pop("motionbridge_unreal.ue_adapter", None)
        if adapter is not None:
            adapter.EDITOR.disconnect()
        if saved is None:
            sys.modules.pop("unreal", None)
        else:
            sys.modules["unreal"] = saved


def _run_node(node: Any, **inputs: Any) -> dict[str, Any]:
    """What an Execute Python Script node does: its input pins become variables, its output pins read them back."""
    assert set(inputs) == set(node.inputs)
    scope = dict(inputs)
    exec(node.script, scope)  # noqa: S102 - the node's script, as the editor runs it
    return {name: scope[name] for name in node.outputs}


def test_the_panel_scripts_are_the_ones_the_docs_tell_users_to_wire(editor_at_startup: tuple[Any, dict]) -> None:
    _, nodes = editor_at_startup
    docs = _doc_scripts()
    assert set(nodes) == {"Connect", "Generate", "Cancel", "Bake", "Status", "Continue", "ContinueFromSelection",
                          "Timeline", "Live", "LivePrompt", "Record"}
    doc_lines = "\n".join(line.strip() for line in docs.splitlines())
    for name, node in nodes.items():
        assert node.script in doc_lines, f"docs/unreal.md does not show the {name} script as the code has it:\n" \
                                         f"{node.script}"
        for pin in node.inputs + node.outputs:
            assert f"`{pin}`" in docs, f"docs/unreal.md does not name the {name} node's pin {pin}"


def test_the_panel_works_when_restored_before_init_unreal_ran(editor_at_startup: tuple[Any, dict],
                                                              live_daemon: Any) -> None:
    ue, nodes = editor_at_startup
    assert "motionbridge_unreal.ue_adapter" not in sys.modules
    assert _run_node(nodes["Status"]) == {"status": "disconnected | idle"}, "the first use imports the plugin"
    actors = ue.get_editor_subsystem(ue.EditorActorSubsystem)
    actors.selected.append(ue.SkeletalMeshActor(_manny_mesh(ue), ue.Vector(), ue.Vector(), 0.0))
    connect = nodes["Connect"]._replace(script=nodes["Connect"].script.replace("8747", str(live_daemon.port)))
    _run_node(connect)
    adapter = sys.modules["motionbridge_unreal.ue_adapter"]
    _tick_until(lambda: adapter.EDITOR.client is not None, "the connection")
    _run_node(nodes["Generate"], prompt="a person waves", seconds=1.0, seed=3.0)
    _tick_until(lambda: adapter.EDITOR.tracker.state == "done", "the motion")
    assert adapter.EDITOR.tracker.final.frames == 30
    _run_node(nodes["Bake"], path="/Game/MotionBridge/A_Panel")
    assert "baked /Game/MotionBridge/A_Panel.A_Panel" in _run_node(nodes["Status"])["status"]
    assert _run_node(nodes["Cancel"]) == {}
    assert ue.ToolMenus.get().find_menu(adapter.TOOLS_MENU).sections == {}, "init_unreal.py never ran"
