"""MotionBridge for Unreal: a pure-Python client of the MotionBridge daemon plus the editor adapter.

Every module here except `ue_adapter` is free of `unreal` and runs (and is tested) in plain Python 3.9+.
"""

__version__ = "0.1.0"
