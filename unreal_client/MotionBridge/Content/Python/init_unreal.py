"""Run by Unreal at editor start-up (every init_unreal.py on a plugin's Content/Python path is executed):
adds Tools ▸ MotionBridge. It deliberately does nothing else, so a broken daemon never slows the editor."""

from motionbridge_unreal import ue_adapter

ue_adapter.register_menus()
