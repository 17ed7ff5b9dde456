"""A recording stand-in for Unreal's `unreal` module, for testing the plugin's ue_adapter without the editor.

Every public method call on a fake class or instance is appended to `log.calls` as (class, member, args);
every public attribute read is added to `log.accessed` as (class, member), so a test can check each one
against the UE 5 API stub. The fakes behave just enough like the editor for the adapter to run: a level
with actors (a spawned plain Actor gets a DefaultSceneRoot, as in the editor), a poseable mesh with a
reference skeleton, asset creation and an AnimationDataController that stores what it is given (or refuses
the bones a test names, answering False as the engine does), and an AnimSequence that evaluates those keys into
component-space poses (AnimPoseExtensions) the way the editor does. The API is UE 5.6's: SubobjectData's
get_object warns that it is deprecated.
"""

from __future__ import annotations

import functools
import sys
import types
import warnings
from typing import Any


class CallLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple]] = []
        self.accessed: set[tuple[str, str]] = set()

    def named(self, member: str, owner: str | None = None) -> list[tuple]:
        return [c[2] for c in self.calls if c[1] == member and (owner is None or c[0] == owner)]

    def members(self) -> list[str]:
        return [c[1] for c in self.calls]


log = CallLog()


def _recording(owner: str | None, name: str, fn: Any) -> Any:
    """Wrap `fn` to log its calls; owner None means the class of the instance it is called on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        is_method = bool(args) and isinstance(args[0], FakeObject)
        shown = args[1:] if is_method else args
        who = owner if owner is not None else type(args[0]).__name__
        log.calls.append((who, name, tuple(shown) + tuple(kwargs.items())))
        return fn(*args, **kwargs)

    return wrapper


def _called_from_plugin() -> bool:
    """Only the plugin's own reads count for the API check (a test reading back values must not)."""
    return sys._getframe(2).f_globals.get("__name__", "").startswith("motionbridge_unreal")


class _RecordingMeta(type):
    def __getattribute__(cls, name: str) -> Any:
        if not name.startswith("_") and _called_from_plugin():
            log.accessed.add((type.__getattribute__(cls, "__name__"), name))
        return type.__getattribute__(cls, name)


