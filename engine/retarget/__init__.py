"""Retargeting source-skeleton motion onto target rigs.

- `rig`: the `Rig` type and world-delta retargeting onto any rig;
- `rigs`: the rigs we ship (Unity Humanoid, UE5 Manny, Mixamo, our own SMPL-H).
"""
