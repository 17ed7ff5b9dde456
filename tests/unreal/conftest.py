"""Fixtures for the Unreal plugin's tests: a live daemon on loopback and a recording fake `unreal` module.
Importing ue_test_support puts the plugin's Content/Python on sys.path."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from ue_test_support import LiveDaemon


@pytest.fixture(scope="session")
def live_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    try:
        import bridge.server  # noqa: F401
        import engine.model.testing  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the daemon cannot be imported here ({exc}); it is needed for the live tests")
    daemon = LiveDaemon(tmp_path_factory.mktemp("motionbridge-store")).start()
    yield daemon
    daemon.stop()


@pytest.fixture()
def fake_unreal() -> Iterator[tuple[Any, Any]]:
    """(fake `unreal` module, freshly imported ue_adapter) with the fake installed in sys.modules."""
    import ue_fake_editor

    saved = sys.modules.get("unreal")
    sys.modules["unreal"] = ue_fake_editor.make_module()
    sys.modules.pop("motionbridge_unreal.ue_adapter", None)
    adapter = importlib.import_module("motionbridge_unreal.ue_adapter")
    try:
        yield sys.modules["unreal"], adapter
    finally:
        adapter.EDITOR.disconnect()
        sys.modules.pop("motionbridge_unreal.ue_adapter", None)
        if saved is None:
            sys.modules.pop("unreal", None)
        else:
            sys.modules["unreal"] = saved
