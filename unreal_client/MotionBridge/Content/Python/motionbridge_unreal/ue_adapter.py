"""The only module that imports `unreal`: editor menus, the Blueprint library, live preview and baking.

- Tools ▸ MotionBridge (ToolMenus) opens the Editor Utility Widget (built once, see docs/unreal.md) or, while
  it does not exist yet, a details dialog that asks for the prompt.
- `MotionBridgeLibrary` (Blueprint-callable, static): Connect, Generate, Cancel, Status, Bake; directing (protocol
  v1.1, when the daemon's hello lists it): Continue, ContinueFromSelection, Timeline; live mode: Live, LivePrompt,
  Record. The widget calls
  them through the engine's own "Execute Python Script" nodes (`PANEL_NODES`), never as nodes of this class: a
  widget left open is restored at editor start before init_unreal.py runs, when this class does not exist yet.
- Connecting runs on a worker thread. A slate post-tick callback takes its outcome, drains the client's event
  queue on the game thread and poses a `PoseableMeshComponent` on a preview actor with the retargeted frame
  (component-space rotations).
- Bake: an AnimSequence for the preview mesh's skeleton, filled through its AnimationDataController with
  local bone keys and saved with EditorAssetLibrary, only if the controller accepted every track. Record bakes
  the last seconds of a live stream the same way.
- Live: the receive thread queues the streamed frames like any event; each tick moves a real-time playhead over
  a ring buffer of them (`live.py`) and poses the preview, so nothing waits on the network on the game thread.

All networking and math live in the `unreal`-free modules next to this one; this file only moves values
between them and the editor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import unreal

from . import directing, protocol
from .client import BridgeClient, BridgeConnectionError, ConnectionEvent
from .clips import DONE, Clip, GenerationTracker
from .live import FAILED as LIVE_FAILED
from .live import STOPPED as LIVE_STOPPED
from .live import STOPPING as LIVE_STOPPING
from .live import STREAMING as LIVE_STREAMING
from .live import LiveSession, PromptDebouncer
from .retarget import Quat, RetargetError, TargetSkeleton, Vec3, WorldDeltaRetargeter

MENU_OWNER = "MotionBridge"
TOOLS_MENU = "LevelEditor.MainMenu.Tools"
WIDGET_ASSET = "/Game/MotionBridge/EUW_MotionBridge"
"""Where docs/unreal.md has the user save the Editor Utility Widget."""
PREVIEW_ACTOR_LABEL = "MotionBridgePreview"
MANNEQUIN_MESHES = (
    "/Game/Characters/Mannequins/Meshes/SKM_Manny_Simple",
    "/Game/Characters/Mannequins/Meshes/SKM_Manny",
    "/Game/Characters/Mannequins/Meshes/SKM_Quinn_Simple",
)
"""Where the UE5 Third Person template puts the Mannequins; used when nothing is selected."""


class MotionBridgeEditorError(Exception):
    """Something the user can fix (no daemon, no mesh, nothing to bake); the message says what."""


# ---------------------------------------------------------------- reading the editor


def read_target_skeleton(component: Any) -> TargetSkeleton:
    """The reference pose of the component's skeletal mesh: names, parents, local translations/rotations."""
    count = component.get_num_bones()
    names = [str(component.get_bone_name(i)) for i in range(count)]
    index = {name: i for i, name in enumerate(names)}
    parents: list[int] = []
    translations = []
    rotations = []
    for i, name in enumerate(names):
        parents.append(index.get(str(component.get_parent_bone(name)), -1))
        transform = component.get_ref_pose_transform(i)
        t, q = transform.translation, transform.rotation
        translations.append((t.x, t.y, t.z))
        rotations.append((q.x, q.y, q.z, q.w))
    return TargetSkeleton(names, parents, translations, rotations)


def _selected_mesh() -> tuple[Any, Any | None]:
    """The skeletal mesh to preview on, and the selected mesh component it came from (if any)."""
    actors = unreal.get_editor_subsystem(unreal.EditorActorSubsystem)
    for actor in actors.get_selected_level_actors():
        # Skeletal Mesh actors and Characters alike carry a SkeletalMeshComponent.
        component = actor.get_component_by_class(unreal.SkeletalMeshComponent)
        if component is not None and component.get_skinned_asset() is not None:
            return component.get_skinned_asset(), component
    for asset in unreal.EditorUtilityLibrary.get_selected_assets():
        if isinstance(asset, unreal.SkeletalMesh):
            return asset, None
    for path in MANNEQUIN_MESHES:
        if unreal.EditorAssetLibrary.does_asset_exist(path):
            return unreal.EditorAssetLibrary.load_asset(path), None
    raise MotionBridgeEditorError(
        "no skeletal mesh to preview on: select a Skeletal Mesh actor or Character in the level or a Skeletal "
        "Mesh asset in the Content Browser (or add the Third Person template, which brings the UE5 Mannequin)")


def _find_preview_component() -> Any | None:
    actors = unreal.get_editor_subsystem(unreal.EditorActorSubsystem)
    for actor in actors.get_all_level_actors():
        if actor.get_actor_label() == PREVIEW_ACTOR_LABEL:
            component = actor.get_component_by_class(unreal.PoseableMeshComponent)
            if component is not None:
                return component
    return None