class FakeObject(metaclass=_RecordingMeta):
    """Base of every fake editor class: records method calls and attribute reads under the class's name."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if name.startswith("_"):
                continue
            if isinstance(value, staticmethod):
                setattr(cls, name, staticmethod(_recording(cls.__name__, name, value.__func__)))
            elif isinstance(value, classmethod):
                setattr(cls, name, classmethod(_recording(cls.__name__, name, value.__func__)))
            elif isinstance(value, types.FunctionType):
                setattr(cls, name, _recording(cls.__name__, name, value))

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and _called_from_plugin():
            log.accessed.add((type.__getattribute__(type(self), "__name__"), name))
        return object.__getattribute__(self, name)

    def set_editor_property(self, name: str, value: Any) -> None:
        object.__setattr__(self, "_prop_" + name, value)

    def get_editor_property(self, name: str) -> Any:
        return object.__getattribute__(self, "_prop_" + name)


FakeObject.set_editor_property = _recording(None, "set_editor_property", FakeObject.set_editor_property)
FakeObject.get_editor_property = _recording(None, "get_editor_property", FakeObject.get_editor_property)


# ---------------------------------------------------------------- value types


class Vector(FakeObject):
    def __init__(self, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> None:
        self.x, self.y, self.z = float(x), float(y), float(z)

    def __repr__(self) -> str:
        return f"Vector({self.x}, {self.y}, {self.z})"


class Rotator(FakeObject):
    """Keeps the quaternion it was made from, so tests can read back exactly what the adapter set."""

    def __init__(self, roll: float = 0.0, pitch: float = 0.0, yaw: float = 0.0, quat: Quat | None = None) -> None:
        self.roll, self.pitch, self.yaw = roll, pitch, yaw
        self._quat = quat

    def quaternion(self) -> Quat:
        assert self._quat is not None
        return self._quat


class Quat(FakeObject):
    def __init__(self, x: float = 0.0, y: float = 0.0, z: float = 0.0, w: float = 0.0) -> None:
        self.x, self.y, self.z, self.w = float(x), float(y), float(z), float(w)

    def rotator(self) -> Rotator:
        return Rotator(quat=self)

    def __repr__(self) -> str:
        return f"Quat({self.x}, {self.y}, {self.z}, {self.w})"


class Transform(FakeObject):
    def __init__(self, location: Vector | None = None, rotation: Any = None, scale: Vector | None = None) -> None:
        self.translation = location or Vector()
        self.rotation = rotation if isinstance(rotation, Quat) else Quat(0.0, 0.0, 0.0, 1.0)
        self.scale3d = scale or Vector(1.0, 1.0, 1.0)


class FrameRate(FakeObject):
    def __init__(self, numerator: int = 0, denominator: int = 1) -> None:
        self.numerator, self.denominator = numerator, denominator


class FrameNumber(FakeObject):
    def __init__(self, value: int = 0) -> None:
        self.value = value


class RelativeTransformSpace(FakeObject):
    RTS_WORLD = "RTS_WORLD"
    RTS_ACTOR = "RTS_ACTOR"
    RTS_COMPONENT = "RTS_COMPONENT"
    RTS_PARENT_BONE_SPACE = "RTS_PARENT_BONE_SPACE"


class AnimPoseSpaces(FakeObject):
    LOCAL = "LOCAL"
    WORLD = "WORLD"


class BoneSpaces(FakeObject):
    WORLD_SPACE = "WORLD_SPACE"
    COMPONENT_SPACE = "COMPONENT_SPACE"


class MultiBlockType(FakeObject):
    MENU_ENTRY = "MENU_ENTRY"


class ToolMenuStringCommandType(FakeObject):
    PYTHON = "PYTHON"


class AppMsgType(FakeObject):
    OK = "OK"


# ---------------------------------------------------------------- UObjects


class Object(FakeObject):
    _path = "/Engine/Transient.Object"

    def get_name(self) -> str:
        return self._path.rsplit(".", 1)[-1]

    def get_path_name(self) -> str:
        return self._path


class BlueprintFunctionLibrary(Object):
    pass


class Skeleton(Object):
    def __init__(self, path: str) -> None:
        self._path = path


class SkeletalMesh(Object):
    def __init__(self, path: str, skeleton: Skeleton, bones: list[tuple[str, str | None, tuple, tuple]]) -> None:
        """`bones`: (name, parent name or None, local translation, local rotation quaternion) parent-first."""
        self._path = path
        self.skeleton = skeleton
        self._bones = bones


class SceneComponent(Object):
    _attach_parent: SceneComponent | None = None

    def get_attach_parent(self) -> SceneComponent | None:
        return self._attach_parent


def _quat_mul(a: tuple, b: tuple) -> tuple:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)


def _quat_rotate(q: tuple, v: tuple) -> tuple:
    x, y, z, w = q
    tx, ty, tz = 2.0 * (y * v[2] - z * v[1]), 2.0 * (z * v[0] - x * v[2]), 2.0 * (x * v[1] - y * v[0])
    return (v[0] + w * tx + (y * tz - z * ty), v[1] + w * ty + (z * tx - x * tz), v[2] + w * tz + (x * ty - y * tx))


def component_space(bones: list[tuple[str, str | None, tuple, tuple]],
                    local: dict[str, tuple[tuple, tuple]] | None = None) -> dict[str, tuple[tuple, tuple]]:
    """Component-space (translation, rotation) of every bone from local transforms (the reference pose where
    `local` has no entry), as the engine composes a pose."""
    world: dict[str, tuple[tuple, tuple]] = {}
    for name, parent, t, q in bones:
        t, q = (local or {}).get(name, (t, q))
        if parent is None:
            world[name] = (tuple(t), tuple(q))
        else:
            pt, pq = world[parent]
            offset = _quat_rotate(pq, t)
            world[name] = ((pt[0] + offset[0], pt[1] + offset[1], pt[2] + offset[2]), _quat_mul(pq, q))
    return world


class SkinnedMeshComponent(SceneComponent):
    """What PoseableMeshComponent and SkeletalMeshComponent share (UE's common base): the mesh's bones and pose."""

    _mesh: SkeletalMesh | None = None
    _pose_override: dict[str, tuple[tuple, tuple]] | None = None

    def get_skinned_asset(self) -> SkeletalMesh | None:
        return self._mesh

    def get_num_bones(self) -> int:
        return len(self._mesh._bones)

    def get_bone_name(self, bone_index: int) -> str:
        return self._mesh._bones[bone_index][0]

    def get_parent_bone(self, bone_name: str) -> str:
        parent = next(b[1] for b in self._mesh._bones if b[0] == bone_name)
        return parent if parent is not None else "None"

    def get_ref_pose_transform(self, bone_index: int) -> Transform:
        _, _, t, q = self._mesh._bones[bone_index]
        return Transform(Vector(*t), Quat(*q))

    def get_bone_transform(self, bone_name: str, transform_space: str = "RTS_WORLD") -> Transform:
        """Only component space is modelled: the reference pose, or the local pose a test put in `_pose_override`."""
        assert transform_space == RelativeTransformSpace.RTS_COMPONENT, transform_space
        t, q = component_space(self._mesh._bones, self._pose_override)[bone_name]
        return Transform(Vector(*t), Quat(*q))


class PoseableMeshComponent(SkinnedMeshComponent):
    def __init__(self) -> None:
        self._mesh: SkeletalMesh | None = None

    def set_skinned_asset_and_update(self, new_mesh: SkeletalMesh, reinit_pose: bool = True) -> None:
        self._mesh = new_mesh

    def set_bone_location_by_name(self, bone_name: str, location: Vector, bone_space: str) -> None:
        pass

    def set_bone_rotation_by_name(self, bone_name: str, rotation: Rotator, bone_space: str) -> None:
        pass


class SkeletalMeshComponent(SkinnedMeshComponent):
    def __init__(self, mesh: SkeletalMesh, location: Vector, rotation: Rotator) -> None:
        self._mesh = mesh
        self._location = location
        self._rotation = rotation

    def get_world_location(self) -> Vector:
        return self._location

    def get_world_rotation(self) -> Rotator:
        return self._rotation


class Actor(Object):
    def __init__(self) -> None:
        self._label = ""
        self._components: list[Any] = []
        self._location = Vector()
        self.root_component: SceneComponent | None = None

    def set_actor_label(self, new_actor_label: str, mark_dirty: bool = True) -> None:
        self._label = new_actor_label

    def get_actor_label(self) -> str:
        return self._label

    def get_actor_location(self) -> Vector:
        return self._location

    def get_component_by_class(self, component_class: type) -> Any:
        return next((c for c in self._components if isinstance(c, component_class)), None)


class SkeletalMeshActor(Actor):
    """Also stands in for a Character: `mesh_offset` places its mesh component inside the actor."""

    def __init__(self, mesh: SkeletalMesh, location: Vector, mesh_offset: Vector | None = None,
                 mesh_yaw: float = 0.0) -> None:
        super().__init__()
        offset = mesh_offset or Vector()
        world = Vector(location.x + offset.x, location.y + offset.y, location.z + offset.z)
        self.skeletal_mesh_component = SkeletalMeshComponent(mesh, world, Rotator(yaw=mesh_yaw))
        self._components.append(self.skeletal_mesh_component)
        self.root_component = self.skeletal_mesh_component
        self._location = location


class AnimationDataController(Object):
    """Stores what it is given, the way the data model would; answers False for the bones in `refused_tracks`
    (add_bone_curve) and `refused_keys` (set_bone_track_keys), as the engine does for a bone it cannot take."""

    refused_tracks: set[str] = set()
    refused_keys: set[str] = set()

    def __init__(self) -> None:
        self.tracks: dict[str, tuple[list, list, list]] = {}
        self.frame_rate: FrameRate | None = None
        self.number_of_frames: int | None = None
        self.bracket_depth = 0

    def open_bracket(self, title: str, should_transact: bool = True) -> None:
        self.bracket_depth += 1

    def close_bracket(self, should_transact: bool = True) -> None:
        self.bracket_depth -= 1

    def set_frame_rate(self, frame_rate: FrameRate, should_transact: bool = True) -> None:
        self.frame_rate = frame_rate

    def set_number_of_frames(self, new_length_in_frames: FrameNumber, should_transact: bool = True) -> None:
        self.number_of_frames = new_length_in_frames.value

    def remove_all_bone_tracks(self, should_transact: bool = True) -> None:
        self.tracks.clear()

    def add_bone_curve(self, bone_name: str, should_transact: bool = True) -> bool:
        if bone_name in AnimationDataController.refused_tracks:
            return False
        self.tracks[bone_name] = ([], [], [])
        return True

    def set_bone_track_keys(self, bone_name: str, positional_keys: list, rotational_keys: list, scaling_keys: list,
                            should_transact: bool = True) -> bool:
        if bone_name not in self.tracks or bone_name in AnimationDataController.refused_keys:
            return False
        self.tracks[bone_name] = (list(positional_keys), list(rotational_keys), list(scaling_keys))
        return True


class AnimationAsset(Object):
    pass


class AnimSequence(AnimationAsset):
    def __init__(self, path: str) -> None:
        self._path = path
        self.controller = AnimationDataController()
        self._factory: Factory | None = None

    def get_skeleton(self) -> Skeleton | None:
        factory = self._factory
        return None if factory is None else object.__getattribute__(factory, "_prop_target_skeleton")

    def _pose_at_frame(self, frame: int) -> dict[str, tuple[tuple, tuple]]:
        """Component space at one key: bones with a track take its key, the others their reference pose."""
        mesh = object.__getattribute__(self._factory, "_prop_preview_skeletal_mesh")
        local = {}
        for bone, (positions, rotations, _scales) in self.controller.tracks.items():
            p, q = positions[frame], rotations[frame]
            local[bone] = ((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
        return component_space(mesh._bones, local)


class AnimPose(FakeObject):
    def __init__(self, world: dict[str, tuple[tuple, tuple]] | None = None) -> None:
        self._world = world or {}


class AnimPoseEvaluationOptions(FakeObject):
    def __init__(self, **kwargs: Any) -> None:
        self._options = kwargs


class AnimationLibrary(BlueprintFunctionLibrary):
    @staticmethod
    def get_sequence_length(animation_sequence_base: AnimSequence) -> float:
        controller = animation_sequence_base.controller
        return controller.number_of_frames / controller.frame_rate.numerator


class AnimPoseExtensions(BlueprintFunctionLibrary):
    @staticmethod
    def get_anim_pose_at_time(animation_sequence_base: AnimSequence, time: float,
                              evaluation_options: AnimPoseEvaluationOptions) -> AnimPose:
        """Keys only (tests ask for times on keys): the nearest key, as the engine's evaluation gives on a key."""
        controller = animation_sequence_base.controller
        frame = round(time * controller.frame_rate.numerator)
        assert abs(frame - time * controller.frame_rate.numerator) < 1e-3, f"{time} s is not on a key"
        assert 0 <= frame <= controller.number_of_frames, f"{time} s lies outside the sequence"
        return AnimPose(animation_sequence_base._pose_at_frame(frame))

    @staticmethod
    def get_bone_pose(pose: AnimPose, bone_name: str, space: str = "LOCAL") -> Transform:
        assert space == AnimPoseSpaces.WORLD, "only component (WORLD) space is modelled"
        t, q = pose._world[bone_name]
        return Transform(Vector(*t), Quat(*q))


class Factory(Object):
    pass


class AnimSequenceFactory(Factory):
    pass


class AssetTools(Object):
    created: dict[str, Any] = {}

    def create_asset(self, asset_name: str, package_path: str, asset_class: type, factory: Factory,
                     calling_context: str = "None") -> Any:
        path = f"{package_path}/{asset_name}.{asset_name}"
        asset = asset_class(path)
        asset._factory = factory
        AssetTools.created[path] = asset
        return asset


class AssetToolsHelpers(Object):
    _tools = AssetTools()

    @staticmethod
    def get_asset_tools() -> AssetTools:
        return AssetToolsHelpers._tools


class EditorAssetLibrary(BlueprintFunctionLibrary):
    assets: dict[str, Any] = {}
    saved: list[Any] = []
    deleted: list[Any] = []

    @staticmethod
    def does_asset_exist(asset_path: str) -> bool:
        return asset_path in EditorAssetLibrary.assets

    @staticmethod
    def load_asset(asset_path: str) -> Any:
        return EditorAssetLibrary.assets.get(asset_path)

    @staticmethod
    def save_loaded_asset(asset_to_save: Any, only_if_is_dirty: bool = True) -> bool:
        EditorAssetLibrary.saved.append(asset_to_save)
        return True

    @staticmethod
    def delete_loaded_asset(asset_to_delete: Any) -> bool:
        EditorAssetLibrary.deleted.append(asset_to_delete)
        AssetTools.created = {k: v for k, v in AssetTools.created.items() if v is not asset_to_delete}
        return True


class EditorUtilityLibrary(BlueprintFunctionLibrary):
    selected_assets: list[Any] = []

    @staticmethod
    def get_selected_assets() -> list:
        return list(EditorUtilityLibrary.selected_assets)


class EditorActorSubsystem(Object):
    def __init__(self) -> None:
        self.level: list[Actor] = []
        self.selected: list[Actor] = []

    def get_selected_level_actors(self) -> list:
        return list(self.selected)

    def get_all_level_actors(self) -> list:
        return list(self.level)

    def spawn_actor_from_class(self, actor_class: type, location: Vector, rotation: Any = None,
                               transient: bool = False) -> Actor:
        actor = actor_class()
        actor._location = location
        actor._rotation = rotation
        if actor.root_component is None:
            # What the editor does for a class without a root of its own (a plain Actor).
            root = SceneComponent()
            root._path = f"{actor.get_path_name()}.DefaultSceneRoot"
            actor._components.append(root)
            actor.root_component = root
        self.level.append(actor)
        return actor


class SubobjectDataHandle(FakeObject):
    def __init__(self, owner: Any) -> None:
        self.owner = owner


class SubobjectData(FakeObject):
    def __init__(self, obj: Any) -> None:
        self.obj = obj


class AddNewSubobjectParams(FakeObject):
    def __init__(self, parent_handle: SubobjectDataHandle | None = None, new_class: type | None = None,
                 blueprint_context: Any = None) -> None:
        self.parent_handle = parent_handle
        self.new_class = new_class


class SubobjectDataSubsystem(Object):
    def k2_gather_subobject_data_for_instance(self, context: Actor) -> list:
        return [SubobjectDataHandle(context)]

    def add_new_subobject(self, params: AddNewSubobjectParams) -> tuple:
        """Under an actor handle, a scene component is attached to the actor's root (or becomes it, if none)."""
        actor = params.parent_handle.owner
        component = params.new_class()
        actor._components.append(component)
        if actor.root_component is None:
            actor.root_component = component
        else:
            component._attach_parent = actor.root_component
        return SubobjectDataHandle(component), ""


class SubobjectDataBlueprintFunctionLibrary(BlueprintFunctionLibrary):
    @staticmethod
    def get_data(data_handle: SubobjectDataHandle) -> SubobjectData:
        return SubobjectData(data_handle.owner)

    @staticmethod
    def get_object(data: SubobjectData, even_if_pending_kill: bool = False) -> Any:
        warnings.warn("SubobjectDataBlueprintFunctionLibrary.get_object is deprecated: use GetAssociatedObject",
                      DeprecationWarning, stacklevel=2)
        return data.obj

    @staticmethod
    def get_associated_object(data: SubobjectData) -> Any:
        return data.obj


class EditorUtilitySubsystem(Object):
    def spawn_and_register_tab(self, blueprint: Any) -> Any:
        return blueprint


class ToolMenuEntry(FakeObject):
    def __init__(self, name: str = "None", type: str = "", **kwargs: Any) -> None:  # noqa: A002 - UE's name
        self.name = name
        self.type = type
        self._label = ""
        self._command: tuple | None = None

    def set_label(self, label: str) -> None:
        self._label = label

    def set_tool_tip(self, tool_tip: str) -> None:
        pass

    def set_string_command(self, type: str, custom_type: str, string: str) -> None:  # noqa: A002
        self._command = (type, custom_type, string)


class ToolMenu(Object):
    def __init__(self) -> None:
        self.sections: dict[str, list[ToolMenuEntry]] = {}

    def add_section(self, section_name: str, label: str = "", insert_name: str = "None",
                    insert_type: Any = None) -> None:
        self.sections.setdefault(section_name, [])

    def add_menu_entry(self, section_name: str, args: ToolMenuEntry) -> None:
        self.sections.setdefault(section_name, []).append(args)


class ToolMenus(Object):
    _instance: ToolMenus | None = None

    def __init__(self) -> None:
        self.menus = {"LevelEditor.MainMenu.Tools": ToolMenu()}

    @staticmethod
    def get() -> ToolMenus:
        if ToolMenus._instance is None:
            ToolMenus._instance = ToolMenus()
        return ToolMenus._instance

    def find_menu(self, name: str) -> ToolMenu | None:
        return self.menus.get(name)

    def refresh_all_widgets(self) -> None:
        pass


class EditorDialogLibraryObjectDetailsViewOptions(FakeObject):
    def __init__(self, show_object_name: bool = False, allow_search: bool = False, **kwargs: Any) -> None:
        self.show_object_name = show_object_name


class EditorDialog(BlueprintFunctionLibrary):
    answer = True

    @staticmethod
    def show_object_details_view(title: str, out_object: Any, options: Any = None) -> bool:
        return EditorDialog.answer

    @staticmethod
    def show_message(title: str, message: str, message_type: Any, default_value: Any = None,
                     message_category: Any = None) -> Any:
        return None


# ---------------------------------------------------------------- module functions


_SUBSYSTEMS: dict[type, Any] = {}
tick_callbacks: dict[int, Any] = {}
shutdown_callbacks: list[Any] = []
errors: list[str] = []


def get_editor_subsystem(cls: type) -> Any:
    return _SUBSYSTEMS.setdefault(cls, cls())


def get_engine_subsystem(cls: type) -> Any:
    return _SUBSYSTEMS.setdefault(cls, cls())


def register_slate_post_tick_callback(callable: Any) -> int:  # noqa: A002 - UE's parameter name
    handle = len(tick_callbacks) + 1
    tick_callbacks[handle] = callable
    return handle


def unregister_slate_post_tick_callback(handle: int) -> None:
    tick_callbacks.pop(handle, None)


def register_python_shutdown_callback(callable: Any) -> int:  # noqa: A002
    shutdown_callbacks.append(callable)
    return len(shutdown_callbacks)


def log_message(arg: Any) -> None:
    pass


def log_warning(arg: Any) -> None:
    pass


def log_error(arg: Any) -> None:
    errors.append(str(arg))


def uclass() -> Any:
    return lambda cls: cls


def ufunction(meta: Any = None, ret: Any = None, params: Any = None, override: Any = None, static: Any = None,
              pure: Any = None, getter: Any = None, setter: Any = None) -> Any:
    return lambda fn: staticmethod(fn) if static else fn


def uproperty(type: Any, meta: Any = None, getter: Any = None, setter: Any = None) -> Any:  # noqa: A002
    return type()


def make_module() -> types.ModuleType:
    """A fresh `unreal` module whose functions record their calls; call before importing the adapter."""
    global log
    log = CallLog()
    _SUBSYSTEMS.clear()
    tick_callbacks.clear()
    shutdown_callbacks.clear()
    errors.clear()
    AssetTools.created = {}
    EditorAssetLibrary.assets = {}
    EditorAssetLibrary.saved = []
    EditorAssetLibrary.deleted = []
    AnimationDataController.refused_tracks = set()
    AnimationDataController.refused_keys = set()
    EditorUtilityLibrary.selected_assets = []
    ToolMenus._instance = None
    EditorDialog.answer = True
    module = types.ModuleType("unreal")
    for name, value in globals().items():
        if isinstance(value, type) and issubclass(value, FakeObject) and value is not FakeObject:
            setattr(module, name, value)
    for fn in (get_editor_subsystem, get_engine_subsystem, register_slate_post_tick_callback,
               unregister_slate_post_tick_callback, register_python_shutdown_callback, log_warning, log_error):
        setattr(module, fn.__name__, _recording("unreal", fn.__name__, fn))
    module.log = _recording("unreal", "log", log_message)
    for fn in (uclass, ufunction, uproperty):
        setattr(module, fn.__name__, fn)
    return module
