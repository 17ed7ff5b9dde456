"""The sans-I/O protocol core: codecs, validation, handshake state machine and motion chunking, no sockets."""

from __future__ import annotations

import base64
import json

import msgpack
import numpy as np
import pytest

from bridge.codec import (
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
    CloseCode,
    CloseConnection,
    ErrorCode,
    FrameKindError,
    RequestError,
    decode_message,
    decode_motion_arrays,
    encode_message,
)
from bridge.protocol import (
    RATE_LIMIT_BACKLOG,
    RATE_LIMIT_BURST,
    RATE_LIMIT_PER_SECOND,
    Enqueued,
    Generate,
    GenerateJob,
    Identified,
    Limits,
    ModelDefaults,
    MotionPayload,
    Outbox,
    ServerSession,
    SessionState,
    Status,
    motion_messages,
    narrowest,
    parse_request,
    serving_limits,
    validate_generate,
)
from engine.core.skeleton import BODY_JOINTS
from engine.core.targets import UNITY_BONES, UNREAL_BONES, to_target

MODEL = ModelDefaults("test-model", 30, default_steps=50, default_cfg=5.0)
LIMITS = Limits(max_seconds=12.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def session(
    token: str | None = None, subprotocol: str | None = SUBPROTOCOL_MSGPACK, clock: FakeClock | None = None
) -> ServerSession:
    return ServerSession("s1", subprotocol, token, LIMITS, MODEL, clock or FakeClock())


def pack(message: dict) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def ready_session(**kwargs) -> ServerSession:
    s = session(**kwargs)
    s.receive(pack({"op": "identify", "protocol": 1, "client": "t", "token": kwargs.get("token")}))
    assert s.state is SessionState.READY
    return s


# ------------------------------------------------------------------------------------------ codecs


def test_msgpack_round_trip_keeps_bytes_as_bin() -> None:
    message = {"op": "motion", "root": b"\x00\x01\x02", "count": 1, "fps": 30.0}
    frame = encode_message(message, SUBPROTOCOL_MSGPACK)
    assert isinstance(frame, bytes)
    assert decode_message(frame, SUBPROTOCOL_MSGPACK) == message


def test_json_carries_byte_fields_as_base64_and_decodes_them_back() -> None:
    message = {"op": "motion", "root": b"\xff\x00abc", "rotations": b"", "count": 2}
    frame = encode_message(message, SUBPROTOCOL_JSON)
    assert isinstance(frame, str)
    assert json.loads(frame)["root"] == base64.b64encode(b"\xff\x00abc").decode()
    assert decode_message(frame, SUBPROTOCOL_JSON) == message


def test_wrong_frame_kind_is_a_frame_kind_error() -> None:
    with pytest.raises(FrameKindError):
        decode_message('{"op":"status"}', SUBPROTOCOL_MSGPACK)
    with pytest.raises(FrameKindError):
        decode_message(b'{"op":"status"}', SUBPROTOCOL_JSON)


@pytest.mark.parametrize(
    ("frame", "subprotocol", "fragment"),
    [
        (b"\xc1\xc1\xc1", SUBPROTOCOL_MSGPACK, "malformed MessagePack"),
        (pack([1, 2, 3]), SUBPROTOCOL_MSGPACK, "must be a map"),
        (pack({1: "x"}), SUBPROTOCOL_MSGPACK, "keys must be strings"),
        ("{not json", SUBPROTOCOL_JSON, "malformed JSON"),
        ('"just a string"', SUBPROTOCOL_JSON, "must be a map"),
        ('{"op":"motion","root":"***"}', SUBPROTOCOL_JSON, "base64"),
    ],
)
def test_undecodable_frames_are_bad_requests(frame, subprotocol, fragment) -> None:
    with pytest.raises(RequestError) as info:
        decode_message(frame, subprotocol)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert fragment in info.value.message


# ------------------------------------------------------------------------------------------ validation


def test_generate_defaults_resolve_from_the_model() -> None:
    job = validate_generate(parse_request({"op": "generate", "id": "a", "prompt": "  walk  "}), LIMITS, MODEL)
    assert job == GenerateJob(
        id="a",
        prompt="walk",
        seconds=5.0,
        frames=150,
        seed=0,
        samples=1,
        steps=50,
        cfg=5.0,
        target="smplh",
        preview_every=0,
        chunk_frames=0,
        loop=False,
        in_place=False,
    )


def test_short_clips_are_clamped_to_twenty_frames_and_lengths_round() -> None:
    job = validate_generate(Generate(op="generate", id="a", prompt="p", seconds=0.1), LIMITS, MODEL)
    assert job.frames == 20
    job = validate_generate(Generate(op="generate", id="a", prompt="p", seconds=2.49), LIMITS, MODEL)
    assert job.frames == 75


def test_unknown_fields_are_ignored() -> None:
    request = parse_request({"op": "status", "id": "x", "future_field": [1, 2]})
    assert request == Status(op="status", id="x")


@pytest.mark.parametrize(
    ("fields", "code", "fragment"),
    [
        ({"prompt": "x" * 1_000_000}, ErrorCode.TOO_LONG, "1000000 characters"),
        ({"seconds": 1e9}, ErrorCode.TOO_LONG, "above the limit"),
        ({"seconds": 0}, ErrorCode.BAD_REQUEST, "seconds must be > 0"),
        ({"seconds": -3.0}, ErrorCode.BAD_REQUEST, "seconds must be > 0"),
        ({"seconds": -1e308}, ErrorCode.BAD_REQUEST, "seconds must be > 0"),
        ({"prompt": "   "}, ErrorCode.BAD_REQUEST, "prompt is empty"),
        ({"samples": 0}, ErrorCode.BAD_REQUEST, "samples must be in"),
        ({"samples": 99}, ErrorCode.BAD_REQUEST, "samples must be in"),
        ({"steps": 0}, ErrorCode.BAD_REQUEST, "steps must be in"),
        ({"steps": 10_000}, ErrorCode.BAD_REQUEST, "steps must be in"),
        ({"cfg": 50.0}, ErrorCode.BAD_REQUEST, "cfg must be in"),
        ({"seed": -1}, ErrorCode.BAD_REQUEST, "seed must be in"),
        ({"target": "blender"}, ErrorCode.BAD_REQUEST, "unknown target"),
    ],
)
def test_out_of_range_generate_fields_give_typed_errors(fields, code, fragment) -> None:
    message = {"op": "generate", "id": "r9", "prompt": "walk", **fields}
    with pytest.raises(RequestError) as info:
        validate_generate(parse_request(message), LIMITS, MODEL)
    assert info.value.code is code
    assert info.value.request_id == "r9"
    assert fragment in info.value.message


def test_a_prompt_that_is_not_encodable_text_is_a_bad_request_before_acceptance() -> None:
    message = json.loads('{"op": "generate", "id": "s", "prompt": "wave \\udfff"}')
    with pytest.raises(RequestError) as info:
        validate_generate(parse_request(message), LIMITS, MODEL)
    assert (info.value.code, info.value.request_id) == (ErrorCode.BAD_REQUEST, "s")
    assert "surrogate" in info.value.message


def test_served_limits_cap_samples_at_one_batch_and_seconds_at_the_model() -> None:
    served = serving_limits(Limits(max_samples=8, max_seconds=99.0), model_max_seconds=12.0, max_batch=4)
    assert (served.max_samples, served.max_seconds) == (4, 12.0)
    assert serving_limits(Limits(), 12.0, max_batch=4, max_seconds=5.0).max_seconds == 5.0
    with pytest.raises(RequestError) as info:
        validate_generate(Generate(op="generate", id="a", prompt="p", samples=5), served, MODEL)
    assert "samples must be in [1, 4]" in info.value.message
    pool = narrowest(Limits(max_queue=256), [served, Limits(max_seconds=60.0, max_samples=2, max_queue=16)])
    assert (pool.max_seconds, pool.max_samples, pool.max_steps, pool.max_queue) == (12.0, 2, 200, 256)
    assert Limits.from_wire(pool.to_wire()) == pool


@pytest.mark.parametrize(
    "fields",
    [
        {"seconds": "5"},
        {"seconds": True},
        {"seconds": float("nan")},
        {"seed": 1.5},
        {"samples": "2"},
        {"prompt": 42},
        {"preview_every": -1},
        {"loop": "yes"},
        {"id": 7},
        {"id": ""},
    ],
)
def test_wrong_types_are_bad_requests(fields) -> None:
    message = {"op": "generate", "id": "r1", "prompt": "walk", **fields}
    with pytest.raises(RequestError) as info:
        parse_request(message)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.message.startswith("invalid generate")


def test_unknown_op_and_missing_op_are_bad_requests_with_the_id_echoed() -> None:
    with pytest.raises(RequestError) as info:
        parse_request({"op": "dance", "id": "q"})
    assert (info.value.code, info.value.request_id) == (ErrorCode.BAD_REQUEST, "q")
    assert "unknown op 'dance'" in info.value.message
    with pytest.raises(RequestError) as info:
        parse_request({"id": "q"})
    assert "no string field 'op'" in info.value.message


# ------------------------------------------------------------------------------------------ handshake


def test_handshake_identify_then_ready_then_requests() -> None:
    s = session()
    result = s.receive(pack({"op": "identify", "protocol": 1, "client": "unity/1.0"}))
    assert isinstance(result, Identified)
    assert result.reply == {"op": "ready", "protocol": 1, "session": "s1"}
    assert s.client == "unity/1.0"
    job = s.receive(pack({"op": "generate", "id": "g", "prompt": "wave"}))
    assert isinstance(job, GenerateJob) and job.prompt == "wave"


@pytest.mark.parametrize(
    ("first", "code"),
    [
        ({"op": "generate", "id": "g", "prompt": "wave"}, CloseCode.NOT_IDENTIFIED),
        ({"op": "identify", "protocol": 2}, CloseCode.UNSUPPORTED_PROTOCOL),
        ({"op": "identify", "protocol": "1"}, CloseCode.UNSUPPORTED_PROTOCOL),
        ({"op": "identify", "protocol": True}, CloseCode.UNSUPPORTED_PROTOCOL),
        ({"op": "identify"}, CloseCode.UNSUPPORTED_PROTOCOL),
    ],
)
def test_handshake_failures_close_with_the_documented_code(first, code) -> None:
    s = session()
    with pytest.raises(CloseConnection) as info:
        s.receive(pack(first))
    assert info.value.code is code
    assert s.state is SessionState.CLOSED


def test_garbage_before_identify_closes_with_4003() -> None:
    with pytest.raises(CloseConnection) as info:
        session().receive(b"\xc1")
    assert info.value.code is CloseCode.NOT_IDENTIFIED


@pytest.mark.parametrize("given", [None, "wrong", "secret "])
def test_wrong_or_missing_token_closes_with_4001(given) -> None:
    s = session(token="secret")
    with pytest.raises(CloseConnection) as info:
        s.receive(pack({"op": "identify", "protocol": 1, "token": given}))
    assert info.value.code is CloseCode.UNAUTHORIZED


def test_right_token_is_accepted() -> None:
    assert ready_session(token="secret").state is SessionState.READY


def test_missing_subprotocol_and_wrong_frame_kind_close_with_4002() -> None:
    with pytest.raises(CloseConnection) as info:
        session(subprotocol=None).check_subprotocol()
    assert info.value.code is CloseCode.WRONG_SUBPROTOCOL
    s = ready_session()
    with pytest.raises(CloseConnection) as info:
        s.receive('{"op": "status", "id": "x"}')
    assert info.value.code is CloseCode.WRONG_SUBPROTOCOL


def test_oversized_message_closes_with_4008() -> None:
    s = ready_session()
    with pytest.raises(CloseConnection) as info:
        s.receive(pack({"op": "status", "id": "x", "pad": b"\0" * LIMITS.max_message_bytes}))
    assert info.value.code is CloseCode.TOO_LARGE


def test_a_burst_up_to_the_bucket_is_handled_at_once_and_the_next_message_is_held_not_refused() -> None:
    s = ready_session(clock=FakeClock())
    status = pack({"op": "status", "id": "x"})
    assert [s.admit(status) for _ in range(RATE_LIMIT_BURST)] == [0.0] * RATE_LIMIT_BURST
    assert s.admit(status) == pytest.approx(1.0 / RATE_LIMIT_PER_SECOND)


def test_a_client_that_waits_for_each_reply_is_slowed_down_but_never_closed() -> None:
    # Twice the sustained rate, 10 s long: each message is sent when the previous one was handled.
    clock = FakeClock()
    s = ready_session(clock=clock)
    status = pack({"op": "status", "id": "x"})
    delays = []
    for _ in range(int(RATE_LIMIT_PER_SECOND * 20)):
        delay = s.admit(status)
        delays.append(delay)
        clock.now += delay + 0.5 / RATE_LIMIT_PER_SECOND
        assert isinstance(s.receive(status), Status)
    assert max(delays) <= 1.0 / RATE_LIMIT_PER_SECOND + 1e-9


def test_a_client_that_keeps_sending_while_held_is_a_flood_and_closes_4008() -> None:
    s = ready_session(clock=FakeClock())
    status = pack({"op": "status", "id": "x"})
    for _ in range(RATE_LIMIT_BURST + RATE_LIMIT_BACKLOG):
        s.admit(status)
    with pytest.raises(CloseConnection) as info:
        s.admit(status)
    assert info.value.code is CloseCode.TOO_LARGE and "rate limit" in info.value.reason


def test_the_outbox_skips_previews_first_then_evicts_them_then_overflows() -> None:
    outbox = Outbox(max_bytes=1000, preview_bytes=300)
    assert outbox.push(b"p" * 250, preview=True) is Enqueued.QUEUED
    assert outbox.push(b"d" * 100) is Enqueued.QUEUED
    assert not outbox.takes_previews
    assert outbox.push(b"p" * 10, preview=True) is Enqueued.SKIPPED
    # Data that does not fit evicts the waiting preview rather than closing the connection.
    assert outbox.push(b"d" * 800) is Enqueued.QUEUED
    assert outbox.queued_bytes == 900 and len(outbox) == 2
    assert outbox.push(b"d" * 101) is Enqueued.OVERFLOW
    sent = []
    assert outbox.push(b"x", on_send=lambda: sent.append("x")) is Enqueued.QUEUED
    frames = [outbox.pop() for _ in range(3)]
    assert [f.size for f in frames] == [100, 800, 1] and outbox.pop() is None and outbox.queued_bytes == 0
    frames[-1].on_send()
    assert sent == ["x"]


def test_request_errors_after_ready_keep_the_session_usable() -> None:
    s = ready_session()
    for bad in (b"\xc1", pack({"op": "nope", "id": "1"}), pack({"op": "identify", "protocol": 1})):
        with pytest.raises(RequestError):
            s.receive(bad)
    assert s.state is SessionState.READY
    assert isinstance(s.receive(pack({"op": "status", "id": "ok"})), Status)


# ------------------------------------------------------------------------------------------ motion messages


def _payload(frames: int = 47) -> MotionPayload:
    rng = np.random.default_rng(3)
    q = rng.normal(size=(frames, 22, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return MotionPayload(rng.normal(size=(frames, 3)).astype(np.float32), q.astype(np.float32), seed=5)


def test_chunks_add_up_to_the_frames_and_only_the_last_is_final() -> None:
    payload = _payload(47)
    chunks = list(motion_messages("r", "j", 0, payload, "smplh", chunk_frames=10))
    assert [c["count"] for c in chunks] == [10, 10, 10, 10, 7]
    assert [c["start"] for c in chunks] == [0, 10, 20, 30, 40]
    assert [c["final"] for c in chunks] == [False] * 4 + [True]
    assert all(c["total"] == 47 and not c["preview"] and c["seed"] == 5 for c in chunks)
    assert all(c["fps"] == 30 and isinstance(c["fps"], int) for c in chunks)
    root = np.concatenate([decode_motion_arrays(c)[0] for c in chunks])
    rot = np.concatenate([decode_motion_arrays(c)[1] for c in chunks])
    np.testing.assert_array_equal(root, payload.root)
    np.testing.assert_array_equal(rot, payload.rotations)
    assert all(len(c["rotations"]) == c["count"] * 22 * 16 for c in chunks)


def test_a_preview_is_one_non_final_message_with_its_step() -> None:
    (preview,) = motion_messages("r", "j", 1, _payload(30), "smplh", chunk_frames=7, preview_step=10)
    assert (preview["preview"], preview["final"], preview["count"], preview["step"]) == (True, False, 30, 10)


@pytest.mark.parametrize(
    ("target", "names"), [("smplh", BODY_JOINTS), ("unity", UNITY_BONES), ("unreal", UNREAL_BONES)]
)
def test_targets_use_engine_conventions(target, names) -> None:
    payload = _payload(12)
    (msg,) = motion_messages("r", "j", 0, payload, target)
    assert tuple(msg["joints"]) == names
    root, rot = decode_motion_arrays(msg)
    want_root, want_rot = to_target(payload.root, payload.rotations, target)
    np.testing.assert_allclose(root, want_root, rtol=1e-6)
    np.testing.assert_allclose(rot, want_rot, rtol=1e-6)
    if target == "unreal":  # metres → centimetres, source Y up → Unreal Z up
        np.testing.assert_allclose(root[:, 2], payload.root[:, 1] * 100, rtol=1e-5)


def test_byte_length_mismatch_is_detected_by_the_client_decoder() -> None:
    (msg,) = motion_messages("r", "j", 0, _payload(5), "smplh")
    msg["count"] = 6
    with pytest.raises(ValueError, match="byte lengths"):
        decode_motion_arrays(msg)


def test_null_optional_fields_take_their_defaults() -> None:
    job = validate_generate(
        parse_request({"op": "generate", "id": "n", "prompt": "walk", "seconds": None, "steps": None, "cfg": None}),
        LIMITS,
        MODEL,
    )
    assert (job.seconds, job.steps, job.cfg) == (5.0, 50, 5.0)
    with pytest.raises(RequestError):
        parse_request({"op": "generate", "id": None, "prompt": "walk"})


# ------------------------------------------------------------------------------------------ per-connection rules


def test_a_duplicate_id_in_flight_is_refused_and_free_again_once_finished():
    s = ready_session()
    job = object()
    s.check_new_request("a")
    s.started("a", job)
    with pytest.raises(RequestError) as refused:
        s.check_new_request("a")
    assert refused.value.code is ErrorCode.BAD_REQUEST and refused.value.request_id == "a"
    assert "already in flight" in refused.value.message
    s.finished("a", job)
    s.check_new_request("a")


def test_more_requests_than_max_inflight_are_busy_and_a_finished_one_makes_room():
    s = ready_session()
    jobs = {f"r{i}": object() for i in range(LIMITS.max_inflight)}
    for rid, job in jobs.items():
        s.check_new_request(rid)
        s.started(rid, job)
    with pytest.raises(RequestError) as busy:
        s.check_new_request("one-more")
    assert busy.value.code is ErrorCode.BUSY
    assert f"{LIMITS.max_inflight} requests already in flight" in busy.value.message
    s.finished("r0", jobs["r0"])
    s.check_new_request("one-more")


def test_cancel_of_an_unknown_or_finished_id_is_not_found_and_of_a_running_one_names_its_job():
    s = ready_session()
    with pytest.raises(RequestError) as unknown:
        s.job_to_cancel("never-sent")
    assert unknown.value.code is ErrorCode.NOT_FOUND and unknown.value.request_id == "never-sent"
    job = object()
    s.started("g", job)
    assert s.job_to_cancel("g") is job
    s.finished("g", job)
    with pytest.raises(RequestError):
        s.job_to_cancel("g")


def test_a_slot_is_freed_only_by_the_job_that_holds_it():
    s = ready_session()
    first, second = object(), object()
    s.started("x", first)
    s.finished("x", first)
    s.started("x", second)
    s.finished("x", first)  # a late release of the earlier job under the same id
    assert s.inflight == {"x": second}