def _spawn_preview_component(mesh: Any, near: Any | None) -> Any:
    """A new actor in the level with a PoseableMeshComponent showing `mesh`, placed where the mesh component
    `near` is (so a Character's mesh, offset and turned inside its capsule, is matched exactly)."""
    actors = unreal.get_editor_subsystem(unreal.EditorActorSubsystem)
    if near is not None:
        actor = actors.spawn_actor_from_class(unreal.Actor, near.get_world_location(), near.get_world_rotation())
    else:
        actor = actors.spawn_actor_from_class(unreal.Actor, unreal.Vector(0.0, 0.0, 0.0))
    actor.set_actor_label(PREVIEW_ACTOR_LABEL)
    # Components are added to a placed actor through the subobject subsystem (what the Details panel's
    # "+ Add" button does). The editor gives a spawned plain Actor a DefaultSceneRoot at the spawn transform;
    # added under the actor (handles[0]), the new component is attached to that root, so it sits there too.
    subobjects = unreal.get_engine_subsystem(unreal.SubobjectDataSubsystem)
    handles = subobjects.k2_gather_subobject_data_for_instance(actor)
    params = unreal.AddNewSubobjectParams(parent_handle=handles[0], new_class=unreal.PoseableMeshComponent)
    handle, failure = subobjects.add_new_subobject(params)
    if str(failure):
        raise MotionBridgeEditorError(f"could not add a PoseableMeshComponent to the preview actor: {failure}")
    component = _subobject_instance(unreal.SubobjectDataBlueprintFunctionLibrary.get_data(handle))
    component.set_skinned_asset_and_update(mesh)
    return component


def _subobject_instance(data: Any) -> Any:
    """The component a subobject handle stands for. UE 5.6 deprecates get_object (it can answer with the class
    default template instead of the placed actor's component) for get_associated_object, which 5.3 lacks."""
    library = unreal.SubobjectDataBlueprintFunctionLibrary
    get_associated_object = getattr(library, "get_associated_object", None)
    if get_associated_object is not None:
        return get_associated_object(data)
    return library.get_object(data)


class PreviewRig:
    """The PoseableMeshComponent being posed, its mesh's reference skeleton and the retargeter onto it."""

    def __init__(self, component: Any) -> None:
        self.component = component
        self.mesh = component.get_skinned_asset()
        if self.mesh is None:
            raise MotionBridgeEditorError("the preview component has no skeletal mesh")
        self.skeleton = self.mesh.skeleton
        self.target = read_target_skeleton(component)
        self._retargeter: WorldDeltaRetargeter | None = None
        self._retarget_key: tuple[str, ...] | None = None

    def retargeter(self, hello: protocol.Hello, joints: list[str]) -> WorldDeltaRetargeter:
        """The retargeter for motion with these wire joint names (hello.skeleton gives parents and rest)."""
        key = tuple(joints)
        if self._retargeter is None or self._retarget_key != key:
            if len(joints) != len(hello.parents):
                raise RetargetError(
                    f"motion has {len(joints)} joints, the daemon's skeleton {len(hello.parents)}")
            self._retargeter = WorldDeltaRetargeter(self.target, joints, hello.parents,
                                                    protocol.source_rest_in_unreal(hello.rest))
            self._retarget_key = key
        return self._retargeter

    def show(self, retargeter: WorldDeltaRetargeter, clip: Clip, frame: int) -> None:
        self.show_frame(retargeter, clip.root[frame], clip.rotations[frame])

    def show_frame(self, retargeter: WorldDeltaRetargeter, root: Vec3, rotations: list[Quat]) -> None:
        """Pose the component with one frame, parents before children (each call reads the parent's pose)."""
        pose = retargeter.retarget(root, rotations)
        space = unreal.BoneSpaces.COMPONENT_SPACE
        for bone in pose.bones:
            if bone == pose.root_bone:
                self.component.set_bone_location_by_name(bone, unreal.Vector(*pose.root_component_position), space)
            rotation = unreal.Quat(*pose.component_rotations[bone])
            self.component.set_bone_rotation_by_name(bone, rotation.rotator(), space)


# ---------------------------------------------------------------- reading poses to continue from


PosedFrame = tuple[dict[str, Quat], Vec3]
"""Component-space rotations of the mesh's bones and the hips bone's component-space position."""


def _read_bones(retargeter: WorldDeltaRetargeter, transform_of: Callable[[str], Any]) -> PosedFrame:
    rotations: dict[str, Quat] = {}
    hips: Vec3 = (0.0, 0.0, 0.0)
    root_bone = retargeter.source_joints[retargeter.source_root]
    for bone in retargeter.source_joints:
        if bone not in retargeter.target.index:
            continue
        transform = transform_of(bone)
        q, t = transform.rotation, transform.translation
        rotations[bone] = (q.x, q.y, q.z, q.w)
        if bone == root_bone:
            hips = (t.x, t.y, t.z)
    return rotations, hips


def read_component_pose(component: Any, retargeter: WorldDeltaRetargeter) -> PosedFrame:
    """The pose a skinned mesh component shows now (an actor in the level)."""
    space = unreal.RelativeTransformSpace.RTS_COMPONENT
    return _read_bones(retargeter, lambda bone: component.get_bone_transform(bone, space))


def read_sequence_end(sequence: Any, retargeter: WorldDeltaRetargeter, fps: int, frames: int) -> list[PosedFrame]:
    """The last `frames` poses of an AnimSequence, 1/fps apart and oldest first (component space, as the
    editor evaluates the sequence on its skeleton's reference pose)."""
    length = float(unreal.AnimationLibrary.get_sequence_length(sequence))
    frames = max(1, min(frames, int(length * fps + 1e-6) + 1))
    options = unreal.AnimPoseEvaluationOptions()
    space = unreal.AnimPoseSpaces.WORLD
    poses = []
    for k in range(frames):
        pose = unreal.AnimPoseExtensions.get_anim_pose_at_time(sequence, max(0.0, length - (frames - 1 - k) / fps),
                                                               options)
        poses.append(_read_bones(retargeter,
                                 lambda bone, pose=pose: unreal.AnimPoseExtensions.get_bone_pose(pose, bone, space)))
    return poses


