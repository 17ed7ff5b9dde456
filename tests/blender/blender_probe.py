"""Runs inside the bpy venv (not collected by pytest): import a BVH or GLB headless and report bone poses.

Usage: python blender_probe.py REQUEST.json RESULT.json
REQUEST: {"file": path, "kind": "bvh"|"glb"|"fbx", "frames": [clip frame indices], "fps": float,
          "render": optional png path, "render_frame": clip frame index}
RESULT:  {"blender": version, "scene_fps": fps, "frame_offset": first Blender frame,
          "rest": {bone: 4x4 world}, "pose": {frame: {bone: 4x4 world}}} — world = armature matrix_world @ bone
          matrix, in Blender's Z-up world; positions in Blender units (metres).
"""

import json
import math
import sys

import bpy
from mathutils import Vector


def _mat(m):
    return [list(row) for row in m]


def main(request_path, result_path):
    req = json.load(open(request_path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    fps = float(req["fps"])
    scene.render.fps = int(round(fps))
    scene.render.fps_base = scene.render.fps / fps
    if req["kind"] == "bvh":
        bpy.ops.import_anim.bvh(filepath=req["file"], global_scale=0.01, frame_start=1, use_fps_scale=False,
                                update_scene_fps=False, update_scene_duration=True, rotate_mode="NATIVE",
                                axis_forward="-Z", axis_up="Y")
        offset = 1
    elif req["kind"] == "fbx":
        bpy.ops.import_scene.fbx(filepath=req["file"])
        offset = min(int(round(a.frame_range[0])) for a in bpy.data.actions)
    else:
        bpy.ops.import_scene.gltf(filepath=req["file"])
        # The glTF importer keys time t at frame t * fps (+ its own start); take the action's first key.
        offset = min(int(round(a.frame_range[0])) for a in bpy.data.actions)
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    out = {"blender": bpy.app.version_string, "scene_fps": scene.render.fps / scene.render.fps_base,
           "frame_offset": offset, "armature_scale": list(arm.matrix_world.to_scale()), "rest": {}, "pose": {}}
    for bone in arm.data.bones:
        out["rest"][bone.name] = _mat(arm.matrix_world @ bone.matrix_local)
    for f in req["frames"]:
        scene.frame_set(offset + int(f))
        bpy.context.view_layer.update()
        out["pose"][str(f)] = {pb.name: _mat(arm.matrix_world @ pb.matrix) for pb in arm.pose.bones}
    if req.get("render"):
        scene.frame_set(offset + int(req.get("render_frame", 0)))
        _render(scene, arm, req["render"])
    json.dump(out, open(result_path, "w"))


def _render(scene, arm, png):
    depsgraph = bpy.context.evaluated_depsgraph_get()
    points = [arm.matrix_world @ pb.head for pb in arm.pose.bones]
    lo = Vector([min(p[i] for p in points) for i in range(3)])
    hi = Vector([max(p[i] for p in points) for i in range(3)])
    centre = (lo + hi) / 2
    lo.z = 0.0  # keep the feet and the floor in the picture
    size = max(hi.z - lo.z, hi.x - lo.x, 1.0)
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = 50
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    # Front view: the character faces −Y in Blender, so the camera stands on −Y looking toward +Y, a bit high.
    distance = 1.9 * size
    cam.location = centre + Vector((0.3 * distance, -distance, 0.15 * size))
    direction = centre - cam.location
    cam.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    if not any(o.type == "MESH" for o in scene.objects):
        # BVH has no mesh: give each bone a thin cylinder parented to it so the render shows the pose.
        for pb in arm.pose.bones:
            length = (pb.tail - pb.head).length
            if length < 1e-4:
                continue
            bpy.ops.mesh.primitive_cylinder_add(radius=0.025, depth=length, vertices=8)
            cyl = bpy.context.active_object
            cyl.parent = arm
            cyl.parent_type = "BONE"
            cyl.parent_bone = pb.name
            cyl.matrix_parent_inverse.identity()
            # Bone-parented children sit at the bone's tail, along its local Y: move to the middle.
            cyl.rotation_euler = (math.pi / 2, 0.0, 0.0)
            cyl.location = (0.0, -length / 2, 0.0)
    floor = bpy.data.meshes.new("floor")
    cx, cy = centre.x, centre.y
    floor.from_pydata([(cx - 3, cy - 3, 0), (cx + 3, cy - 3, 0), (cx + 3, cy + 3, 0), (cx - 3, cy + 3, 0)], [],
                      [(0, 1, 2, 3)])
    scene.collection.objects.link(bpy.data.objects.new("floor", floor))
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.render.resolution_x = 320
    scene.render.resolution_y = 360
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = png
    del depsgraph
    bpy.ops.render.render(write_still=True)


if __name__ == "__main__":
    main(sys.argv[-2], sys.argv[-1])
