"""The motion value and its conventions: what every other part builds on.

- `skeleton`: the SMPL-H body (joint order, parents, rest offsets), fps, units and axes;
- `rotations`: quaternion order, the 6D layout, Euler angles and forward kinematics;
- `motion`: `Motion`, the clip every part passes around, and the clip-length rule;
- `targets`: the wire targets (`smplh`, `unity`, `unreal`): basis, units and joint names.
"""