# ---------------------------------------------------------------- baking


def bake_keys(retargeter: WorldDeltaRetargeter, clip: Clip) -> dict[str, tuple[list[tuple[float, float, float]],
                                                                               list[Quat]]]:
    """Per driven bone: local translations and local rotations for every frame of the clip.

    Rotations are made sign-continuous over time (q and −q are the same rotation, but key interpolation
    between them would spin the long way round).
    """
    target = retargeter.target
    keys: dict[str, tuple[list[tuple[float, float, float]], list[Quat]]] = {
        bone: ([], []) for bone in retargeter.bones}
    for f in range(clip.frames):
        pose = retargeter.retarget(clip.root[f], clip.rotations[f])
        for bone in pose.bones:
            positions, rotations = keys[bone]
            if bone == pose.root_bone:
                positions.append(pose.root_local_translation)
            else:
                positions.append(target.translations[target.index[bone]])
            q = pose.local_rotations[bone]
            if rotations:
                prev = rotations[-1]
                if prev[0] * q[0] + prev[1] * q[1] + prev[2] * q[2] + prev[3] * q[3] < 0.0:
                    q = (-q[0], -q[1], -q[2], -q[3])
            elif q[3] < 0.0:
                q = (-q[0], -q[1], -q[2], -q[3])
            rotations.append(q)
    return keys


def _split_asset_path(path: str) -> tuple[str, str]:
    path = path.strip().rstrip("/")
    if not path.startswith("/") or path.count("/") < 2:
        raise MotionBridgeEditorError(f"asset path {path!r} must look like /Game/Folder/AssetName")
    folder, _, name = path.rpartition("/")
    name = name.split(".")[0]
    if not name:
        raise MotionBridgeEditorError(f"asset path {path!r} has no asset name")
    return folder, name


def bake_anim_sequence(rig: PreviewRig, retargeter: WorldDeltaRetargeter, clip: Clip, path: str) -> Any:
    """Create, fill and save an AnimSequence for the rig's skeleton at `path` (/Game/Folder/Name)."""
    folder, name = _split_asset_path(path)
    factory = unreal.AnimSequenceFactory()
    factory.set_editor_property("target_skeleton", rig.skeleton)
    factory.set_editor_property("preview_skeletal_mesh", rig.mesh)
    asset_tools = unreal.AssetToolsHelpers.get_asset_tools()
    replacing = unreal.EditorAssetLibrary.does_asset_exist(f"{folder}/{name}")
    sequence = asset_tools.create_asset(name, folder, unreal.AnimSequence, factory)
    if sequence is None:
        raise MotionBridgeEditorError(f"could not create {folder}/{name} (does an asset of another type exist there?)")
    keys = bake_keys(retargeter, clip)
    controller = sequence.controller
    refused: list[str] = []
    controller.open_bracket("MotionBridge bake")
    try:
        controller.set_frame_rate(unreal.FrameRate(clip.fps, 1))
        # The data model counts frames as intervals: N keys span N − 1 frames.
        controller.set_number_of_frames(unreal.FrameNumber(clip.frames - 1))
        controller.remove_all_bone_tracks()
        for bone in retargeter.bones:
            positions, rotations = keys[bone]
            # Both answer False instead of raising (e.g. a bone the skeleton lacks): a sequence missing a track
            # would play with that bone frozen in its reference pose.
            if not controller.add_bone_curve(bone) or not controller.set_bone_track_keys(
                    bone,
                    [unreal.Vector(*p) for p in positions],
                    [unreal.Quat(*q) for q in rotations],
                    [unreal.Vector(1.0, 1.0, 1.0) for _ in positions]):
                refused.append(bone)
    finally:
        controller.close_bracket()
    if refused:
        problem = (f"the animation data controller refused the tracks of {', '.join(refused)} for {folder}/{name}, "
                   f"so nothing was saved: check that {rig.skeleton.get_path_name()} has those bones (Output Log, "
                   "LogAnimation)")
        if replacing:
            # Deleting would delete the saved sequence this one replaced in memory.
            raise MotionBridgeEditorError(problem + "; the open copy is incomplete, so do not save it")
        unreal.EditorAssetLibrary.delete_loaded_asset(sequence)
        raise MotionBridgeEditorError(problem)
    if not unreal.EditorAssetLibrary.save_loaded_asset(sequence):
        raise MotionBridgeEditorError(f"created {folder}/{name} but saving it failed (read-only folder?)")
    return sequence


# ---------------------------------------------------------------- the editor session


class ConnectAttempt:
    """A `BridgeClient` connecting on a worker thread (TCP connect, upgrade, hello and ready can take seconds
    each); the game thread looks at `finished` on its ticks and then takes `hello` or `error`."""

    def __init__(self, client: BridgeClient) -> None:
        self.client = client
        self.hello: protocol.Hello | None = None
        self.error: Exception | None = None
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        threading.Thread(target=self._connect, name="MotionBridgeConnect", daemon=True).start()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def _connect(self) -> None:
        try:
            self.hello = self.client.connect()
        except Exception as exc:  # noqa: BLE001 - whatever it is, the game thread reports it; a thread cannot
            self.error = exc
        with self._lock:
            self._finished.set()
            abandoned = self._abandoned
        if abandoned and self.error is None:
            self.client.close()

    def abandon(self) -> None:
        """Nobody wants this connection any more: close it now, or as soon as it is made."""
        with self._lock:
            self._abandoned = True
            finished = self._finished.is_set()
        if finished and self.error is None:
            self.client.close()


