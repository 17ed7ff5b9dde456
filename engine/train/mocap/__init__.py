"""Motion-capture importers: source rigs (CMU BVH in several skeletons, DeepMimic) → SMPL-H training clips.

- `rigs`: joint-name maps of every supported rig;
- `retarget`: world-delta retargeting against each rig's own T-pose, with limb directions matched exactly;
- `bvh_import`, `deepmimic`: file formats → `MocapClip`;
- `clip`: 30 fps resampling (slerp), canonical start, grounding, mirroring, segmentation;
- `sources`: where the takes are found (shared data, the pybullet wheel, Debian assimp-testmodels).
"""
