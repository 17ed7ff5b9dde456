"""Files in and out: checkpoints, model loading, BVH and the export formats.

- `loading`: `load_model` (`engine.load_model`): HY-Motion folders, embedded .safetensors files, test models;
- `checkpoint`, `checkpoint_convert`: HY-Motion checkpoints and their conversion to safetensors;
- `hymotion_download`: `motionbridge fetch-weights`, pinned HY-Motion downloads;
- `bvh`: a generic BVH reader and writer;
- `formats`: the export formats and their media types, named once (plain data, for the CLI and the daemon);
- `exporters`: npz, BVH, glTF binary and FBX exports of a `Motion`.
"""
