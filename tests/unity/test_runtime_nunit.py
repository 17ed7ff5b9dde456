"""The package's NUnit tests (unity_client/Tests) plus Python-interop tests (tests/unity/csharp), compiled with
mcs and run by nunit-console against the Runtime assembly. The MessagePack fixtures are produced here, at run
time, by Python's msgpack and by the daemon's own encoder (bridge.protocol); what C# writes back is checked here."""

from __future__ import annotations

import math
import shutil
import struct
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from unity_test_support import run_nunit

import bridge.protocol
from bridge.codec import SUBPROTOCOL_MSGPACK, decode_motion_arrays, encode_message
from bridge.protocol import (
    Generate,
    Limits,
    MotionPayload,
    decode_directions,
    done_message,
    hello_message,
    motion_messages,
    parse_request,
)
from engine.core.skeleton import FPS, NUM_BODY_JOINTS
from engine.core.targets import TARGETS

pytestmark = pytest.mark.mono

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "unity_client"


# ------------------------------------------------------------------------------------------- fixtures


def describe(value: Any, single_float: bool) -> str:
    """Canonical text of a value as msgpack-python packs it; MessagePackInteropTests.Describe mirrors it."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"int:{value}"
    if isinstance(value, float):
        if single_float:
            return f"f32:{struct.unpack('<I', struct.pack('<f', value))[0]:08x}"
        return f"f64:{struct.unpack('<Q', struct.pack('<d', value))[0]:016x}"
    if isinstance(value, str):
        return "str:" + value.encode("utf-8").hex()
    if isinstance(value, bytes):
        return "bin:" + value.hex()
    if isinstance(value, msgpack.ExtType):
        return f"ext:{value.code}:{value.data.hex()}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(describe(v, single_float) for v in value) + "]"
    if isinstance(value, dict):
        entries = (f"{describe(k, single_float)}={describe(v, single_float)}" for k, v in value.items())
        return "{" + ",".join(entries) + "}"
    raise TypeError(f"no description for {type(value).__name__}")


def value_cases() -> dict[str, tuple[Any, bool]]:
    """name → (value, pack floats as float32). Covers every format family and each length boundary."""
    ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1,
            -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
    cases: dict[str, tuple[Any, bool]] = {f"int_{i}": (v, False) for i, v in enumerate(ints)}
    doubles = [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, math.inf, -math.inf, math.nan, 0.1]
    cases |= {f"f64_{i}": (v, False) for i, v in enumerate(doubles)}
    singles = [1.5, 3.4028234663852886e38, 1e-45, -0.1, math.nan]
    cases |= {f"f32_{i}": (v, True) for i, v in enumerate(singles)}
    strings = ["", "op", "é", "日本語 🕺", "x" * 31, "x" * 32, "y" * 255, "y" * 256, "z" * 65535, "z" * 65536]
    cases |= {f"str_{i}": (v, False) for i, v in enumerate(strings)}
    blobs = [b"", b"\x00\xff", bytes(range(256)) * 1, bytes(255), bytes(65535), bytes(65536)]
    cases |= {f"bin_{i}": (v, False) for i, v in enumerate(blobs)}
    cases |= {
        "nil": (None, False),
        "true": (True, False),
        "false": (False, False),
        "array_empty": ([], False),
        "array_mixed": ([1, "a", None, True, False, -7, 2.5], False),
        "array_15": (list(range(15)), False),
        "array_16": (list(range(16)), False),
        "array_65536": (list(range(65536)), False),
        "map_empty": ({}, False),
        "map_one": ({"a": 1}, False),
        "map_15": ({f"k{i}": i for i in range(15)}, False),
        "map_16": ({f"k{i}": i for i in range(16)}, False),
        "map_65536": ({f"k{i}": i for i in range(65536)}, False),
        "map_int_keys": ({1: "a", -2: "b"}, False),
        "nested": ({"x": {"y": [1, {"z": b"\x01"}]}, "w": [[[]]]}, False),
        "ext_1": (msgpack.ExtType(5, b"\x01"), False),
        "ext_8": (msgpack.ExtType(127, b"12345678"), False),
        "ext_3": (msgpack.ExtType(7, b"abc"), False),
        "ext_300": (msgpack.ExtType(8, bytes(300)), False),
        "ext_70000": (msgpack.ExtType(9, bytes(70000)), False),
    }
    return cases


BAD_CASES: dict[str, bytes] = {
    "truncated_uint16": msgpack.packb(65535)[:-1],
    "truncated_map": msgpack.packb({"op": "hello", "protocol": 1})[:-3],
    "reserved_c1": b"\xc1",
    "invalid_utf8": b"\xa2\xff\xfe",
    "trailing_bytes": msgpack.packb(1) + b"\x00",
    "array32_lies": b"\xdd\x7f\xff\xff\xff\x01",
    "bin32_lies": b"\xc6\xff\xff\xff\xff",
}


def write_fixtures(folder: Path) -> dict[str, Any]:
    """Write value_*/bad_*/protocol_* fixtures; return what the protocol fixtures hold."""
    for name, (value, single) in value_cases().items():
        (folder / f"value_{name}.msgpack").write_bytes(msgpack.packb(value, use_bin_type=True, use_single_float=single))
        (folder / f"value_{name}.txt").write_text(describe(value, single), encoding="utf-8")
    for name, data in BAD_CASES.items():
        (folder / f"bad_{name}.msgpack").write_bytes(data)

    model_info = {"name": "tiny", "fps": FPS, "max_seconds": 12.0, "default_steps": 50, "default_cfg": 5.0,
                  "device": "cpu"}
    hello = hello_message("s1", False, model_info, Limits(), ["npz"])
    (folder / "protocol_hello.msgpack").write_bytes(encode_message(hello, SUBPROTOCOL_MSGPACK))

    rng = np.random.default_rng(7)
    frames = 23
    root = rng.normal(size=(frames, 3)).astype(np.float32)
    quats = rng.normal(size=(frames, NUM_BODY_JOINTS, 4))
    quats = (quats / np.linalg.norm(quats, axis=-1, keepdims=True)).astype(np.float32)
    messages = list(motion_messages("py1", "j1", 0, MotionPayload(root, quats, seed=5, fps=float(FPS)), "unity",
                                    chunk_frames=7))
    for i, message in enumerate(messages):
        (folder / f"protocol_motion_{i:02d}.msgpack").write_bytes(encode_message(message, SUBPROTOCOL_MSGPACK))
    done = done_message("py1", "j1", 1, frames, FPS, False, {"queue_ms": 0.5, "total_ms": 12.0})
    (folder / "protocol_done.msgpack").write_bytes(encode_message(done, SUBPROTOCOL_MSGPACK))
    decoded = [decode_motion_arrays(m) for m in messages]
    return {
        "hello": hello,
        "root": np.concatenate([r for r, _ in decoded]),
        "rotations": np.concatenate([q for _, q in decoded]),
        **write_v11_fixtures(folder, rng),
    }


def write_v11_fixtures(folder: Path, rng: np.random.Generator) -> dict[str, Any]:
    """Protocol v1.1 messages as the daemon encodes them: hello with capabilities, done with segments and, once
    the daemon has live mode, a live stream and a live_state."""
    model_info = {"name": "tiny", "fps": FPS, "max_seconds": 12.0, "default_steps": 50, "default_cfg": 5.0}
    hello = hello_message("s1", False, model_info, Limits(), ["npz"], ["constraints", "timeline", "live"])
    (folder / "protocol_v11_hello.msgpack").write_bytes(encode_message(hello, SUBPROTOCOL_MSGPACK))
    done = done_message("py2", "j2", 1, 105, FPS, False, {"total_ms": 5.0},
                        segments=[{"start": 0, "count": 60}, {"start": 60, "count": 45}])
    (folder / "protocol_v11_done.msgpack").write_bytes(encode_message(done, SUBPROTOCOL_MSGPACK))
    live_motion = getattr(bridge.protocol, "live_motion_message", None)
    live_state = getattr(bridge.protocol, "live_state_message", None)
    if live_motion is None or live_state is None:
        return {"limits": Limits(), "live": None}
    roots, rotations, start = [], [], 0
    for i, count in enumerate((5, 8, 3)):
        root = rng.normal(size=(count, 3)).astype(np.float32)
        quats = rng.normal(size=(count, NUM_BODY_JOINTS, 4))
        quats = (quats / np.linalg.norm(quats, axis=-1, keepdims=True)).astype(np.float32)
        message = live_motion("py-live", "jl", MotionPayload(root, quats, seed=0, fps=float(FPS)), "unity", start)
        (folder / f"protocol_v11_live_motion_{i:02d}.msgpack").write_bytes(encode_message(message, SUBPROTOCOL_MSGPACK))
        wire_root, wire_rotations = decode_motion_arrays(message)
        roots.append(wire_root)
        rotations.append(wire_rotations)
        start += count
    state = live_state("py-live", "a person sits down", 14)
    (folder / "protocol_v11_live_state.msgpack").write_bytes(encode_message(state, SUBPROTOCOL_MSGPACK))
    return {"limits": Limits(), "live": (np.concatenate(roots), np.concatenate(rotations))}


# ------------------------------------------------------------------------------------------- running NUnit


@pytest.fixture(scope="module")
def nunit_run(mono_tools: Any, runtime_dll: Path, build_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    fixtures = tmp_path_factory.mktemp("msgpack-fixtures")
    expected = write_fixtures(fixtures)
    run_dir = build_dir / "nunit"
    run_dir.mkdir(exist_ok=True)
    shutil.copy(runtime_dll, run_dir / runtime_dll.name)
    shutil.copy(mono_tools.nunit_framework, run_dir / "nunit.framework.dll")
    files = sorted((PACKAGE / "Tests").rglob("*.cs")) + sorted((HERE / "csharp").rglob("*.cs"))
    references = [run_dir / runtime_dll.name, run_dir / "nunit.framework.dll"]
    tests_dll = mono_tools.compile(files, run_dir / "MotionBridge.Tests.dll", references=references)
    run = run_nunit(mono_tools, tests_dll, env={"MOTIONBRIDGE_MSGPACK_FIXTURES": str(fixtures)})
    return {"passed": run.passed, "failed": run.failed, "not_run": run.not_run, "failures": run.failures,
            "output": run.output, "fixtures": fixtures, "expected": expected}


def test_csharp_nunit_suite_passes(nunit_run: dict, capsys: pytest.CaptureFixture) -> None:
    with capsys.disabled():
        # CI reads this exact line.
        print(f"\n{nunit_run['passed']} passed, {nunit_run['failed']} failed")
    assert nunit_run["failed"] == 0, "\n".join(nunit_run["failures"]) + "\n" + nunit_run["output"][-4000:]
    assert nunit_run["not_run"] == 0, "some C# tests were ignored or not run"
    assert nunit_run["passed"] >= 80, f"only {nunit_run['passed']} C# tests ran: the suite lost tests"


def test_csharp_decodes_daemon_motion_bit_for_bit(nunit_run: dict) -> None:
    out = nunit_run["fixtures"] / "from_csharp"
    expected = nunit_run["expected"]
    root = np.frombuffer((out / "motion_root.f32").read_bytes(), dtype="<f4")
    rotations = np.frombuffer((out / "motion_rotations.f32").read_bytes(), dtype="<f4")
    assert root.tobytes() == np.ascontiguousarray(expected["root"], dtype="<f4").tobytes()
    assert rotations.tobytes() == np.ascontiguousarray(expected["rotations"], dtype="<f4").tobytes()


def test_csharp_rest_skeleton_matches_the_unity_target_conversion(nunit_run: dict) -> None:
    out = nunit_run["fixtures"] / "from_csharp"
    hello = nunit_run["expected"]["hello"]
    unity = TARGETS["unity"]
    rest = np.frombuffer((out / "rest_unity.f32").read_bytes(), dtype="<f4").reshape(-1, 3)
    np.testing.assert_array_equal(rest, unity.convert_positions(np.array(hello["skeleton"]["rest"])))
    assert (out / "unity_joints.txt").read_text().split("\n") == list(unity.joints)


def test_python_reads_requests_written_in_csharp(nunit_run: dict) -> None:
    out = nunit_run["fixtures"] / "from_csharp"
    generate = msgpack.unpackb((out / "generate.msgpack").read_bytes(), raw=False)
    assert generate == {
        "op": "generate", "id": "cs-1", "prompt": "a person waves — twice", "seconds": 2.5, "seed": 2147483647,
        "samples": 3, "target": "unity", "preview_every": 4, "chunk_frames": 16, "loop": True, "in_place": False,
        "steps": 12, "cfg": 4.5,
    }
    # The daemon's own strict validation (types, ranges) accepts it.
    assert isinstance(parse_request(generate), Generate)
    identify = msgpack.unpackb((out / "identify.msgpack").read_bytes(), raw=False)
    assert identify == {"op": "identify", "protocol": 1, "client": "nunit/1", "token": "s3cret"}
    fetch = msgpack.unpackb((out / "fetch.msgpack").read_bytes(), raw=False)
    assert fetch == {"op": "fetch", "id": "cs-2", "job": "j123", "target": "unity"}


def test_csharp_reads_the_daemons_v11_hello_done_and_live_messages(nunit_run: dict) -> None:
    out = nunit_run["fixtures"] / "from_csharp"
    lines = (out / "v11.txt").read_text(encoding="utf-8").split("\n")
    max_keys = nunit_run["expected"]["limits"].max_keys
    assert lines[:2] == ["capabilities=constraints,timeline,live", f"max_keys={max_keys}"]
    assert lines[2:4] == ["segment=0+60", "segment=60+45"]
    live = nunit_run["expected"]["live"]
    if live is None:
        pytest.skip("bridge.protocol has no live messages yet: the live stream part of this check cannot run")
    assert lines[4:] == ["live_state=py-live|a person sits down|14"]
    root, rotations = live
    assert (out / "live_root.f32").read_bytes() == np.ascontiguousarray(root, dtype="<f4").tobytes()
    assert (out / "live_rotations.f32").read_bytes() == np.ascontiguousarray(rotations, dtype="<f4").tobytes()


def test_python_reads_v11_requests_written_in_csharp(nunit_run: dict) -> None:
    out = nunit_run["fixtures"] / "from_csharp"
    generate = msgpack.unpackb((out / "generate_directed.msgpack").read_bytes(), raw=False)
    assert sorted(generate) == sorted(["op", "id", "seconds", "seed", "samples", "target", "preview_every",
                                       "chunk_frames", "loop", "in_place", "start", "path", "segments"])
    assert generate["seconds"] == 3.5, "with segments, seconds is their sum"
    assert generate["segments"] == [{"prompt": "a person walks forward", "seconds": 2.0},
                                    {"prompt": "a person jumps", "seconds": 1.5}]
    assert generate["path"] == [{"time": 1.0, "position": [0.5, 0.0, 1.0]},
                                {"time": 2.0, "position": [-0.75, 0.0, 2.5], "facing": 0.5}]
    assert list(generate["start"]) == ["motion"]
    assert sorted(generate["start"]["motion"]) == ["frames", "root", "rotations"]
    assert generate["start"]["motion"]["frames"] == 2

    # The daemon's own parser takes it, and converts the unity convention back to the source one.
    request = parse_request(generate)
    assert isinstance(request, Generate)
    directions = decode_directions(request, nunit_run["expected"]["limits"])
    unity = TARGETS["unity"]
    ramp_root = 0.5 + np.arange(6, dtype=np.float32).reshape(2, 3) / np.float32(64)
    ramp_rotations = -1 + np.arange(2 * 22 * 4, dtype=np.float32).reshape(2, 22, 4) / np.float32(64)
    constraints = directions.constraints
    assert constraints.start is not None
    np.testing.assert_array_equal(constraints.start.root, unity.positions_to_source(ramp_root))
    np.testing.assert_array_equal(constraints.start.rotations, unity.rotations_to_source(ramp_rotations))
    path = constraints.path
    assert [wp.time for wp in path] == [1.0, 2.0]
    np.testing.assert_array_equal(path[1].position, [0.75, 0.0, 2.5])
    assert path[0].facing is None and path[1].facing == unity.heading_to_source(0.5) == -0.5
    assert [(s.prompt, s.seconds) for s in directions.segments] == [("a person walks forward", 2.0),
                                                                     ("a person jumps", 1.5)]

    from_job = msgpack.unpackb((out / "generate_from_job.msgpack").read_bytes(), raw=False)
    assert from_job["start"] == {"job": "j77", "sample": 1}
    assert decode_directions(parse_request(from_job), nunit_run["expected"]["limits"]).start_job == ("j77", 1)


def test_python_reads_live_messages_written_in_csharp(nunit_run: dict) -> None:
    out = nunit_run["fixtures"] / "from_csharp"
    live_start = msgpack.unpackb((out / "live_start.msgpack").read_bytes(), raw=False)
    assert live_start == {"op": "live_start", "id": "cs-5", "prompt": "a person jogs in a circle", "target": "unity",
                          "seed": 3, "buffer_ms": 400, "area": 1.5}
    live_prompt = msgpack.unpackb((out / "live_prompt.msgpack").read_bytes(), raw=False)
    assert live_prompt == {"op": "live_prompt", "id": "cs-5", "prompt": "a person sits down"}
    live_stop = msgpack.unpackb((out / "live_stop.msgpack").read_bytes(), raw=False)
    assert live_stop == {"op": "live_stop", "id": "cs-5"}
