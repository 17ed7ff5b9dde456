"""`motionbridge` commands that are programs rather than parts of the engine.

- `bench`, `bench_gpu`, `bench_threads`, `bench_directing`: `motionbridge bench engine|gpu|threads|directing`;
- `export`: `motionbridge export`, a generated clip to npz/BVH/glTF/FBX.
"""
