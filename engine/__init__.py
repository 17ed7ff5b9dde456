"""MotionBridge engine: text-to-motion models, motion math, retargeting and exports (no networking).

`engine.load_model(path_or_name, device=None, dtype=None, load_text_encoder=True)` is the public entry point;
it is imported lazily so `import engine` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_model"]


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from engine.io.loading import load_model

        return load_model
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
