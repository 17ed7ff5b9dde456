"""An index of the UE 5 Python API stub (`unreal-stub`, a test-only dependency that is never committed).

Its one big `unreal.py` is generated from the editor and is not importable Python, so it is indexed with a
line scanner: classes, their bases, methods, properties and enum values, and module-level functions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest


class StubIndex:
    def __init__(self, text: str) -> None:
        self.members: dict[str, set[str]] = {}
        self.bases: dict[str, list[str]] = {}
        self.module: set[str] = set()
        current = None
        for line in text.splitlines():
            m = re.match(r"class (\w+)(?:\(([^)]*)\))?:", line)
            if m:
                current = m.group(1)
                self.members[current] = set()
                self.bases[current] = [b.strip() for b in (m.group(2) or "").split(",") if b.strip()]
                self.module.add(current)
                continue
            m = re.match(r"def (\w+)\(", line)
            if m:
                current = None
                self.module.add(m.group(1))
                continue
            if current is not None:
                m = re.match(r"    def (\w+)\(", line) or re.match(r"    (\w+)\s*[:=]", line)
                if m:
                    self.members[current].add(m.group(1))

    def has(self, cls: str, member: str) -> bool:
        if cls not in self.members:
            return False
        if member in self.members[cls]:
            return True
        return any(self.has(base, member) for base in self.bases[cls])


@lru_cache(maxsize=1)
def load_stub_index() -> StubIndex:
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        path = Path(str(distribution("unreal-stub").locate_file("unreal/unreal.py")))
    except PackageNotFoundError:
        pytest.skip("the UE 5 API stub is not installed: pip install unreal-stub (test-only dependency)")
    if not path.exists():
        pytest.skip(f"unreal-stub is installed but {path} is missing")
    return StubIndex(path.read_text(encoding="utf-8-sig"))