class MotionBridgeEditor:
    """One editor-wide session: the daemon connection, the request being generated or the live session, and
    the preview."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.client: BridgeClient | None = None
        self.tracker = GenerationTracker()
        self.rig: PreviewRig | None = None
        self.connection = "disconnected"
        self.notice = ""
        self.playback_time = 0.0
        self.server_status: dict[str, Any] = {}
        self.live: LiveSession | None = None
        self.live_view = False
        """True while the preview shows the live stream (from Live on until the next Generate)."""
        self.prompts = PromptDebouncer()
        self.clock = clock
        self._attempt: ConnectAttempt | None = None
        self._queued: dict[str, Any] | None = None
        self._queued_live: dict[str, Any] | None = None
        self._tick_handle: Any | None = None
        self._address: tuple[str, int, str | None] = (protocol.DEFAULT_HOST, protocol.DEFAULT_PORT, None)

    # -- commands

    def connect(self, host: str | None = None, port: int | None = None, token: str | None = None) -> None:
        """Start connecting and return at once; the tick takes the outcome (see `status`). Without arguments it
        goes back to the daemon last connected to (Generate and Live connect by themselves that way)."""
        if host is None and port is None and token is None:
            host, port, token = self._address
        self.disconnect()
        client = BridgeClient(host or protocol.DEFAULT_HOST, port or protocol.DEFAULT_PORT, token=token or None)
        self._address = (client.host, client.port, client.token)
        self._attempt = ConnectAttempt(client)
        self.connection = f"connecting to ws://{client.host}:{client.port}{protocol.PATH}"
        if self._tick_handle is None:
            self._tick_handle = unreal.register_slate_post_tick_callback(self.tick)

    def disconnect(self) -> None:
        if self._attempt is not None:
            self._attempt.abandon()
            self._attempt = None
        self._drop_queued("cancelled", "disconnected before the request was sent")
        if self.live is not None and self.live.active:
            self._queued_live = None
            self.live.handle({"op": "error", "id": self.live.request_id, "code": "cancelled",
                              "message": "disconnected"})
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._tick_handle is not None:
            unreal.unregister_slate_post_tick_callback(self._tick_handle)
            self._tick_handle = None
        self.connection = "disconnected"

    def generate(self, prompt: str | None, seconds: float, seed: int, start: dict[str, Any] | None = None,
                 segments: list[dict[str, Any]] | None = None) -> str:
        """Send a request, or queue it until the connection (started here if none is) is made. `start` and
        `segments` are the v1.1 fields; a daemon whose hello does not list them gets nothing (see `_check`)."""
        client = self._outgoing_client()
        message = protocol.generate(client.next_id(), prompt, seconds, seed, preview_every=5, start=start,
                                    segments=segments)
        if self._attempt is None:
            self._check(message)
        if self.tracker.busy and self.tracker.request_id is not None:
            # One request at a time: the panel shows one motion, so a new prompt replaces the running one.
            self.cancel()
        if self.live is not None and self.live_view:
            self._stop_live()
            self.live_view = False
        if self._attempt is None:
            request_id = client.submit(message)
        else:
            request_id = str(message["id"])
            self._queued = message
        self.tracker.start(request_id)
        self.notice = ""
        self.playback_time = 0.0
        return request_id

    def _outgoing_client(self) -> BridgeClient:
        """The client a new request goes out on: the connected one, else the one still connecting (the request
        waits in the queue until it is made), connecting first if there is neither. The preview rig is made here
        too, so the answers have a character to play on."""
        if self.rig is None:
            self.rig = self._preview_rig()
        if self._attempt is None and (self.client is None or not self.client.connected):
            self.connect()
        client = self.client if self._attempt is None else self._attempt.client
        assert client is not None
        return client

    def continue_clip(self, prompt: str, seconds: float, seed: int) -> str:
        """Generate the next clip from the end of the last finished one (`start` = its job, sample 0)."""
        if self.tracker.state != DONE or not self.tracker.job:
            raise MotionBridgeEditorError("nothing to continue yet: Generate a motion and wait until it is done "
                                          "(or select an AnimSequence or a character and Continue From Selection)")
        return self.generate(prompt, seconds, seed, start=protocol.start_from_job(self.tracker.job, 0))

    def continue_from_selection(self, prompt: str, seconds: float, seed: int) -> str:
        """Generate a clip that starts from the last frames of the AnimSequence selected in the Content Browser,
        or from the current pose of the character selected in the level (the preview actor: the frames it
        just showed)."""
        hello = self._hello()
        hello.require(protocol.CAPABILITY_CONSTRAINTS, "Continue From Selection")
        return self.generate(prompt, seconds, seed, start=self._selected_start(hello))

    def timeline(self, rows: str, seed: int) -> str:
        """Generate one continuous clip from the panel's timeline rows (`seconds prompt` per line)."""
        return self.generate(None, 0.0, seed, segments=protocol.segments(directing.parse_timeline(rows)))

    def _hello(self) -> protocol.Hello:
        if self.client is None or self.client.hello is None:
            raise MotionBridgeEditorError("not connected: Connect first (directing and live mode need to know what "
                                          "the daemon offers)")
        return self.client.hello

    def _check(self, message: dict[str, Any]) -> None:
        hello = self._hello()
        for capability in protocol.capabilities_used(message):
            hello.require(capability, {protocol.CAPABILITY_CONSTRAINTS: "Continue", protocol.CAPABILITY_TIMELINE:
                                       "Timeline", protocol.CAPABILITY_LIVE: "Live"}[capability])

    def _selected_start(self, hello: protocol.Hello) -> dict[str, Any]:
        for asset in unreal.EditorUtilityLibrary.get_selected_assets():
            if isinstance(asset, unreal.AnimSequence):
                if self.rig is None:
                    self.rig = self._preview_rig()
                skeleton = asset.get_skeleton()
                if skeleton is None or skeleton.get_path_name() != self.rig.skeleton.get_path_name():
                    raise MotionBridgeEditorError(
                        f"{asset.get_path_name()} is for another skeleton than the preview's "
                        f"{self.rig.skeleton.get_path_name()}: delete the MotionBridgePreview actor and select a "
                        "mesh of that skeleton")
                retargeter = self.rig.retargeter(hello, hello.wire_joints)
                poses = read_sequence_end(asset, retargeter, hello.fps, directing.START_FRAMES)
                return directing.start_from_poses(retargeter, poses)
        actors = unreal.get_editor_subsystem(unreal.EditorActorSubsystem)
        for actor in actors.get_selected_level_actors():
            if actor.get_actor_label() == PREVIEW_ACTOR_LABEL:
                return self._shown_start()
            component = actor.get_component_by_class(unreal.SkinnedMeshComponent)
            if component is not None and component.get_skinned_asset() is not None:
                retargeter = WorldDeltaRetargeter(read_target_skeleton(component), hello.wire_joints, hello.parents,
                                                  protocol.source_rest_in_unreal(hello.rest))
                return directing.start_from_poses(retargeter, [read_component_pose(component, retargeter)])
        raise MotionBridgeEditorError("nothing selected to continue from: select an AnimSequence in the Content "
                                      "Browser or a character in the level (Continue goes on from the last clip)")

    def _shown_start(self) -> dict[str, Any]:
        """The preview's last frames up to the one it shows now, exactly as they came from the daemon."""
        if self.live is not None and self.live_view:
            clip = self.live.recent(directing.START_FRAMES)
        else:
            shown = self.tracker.clip
            if shown is None:
                raise MotionBridgeEditorError("the preview shows nothing yet: Generate or go Live first")
            frame = shown.frame_at(self.playback_time)
            first = max(0, frame + 1 - directing.START_FRAMES)
            clip = Clip(shown.joints, shown.fps, shown.root[first:frame + 1], shown.rotations[first:frame + 1])
        return protocol.start_from_motion(clip.root, clip.rotations, len(clip.joints))

    # -- live mode

    def live_on(self, prompt: str, seed: int, area: float,
                buffer_ms: int = protocol.DEFAULT_BUFFER_MS) -> str:
        """Start streaming motion for `prompt` onto the preview (connecting first if needed); `area` is the
        radius in centimetres the root stays within (0: no limit). Returns the live session's id."""
        if self.live is not None and self.live.state == LIVE_STOPPING:
            # One live session per connection: the daemon would answer a new one with busy until its done.
            raise MotionBridgeEditorError("the last live session is still stopping: tick Live again in a moment")
        if self.live is not None and self.live.active:
            self.live_prompt(prompt)
            return self.live.request_id
        client = self._outgoing_client()
        message = protocol.live_start(client.next_id(), prompt, seed=seed, buffer_ms=buffer_ms, area=area)
        if self._attempt is None:
            self._check(message)
        if self.tracker.busy:
            self.cancel()
        fps = client.hello.fps if client.hello is not None else 30
        self.live = LiveSession(str(message["id"]), prompt, fps=fps, buffer_ms=buffer_ms)
        self.live_view = True
        self.prompts.reset(prompt)
        if self._attempt is None:
            assert self.client is not None
            self.client.send(message)
        else:
            self._queued_live = message
        self.notice = ""
        return self.live.request_id

    def live_off(self) -> bool:
        """Stop the live stream (the preview holds its last frame); False if none was running."""
        if self.live is None or not self.live.active:
            return False
        self._stop_live()
        return True

    def _stop_live(self) -> None:
        live = self.live
        if live is None or not live.active:
            return
        if self._queued_live is not None:
            self._queued_live = None
            live.state = LIVE_STOPPED
            return
        if live.state != LIVE_STOPPING and self.client is not None:
            self.client.live_stop(live.request_id)
            live.state = LIVE_STOPPING

    def live_prompt(self, prompt: str) -> bool:
        """A prompt edit while live: sent as `live_prompt` once typing pauses (~400 ms, on a tick)."""
        if self.live is None or not self.live.active:
            return False
        self.prompts.edit(prompt, self.clock())
        return True

    def record(self, seconds: float, path: str) -> str:
        """Bake the last `seconds` the live preview showed into an AnimSequence at `path`."""
        if self.live is None:
            raise MotionBridgeEditorError("nothing to record: turn Live on first")
        clip = self.live.record(seconds)
        if self.rig is None or self.client is None or self.client.hello is None:
            raise MotionBridgeEditorError("no preview skeleton: Connect and go Live first")
        retargeter = self.rig.retargeter(self.client.hello, clip.joints)
        sequence = bake_anim_sequence(self.rig, retargeter, clip, path)
        self.notice = f"recorded {clip.seconds:.1f} s to {sequence.get_path_name()}"
        return str(sequence.get_path_name())

    def cancel(self) -> bool:
        if self.tracker.request_id is None or not self.tracker.busy:
            return False
        if self._queued is not None:
            self._drop_queued("cancelled", "cancelled before it was sent")
            return True
        if self.client is None:
            return False
        self.client.cancel(self.tracker.request_id)
        return True

    def _drop_queued(self, code: str, why: str) -> None:
        """End the request still waiting for the connection, as the daemon would have ended it."""
        queued, self._queued = self._queued, None
        if queued is not None:
            self.tracker.handle({"op": "error", "id": queued["id"], "code": code, "message": why})

    def status(self) -> str:
        showing_live = self.live is not None and (self.live_view or self.live.active)
        parts = [self.connection, self.live.describe() if showing_live else self.tracker.describe()]
        if self.notice:
            parts.append(self.notice)
        return " | ".join(parts)

    def bake(self, path: str) -> str:
        clip = self.tracker.final
        if clip is None:
            raise MotionBridgeEditorError("nothing to bake yet: Generate a motion and wait until it is done")
        if self.rig is None or self.client is None or self.client.hello is None:
            raise MotionBridgeEditorError("no preview skeleton: Connect and Generate first")
        retargeter = self.rig.retargeter(self.client.hello, clip.joints)
        sequence = bake_anim_sequence(self.rig, retargeter, clip, path)
        self.notice = f"baked {sequence.get_path_name()}"
        return str(sequence.get_path_name())

    # -- game thread

    def tick(self, delta_seconds: float) -> None:
        """Slate post-tick: take a finished connection attempt, apply what the receive thread queued, then show
        the current frame."""
        attempt = self._attempt
        if attempt is not None and attempt.finished:
            self._attempt = None
            self._take_connection(attempt)
        client = self.client
        if client is None:
            return
        for event in client.events():
            self._apply_event(event)
        if self.live is not None and self.live_view:
            self._tick_live(client, delta_seconds)
            return
        clip = self.tracker.clip
        if clip is None or self.rig is None or client.hello is None:
            return
        self.playback_time += delta_seconds
        try:
            retargeter = self.rig.retargeter(client.hello, clip.joints)
            self.rig.show(retargeter, clip, clip.frame_at(self.playback_time))
        except Exception as exc:  # noqa: BLE001 - a failing tick would repeat every frame: stop the preview once
            self.rig = None
            _report(MotionBridgeEditorError(f"preview stopped: {exc}"))

    def _tick_live(self, client: BridgeClient, delta_seconds: float) -> None:
        live = self.live
        assert live is not None
        live.advance(delta_seconds)
        if live.state == LIVE_STREAMING:
            prompt = self.prompts.due(self.clock())
            if prompt is not None:
                try:
                    client.live_prompt(live.request_id, prompt)
                except (BridgeConnectionError, protocol.ProtocolError) as exc:
                    _report(exc)
        frame = live.shown()
        if frame is None or self.rig is None or client.hello is None:
            return
        try:
            self.rig.show_frame(self.rig.retargeter(client.hello, live.joints), *frame)
        except Exception as exc:  # noqa: BLE001 - as for the clip preview: stop once instead of every frame
            self.rig = None
            _report(MotionBridgeEditorError(f"live preview stopped: {exc}"))

    def _take_connection(self, attempt: ConnectAttempt) -> None:
        if attempt.error is not None or attempt.hello is None:
            where = f"ws://{attempt.client.host}:{attempt.client.port}{protocol.PATH}"
            self.connection = f"not connected to {where}"
            self._drop_queued("connection_lost", f"could not connect: {attempt.error}")
            self._drop_queued_live("connection_lost", f"could not connect: {attempt.error}")
            _report(attempt.error if isinstance(attempt.error, _USER_ERRORS)
                    else MotionBridgeEditorError(f"connecting to {where} failed: {attempt.error}"))
            return
        self.client = attempt.client
        self.connection = f"connected to {attempt.hello.server} ({attempt.hello.model_name})"
        queued, self._queued = self._queued, None
        if queued is not None:
            try:
                self._check(queued)
                self.client.submit(queued)
            except (BridgeConnectionError, protocol.ProtocolError) as exc:
                code = "bad_request" if isinstance(exc, protocol.ProtocolError) else "connection_lost"
                self.tracker.handle({"op": "error", "id": queued["id"], "code": code, "message": str(exc)})
                _report(exc)
        queued_live, self._queued_live = self._queued_live, None
        if queued_live is not None and self.live is not None:
            try:
                self._check(queued_live)
                self.client.send(queued_live)
            except (BridgeConnectionError, protocol.ProtocolError) as exc:
                self.live.handle({"op": "error", "id": queued_live["id"], "code": "bad_request", "message": str(exc)})
                _report(exc)

    def _drop_queued_live(self, code: str, why: str) -> None:
        queued, self._queued_live = self._queued_live, None
        if queued is not None and self.live is not None:
            self.live.handle({"op": "error", "id": queued["id"], "code": code, "message": why})

    def _apply_event(self, event: Any) -> None:
        if isinstance(event, ConnectionEvent):
            if self.live is not None and self.live.active and event.kind in ("lost", "failed"):
                # The daemon ends a live session with its connection; a reconnect does not bring it back.
                self.live.handle({"op": "error", "id": self.live.request_id, "code": "connection_lost",
                                  "message": "the connection dropped: turn Live on again"})
            if event.kind == "lost":
                self.connection = f"connection lost ({event.code}), reconnecting"
            elif event.kind == "reconnected":
                self.connection = "reconnected"
            else:
                self.connection = f"disconnected: {event.detail}"
            return
        if event.get("op") == "status":
            self.server_status = event
            self.notice = "daemon: {} jobs queued, {} running on {}".format(event.get("queue"), event.get("running"),
                                                                      event.get("device"))
            return
        if self.live is not None:
            try:
                if self.live.handle(event):
                    if self.live.state == LIVE_FAILED:
                        self.notice = f"live: {self.live.error}"
                    return
            except protocol.ProtocolError as exc:
                self.notice = f"bad live motion from the daemon: {exc}"
                self._stop_live()
                return
        try:
            handled = self.tracker.handle(event)
        except protocol.ProtocolError as exc:
            self.notice = f"bad motion from the daemon: {exc}"
            return
        if not handled and event.get("op") == "error":
            self.notice = "daemon error {}: {}".format(event.get("code"), event.get("message"))

    def _preview_rig(self) -> PreviewRig:
        component = _find_preview_component()
        if component is None:
            mesh, near = _selected_mesh()
            component = _spawn_preview_component(mesh, near)
        return PreviewRig(component)


