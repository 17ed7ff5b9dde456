"""The motion value and its conventions, in numpy only (no torch, no model): what a client needs too.

- `skeleton`: the SMPL-H body (joint order, parents, rest offsets), fps, units and axes;
- `rotations`: quaternion order, the 6D layout, Euler angles and forward kinematics (numpy, float64 inside);
- `motion`: `Motion`, the clip every part passes around, and the clip-length rule;
- `targets`: the wire targets (`smplh`, `unity`, `unreal`): basis, units and joint names;
- `constraints`: a request's directing (start, keys, path, end, timeline) as typed values, and their validation;
- `errors`: `GenerationError`, what a request the model cannot serve raises.
"""
