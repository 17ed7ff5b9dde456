"""MotionBridge engine: text-to-motion models, motion math, retargeting and exports (no networking)."""