EDITOR = MotionBridgeEditor()


def _report(exc: Exception) -> None:
    EDITOR.notice = str(exc)
    unreal.log_error(f"MotionBridge: {exc}")


_USER_ERRORS = (MotionBridgeEditorError, BridgeConnectionError, protocol.ProtocolError, RetargetError)


# ---------------------------------------------------------------- Blueprint library


@unreal.uclass()
class MotionBridgeLibrary(unreal.BlueprintFunctionLibrary):
    """Static Blueprint nodes for the Editor Utility Widget (category MotionBridge)."""

    @unreal.ufunction(static=True, params=[str, int], ret=bool, meta=dict(Category="MotionBridge"))
    def Connect(host, port):  # noqa: N802,N805 - Blueprint node names; static, so no self
        """Start connecting to the daemon (empty host / port 0 = 127.0.0.1:8747) and return at once; Status
        says when it is connected or why not. False if it could not even start."""
        try:
            EDITOR.connect(host, port)
        except _USER_ERRORS as exc:
            _report(exc)
            return False
        return True

    @unreal.ufunction(static=True, params=[str, float, int], ret=str, meta=dict(Category="MotionBridge"))
    def Generate(prompt, seconds, seed):  # noqa: N802,N805
        """Start generating (connecting first if needed, without waiting); returns the request id, or an empty
        string on failure (see Status)."""
        try:
            return EDITOR.generate(prompt, seconds, seed)
        except _USER_ERRORS as exc:
            _report(exc)
            return ""

    @unreal.ufunction(static=True, ret=bool, meta=dict(Category="MotionBridge"))
    def Cancel():  # noqa: N802
        """Cancel the running request; False if none is running."""
        try:
            return EDITOR.cancel()
        except _USER_ERRORS as exc:
            _report(exc)
            return False

    @unreal.ufunction(static=True, ret=str, meta=dict(Category="MotionBridge"))
    def Status():  # noqa: N802
        """One line: connection, request progress, last notice. Bind it to a text block on a timer."""
        return EDITOR.status()

    @unreal.ufunction(static=True, params=[str], ret=str, meta=dict(Category="MotionBridge"))
    def Bake(path):  # noqa: N802,N805
        """Save the finished motion as an AnimSequence at `path` (/Game/Folder/Name); returns its object path."""
        try:
            return EDITOR.bake(path)
        except _USER_ERRORS as exc:
            _report(exc)
            return ""

    @unreal.ufunction(static=True, params=[str, float, int], ret=str, meta=dict(Category="MotionBridge"))
    def Continue(prompt, seconds, seed):  # noqa: N802,N805
        """Generate the next clip from the end of the last finished one (daemon capability "constraints");
        returns the request id, empty on failure."""
        try:
            return EDITOR.continue_clip(prompt, seconds, seed)
        except _USER_ERRORS as exc:
            _report(exc)
            return ""

    @unreal.ufunction(static=True, params=[str, float, int], ret=str, meta=dict(Category="MotionBridge"))
    def ContinueFromSelection(prompt, seconds, seed):  # noqa: N802,N805
        """Generate a clip from the last frames of the selected AnimSequence or the selected character's
        current pose; returns the request id, empty on failure."""
        try:
            return EDITOR.continue_from_selection(prompt, seconds, seed)
        except _USER_ERRORS as exc:
            _report(exc)
            return ""

    @unreal.ufunction(static=True, params=[str, int], ret=str, meta=dict(Category="MotionBridge"))
    def Timeline(rows, seed):  # noqa: N802,N805
        """One continuous clip from timeline rows, one per line: seconds then prompt (`3 a person walks`);
        daemon capability "timeline". Returns the request id, empty on failure."""
        try:
            return EDITOR.timeline(rows, seed)
        except _USER_ERRORS as exc:
            _report(exc)
            return ""

    @unreal.ufunction(static=True, params=[bool, str, int, float], ret=bool, meta=dict(Category="MotionBridge"))
    def Live(on, prompt, seed, area):  # noqa: N802,N805
        """Live toggle: on streams motion for the prompt onto the preview in real time (daemon capability
        "live"; `area` in cm keeps the root within that radius, 0 = no limit), off stops it. False on failure."""
        try:
            if on:
                EDITOR.live_on(prompt, seed, area)
            else:
                EDITOR.live_off()
        except _USER_ERRORS as exc:
            _report(exc)
            return False
        return True

    @unreal.ufunction(static=True, params=[str], ret=bool, meta=dict(Category="MotionBridge"))
    def LivePrompt(prompt):  # noqa: N802,N805
        """Call on every prompt edit: while live, the prompt is sent once typing pauses (~400 ms)."""
        return EDITOR.live_prompt(prompt)

    @unreal.ufunction(static=True, params=[float, str], ret=str, meta=dict(Category="MotionBridge"))
    def Record(seconds, path):  # noqa: N802,N805
        """Bake the last `seconds` of the live preview into an AnimSequence at `path`; returns its object path."""
        try:
            return EDITOR.record(seconds, path)
        except _USER_ERRORS as exc:
            _report(exc)
            return ""


