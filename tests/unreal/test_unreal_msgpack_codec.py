"""The plugin's own MessagePack codec agrees byte for byte with the reference `msgpack` library."""

from __future__ import annotations

import math

import msgpack
import pytest
from motionbridge_unreal.msgpack_codec import ExtType, MessagePackError, pack, unpack

INT_EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1,
             -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
VALUES = [
    None, True, False, 0.0, -1.5, 1e300, math.inf,
    "", "a" * 31, "b" * 32, "c" * 255, "d" * 256, "é" * 40000, "ünïcödé ✓",
    b"", b"\x00" * 255, b"\x01" * 256, b"\x02" * 70000,
    [], list(range(15)), list(range(16)), list(range(70000)),
    {}, {str(k): k for k in range(15)}, {str(k): k for k in range(16)}, {str(k): k for k in range(70000)},
    {"op": "motion", "root": b"\x00\x01", "joints": ["pelvis", "thigh_l"], "nested": {"a": [1, {"b": None}]}},
]


@pytest.mark.parametrize("value", INT_EDGES + VALUES, ids=lambda v: type(v).__name__)
def test_encoding_matches_the_reference_library_byte_for_byte(value: object) -> None:
    assert pack(value) == msgpack.packb(value, use_bin_type=True)


@pytest.mark.parametrize("value", INT_EDGES + VALUES, ids=lambda v: type(v).__name__)
def test_decodes_what_the_reference_library_encodes(value: object) -> None:
    assert unpack(msgpack.packb(value, use_bin_type=True)) == value


def test_float32_decodes_to_the_same_float() -> None:
    data = msgpack.packb(0.1, use_single_float=True)
    assert data[0] == 0xCA
    assert unpack(data) == pytest.approx(0.1, abs=1e-7)


def test_tuples_encode_as_arrays() -> None:
    assert unpack(pack((1, "x", (2.5,)))) == [1, "x", [2.5]]


def test_extension_types_decode_instead_of_failing() -> None:
    for payload in (b"a", b"ab", b"abcd", b"12345678", b"x" * 16, b"odd-length"):
        data = msgpack.packb(msgpack.ExtType(5, payload))
        assert unpack(data) == ExtType(5, payload)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"\xcd\x01", "truncated"),
        (b"\x01\x02", "trailing"),
        (b"\xc1", "invalid MessagePack type byte"),
        (b"\xdd\xff\xff\xff\xff", "claims"),
        (b"\xa2\xff\xfe", "UTF-8"),
        (b"\x81\x90\x01", "not hashable"),
        (b"\x91" * 100 + b"\x00", "nests deeper"),
    ],
)
def test_malformed_data_raises_a_typed_error(data: bytes, message: str) -> None:
    with pytest.raises(MessagePackError, match=message):
        unpack(data)


def test_values_that_cannot_be_encoded_raise_a_typed_error() -> None:
    with pytest.raises(MessagePackError, match="cannot encode set"):
        pack({1, 2})
    with pytest.raises(MessagePackError, match="64 bits"):
        pack(2**64)
    with pytest.raises(MessagePackError, match="64 bits"):
        pack(-(2**63) - 1)
