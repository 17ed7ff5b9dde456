"""A small MessagePack encoder/decoder for the MotionBridge wire protocol (pure Python, no dependencies).

Why our own: Unreal's embedded Python has no pip by default and a plugin copied into `Plugins/` must work
offline on every platform the editor runs on; the protocol only needs nil, bool, int, float, str, bin,
array and map, which fit in one short module. Extension types decode to `ExtType` so an unknown field
carrying one is ignored rather than breaking the whole message.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from typing import Any

ExtType = namedtuple("ExtType", ["code", "data"])

MAX_DEPTH = 64
"""Deepest nesting accepted when decoding; protects the receive thread against hostile input."""


class MessagePackError(ValueError):
    """The bytes are not valid MessagePack, or the value cannot be encoded."""


# ---------------------------------------------------------------- encoding


def pack(value: Any) -> bytes:
    """Encode a value made of None, bool, int, float, str, bytes, list/tuple and dict."""
    out = bytearray()
    _pack_into(out, value, 0)
    return bytes(out)


def _pack_into(out: bytearray, value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MessagePackError(f"value nests deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append(0xC0)
    elif value is True:
        out.append(0xC3)
    elif value is False:
        out.append(0xC2)
    elif isinstance(value, int):
        _pack_int(out, value)
    elif isinstance(value, float):
        out.append(0xCB)
        out += struct.pack(">d", value)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        _pack_length(out, len(data), fix=(0xA0, 31), codes=(0xD9, 0xDA, 0xDB))
        out += data
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        _pack_length(out, len(data), fix=None, codes=(0xC4, 0xC5, 0xC6))
        out += data
    elif isinstance(value, (list, tuple)):
        _pack_length(out, len(value), fix=(0x90, 15), codes=(None, 0xDC, 0xDD))
        for item in value:
            _pack_into(out, item, depth + 1)
    elif isinstance(value, dict):
        _pack_length(out, len(value), fix=(0x80, 15), codes=(None, 0xDE, 0xDF))
        for key, item in value.items():
            _pack_into(out, key, depth + 1)
            _pack_into(out, item, depth + 1)
    else:
        raise MessagePackError(f"cannot encode {type(value).__name__} as MessagePack")


def _pack_int(out: bytearray, value: int) -> None:
    if 0 <= value <= 0x7F:
        out.append(value)
    elif -32 <= value < 0:
        out += struct.pack(">b", value)
    elif value >= 0:
        for code, fmt, limit in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF), (0xCE, ">I", 0xFFFFFFFF),
                                 (0xCF, ">Q", 0xFFFFFFFFFFFFFFFF)):
            if value <= limit:
                out.append(code)
                out += struct.pack(fmt, value)
                return
        raise MessagePackError(f"integer {value} does not fit in 64 bits")
    else:
        for code, fmt, limit in ((0xD0, ">b", 0x80), (0xD1, ">h", 0x8000), (0xD2, ">i", 0x80000000),
                                 (0xD3, ">q", 0x8000000000000000)):
            if value >= -limit:
                out.append(code)
                out += struct.pack(fmt, value)
                return
        raise MessagePackError(f"integer {value} does not fit in 64 bits")


def _pack_length(out: bytearray, length: int, fix: Any, codes: tuple[Any, int, int]) -> None:
    code8, code16, code32 = codes
    if fix is not None and length <= fix[1]:
        out.append(fix[0] | length)
    elif code8 is not None and length <= 0xFF:
        out.append(code8)
        out.append(length)
    elif length <= 0xFFFF:
        out.append(code16)
        out += struct.pack(">H", length)
    elif length <= 0xFFFFFFFF:
        out.append(code32)
        out += struct.pack(">I", length)
    else:
        raise MessagePackError(f"length {length} is too large for MessagePack")


# ---------------------------------------------------------------- decoding

_FIXED_INTS = {
    0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
    0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
}
_FIXEXT_SIZES = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}


def unpack(data: bytes) -> Any:
    """Decode exactly one MessagePack value that fills `data`; raises MessagePackError otherwise."""
    reader = _Reader(bytes(data))
    value = reader.value(0)
    if reader.pos != len(reader.data):
        raise MessagePackError(f"{len(reader.data) - reader.pos} trailing bytes after the MessagePack value")
    return value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise MessagePackError(f"truncated MessagePack data (needed {end - len(self.data)} more bytes)")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise MessagePackError(f"MessagePack data nests deeper than {MAX_DEPTH} levels")
        code = self.take(1)[0]
        if code <= 0x7F:
            return code
        if code >= 0xE0:
            return code - 0x100
        if 0x80 <= code <= 0x8F:
            return self.map(code & 0x0F, depth)
        if 0x90 <= code <= 0x9F:
            return self.array(code & 0x0F, depth)
        if 0xA0 <= code <= 0xBF:
            return self.text(code & 0x1F)
        if code == 0xC0:
            return None
        if code == 0xC2:
            return False
        if code == 0xC3:
            return True
        if code in _FIXED_INTS:
            return self.unpack(_FIXED_INTS[code])
        if code == 0xCA:
            return self.unpack(">f")
        if code == 0xCB:
            return self.unpack(">d")
        if code in (0xC4, 0xC5, 0xC6):
            return self.take(self.unpack((">B", ">H", ">I")[code - 0xC4]))
        if code in (0xD9, 0xDA, 0xDB):
            return self.text(self.unpack((">B", ">H", ">I")[code - 0xD9]))
        if code in (0xDC, 0xDD):
            return self.array(self.unpack(">H" if code == 0xDC else ">I"), depth)
        if code in (0xDE, 0xDF):
            return self.map(self.unpack(">H" if code == 0xDE else ">I"), depth)
        if code in _FIXEXT_SIZES:
            ext_code = self.unpack(">b")
            return ExtType(ext_code, self.take(_FIXEXT_SIZES[code]))
        if code in (0xC7, 0xC8, 0xC9):
            length = self.unpack((">B", ">H", ">I")[code - 0xC7])
            ext_code = self.unpack(">b")
            return ExtType(ext_code, self.take(length))
        raise MessagePackError(f"invalid MessagePack type byte 0x{code:02x}")

    def text(self, length: int) -> str:
        raw = self.take(length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MessagePackError(f"MessagePack string is not valid UTF-8: {exc}") from None

    def array(self, length: int, depth: int) -> list:
        self._check_count(length)
        return [self.value(depth + 1) for _ in range(length)]

    def map(self, length: int, depth: int) -> dict:
        self._check_count(length)
        result = {}
        for _ in range(length):
            key = self.value(depth + 1)
            try:
                result[key] = self.value(depth + 1)
            except TypeError:
                raise MessagePackError(f"MessagePack map key of type {type(key).__name__} is not hashable") \
                    from None
        return result

    def _check_count(self, count: int) -> None:
        # Every element takes at least one byte: a count beyond the remaining bytes is a lie, reject it
        # before allocating.
        if count > len(self.data) - self.pos:
            raise MessagePackError(f"MessagePack container claims {count} elements but only "
                                   f"{len(self.data) - self.pos} bytes remain")