# ---------------------------------------------------------------- the panel's nodes


class PanelNode(NamedTuple):
    """One "Execute Python Script" node of the Editor Utility Widget: its input and output pins (Python variables
    of those names) and its script. The script imports this module when it first runs, so the widget works
    whenever it is opened, even restored at editor start before init_unreal.py."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    script: str


_IMPORT = "import motionbridge_unreal.ue_adapter as mb\n"

PANEL_NODES = {
    "Connect": PanelNode((), (), _IMPORT + 'mb.MotionBridgeLibrary.Connect("127.0.0.1", 8747)'),
    "Generate": PanelNode(("prompt", "seconds", "seed"), (),
                          _IMPORT + "mb.MotionBridgeLibrary.Generate(prompt, seconds, int(round(seed)))"),
    "Cancel": PanelNode((), (), _IMPORT + "mb.MotionBridgeLibrary.Cancel()"),
    "Bake": PanelNode(("path",), (), _IMPORT + "mb.MotionBridgeLibrary.Bake(path)"),
    "Status": PanelNode((), ("status",), _IMPORT + "status = mb.MotionBridgeLibrary.Status()"),
    "Continue": PanelNode(("prompt", "seconds", "seed"), (),
                          _IMPORT + "mb.MotionBridgeLibrary.Continue(prompt, seconds, int(round(seed)))"),
    "ContinueFromSelection": PanelNode(
        ("prompt", "seconds", "seed"), (),
        _IMPORT + "mb.MotionBridgeLibrary.ContinueFromSelection(prompt, seconds, int(round(seed)))"),
    "Timeline": PanelNode(("rows", "seed"), (), _IMPORT + "mb.MotionBridgeLibrary.Timeline(rows, int(round(seed)))"),
    "Live": PanelNode(("on", "prompt", "seed", "area"), (),
                      _IMPORT + "mb.MotionBridgeLibrary.Live(on, prompt, int(round(seed)), area)"),
    "LivePrompt": PanelNode(("prompt",), (), _IMPORT + "mb.MotionBridgeLibrary.LivePrompt(prompt)"),
    "Record": PanelNode(("seconds", "path"), (), _IMPORT + "mb.MotionBridgeLibrary.Record(seconds, path)"),
}
"""docs/unreal.md has the user put these scripts, verbatim, into the widget's graph."""


# ---------------------------------------------------------------- dialog fallback and menus


@unreal.uclass()
class MotionBridgeRequest(unreal.Object):
    """What the Generate dialog asks for when the Editor Utility Widget has not been built yet."""

    prompt = unreal.uproperty(str, meta=dict(Category="MotionBridge"))
    seconds = unreal.uproperty(float, meta=dict(Category="MotionBridge", ClampMin="0.5"))
    seed = unreal.uproperty(int, meta=dict(Category="MotionBridge"))
    bake_path = unreal.uproperty(str, meta=dict(Category="MotionBridge"))


def open_panel() -> None:
    """Tools ▸ MotionBridge: the Editor Utility Widget if it exists, else the Generate dialog."""
    if unreal.EditorAssetLibrary.does_asset_exist(WIDGET_ASSET):
        widget = unreal.EditorAssetLibrary.load_asset(WIDGET_ASSET)
        unreal.get_editor_subsystem(unreal.EditorUtilitySubsystem).spawn_and_register_tab(widget)
        return
    generate_dialog()


def generate_dialog() -> None:
    request = MotionBridgeRequest()
    request.prompt = "a person walks forward"
    request.seconds = 4.0
    request.seed = 0
    options = unreal.EditorDialogLibraryObjectDetailsViewOptions(show_object_name=False, allow_search=False)
    if not unreal.EditorDialog.show_object_details_view("MotionBridge: generate", request, options):
        return
    MotionBridgeLibrary.Generate(request.prompt, request.seconds, request.seed)


def bake_dialog() -> None:
    request = MotionBridgeRequest()
    request.bake_path = "/Game/MotionBridge/A_MotionBridge"
    options = unreal.EditorDialogLibraryObjectDetailsViewOptions(show_object_name=False, allow_search=False)
    if not unreal.EditorDialog.show_object_details_view("MotionBridge: bake", request, options):
        return
    MotionBridgeLibrary.Bake(request.bake_path)


def show_status() -> None:
    unreal.EditorDialog.show_message("MotionBridge", EDITOR.status(), unreal.AppMsgType.OK)


_MENU_ENTRIES = (
    ("MotionBridgeOpen", "MotionBridge", "Open the MotionBridge panel (text to motion)", "mb.open_panel()"),
    ("MotionBridgeGenerate", "MotionBridge: Generate...", "Generate a motion from a prompt", "mb.generate_dialog()"),
    ("MotionBridgeCancel", "MotionBridge: Cancel", "Cancel the running generation", "mb.MotionBridgeLibrary.Cancel()"),
    ("MotionBridgeBake", "MotionBridge: Bake...", "Save the last motion as an AnimSequence", "mb.bake_dialog()"),
    ("MotionBridgeStatus", "MotionBridge: Status", "Show the connection and generation status", "mb.show_status()"),
)


def register_menus() -> None:
    """Add the MotionBridge section to Tools (idempotent: entries are replaced by name)."""
    menus = unreal.ToolMenus.get()
    tools = menus.find_menu(TOOLS_MENU)
    if tools is None:
        unreal.log_warning(f"MotionBridge: no {TOOLS_MENU} menu to extend")
        return
    tools.add_section(MENU_OWNER, "MotionBridge")
    for name, label, tooltip, call in _MENU_ENTRIES:
        entry = unreal.ToolMenuEntry(name=name, type=unreal.MultiBlockType.MENU_ENTRY)
        entry.set_label(label)
        entry.set_tool_tip(tooltip)
        entry.set_string_command(unreal.ToolMenuStringCommandType.PYTHON, "",
                                 "import motionbridge_unreal.ue_adapter as mb; " + call)
        tools.add_menu_entry(MENU_OWNER, entry)
    menus.refresh_all_widgets()
    unreal.register_python_shutdown_callback(EDITOR.disconnect)
