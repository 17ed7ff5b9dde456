"""Broker URLs, topics and payload validation (pure: no broker needed)."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from bridge.mqtt.schema import (
    BadPayload,
    BrokerUrl,
    BrokerUrlError,
    JobRequest,
    MotionPayload,
    ResultReply,
    Topics,
    pack,
    unpack,
    unpack_reply,
)
from engine.core.motion import Motion


def test_broker_url_parses_scheme_credentials_port_and_prefix() -> None:
    url = BrokerUrl.parse("mqtts://anna:p%40ss%3Aw@broker.studio.lan:9883/studio/motion")
    assert (url.host, url.port, url.tls, url.prefix) == ("broker.studio.lan", 9883, True, "studio/motion")
    assert (url.username, url.password) == ("anna", "p@ss:w")
    assert "p@ss" not in url.redacted() and url.redacted() == "mqtts://anna:***@broker.studio.lan:9883/studio/motion"
    assert BrokerUrl.parse("mqtt://localhost") == BrokerUrl("localhost", 1883, "motionbridge")
    assert BrokerUrl.parse("mqtts://h").port == 8883
    assert BrokerUrl.parse("mqtts://h/p?ca=/etc/ca.pem").ca_file == "/etc/ca.pem"


@pytest.mark.parametrize(
    "bad",
    [
        "http://h",
        "h:1883",
        "mqtt://",
        "mqtt://h:99999",
        "mqtt://h/a/+/b",
        "mqtt://h/a//b",
        "mqtt://h/$SYS",
        "mqtt://h/#",
        "mqtt://h?ca=x",
        "mqtts://h?foo=1",
    ],
)
def test_unusable_broker_urls_raise_a_typed_error_that_shows_the_form(bad: str) -> None:
    with pytest.raises(BrokerUrlError):
        BrokerUrl.parse(bad)


def test_tls_context_verifies_the_broker_for_mqtts_only() -> None:
    import ssl

    assert BrokerUrl.parse("mqtt://h").tls_context() is None
    ctx = BrokerUrl.parse("mqtts://h").tls_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_topics_under_a_prefix() -> None:
    t = Topics("studio/a")
    assert t.status("w1") == "studio/a/nodes/w1/status" and t.events("j1") == "studio/a/jobs/j1/events"
    assert t.shared_requests("gpu") == "$share/gpu/studio/a/requests"
    assert t.replies("gw") == "studio/a/replies/gw/+" and t.cancel("j9") == "studio/a/cancel/j9"
    assert t.node_of_status("studio/a/nodes/w1/status") == "w1" and t.node_of_status("studio/a/jobs/x") is None


def test_motion_payload_round_trips_and_rejects_arrays_that_do_not_match() -> None:
    rng = np.random.default_rng(0)
    rot = rng.normal(size=(7, 22, 4)).astype(np.float32)
    m = Motion(root=rng.normal(size=(7, 3)).astype(np.float32), rotations=rot, seed=5, text="t", model="m")
    back = MotionPayload.from_motion(m).to_motion()
    np.testing.assert_array_equal(back.root, m.root)
    np.testing.assert_array_equal(back.rotations, m.rotations)
    assert (back.seed, back.text, back.model, back.joints) == (5, "t", "m", m.joints)
    broken = MotionPayload.from_motion(m).model_copy(update={"frames": 8})
    with pytest.raises(BadPayload, match="do not match"):
        broken.to_motion()


def test_request_and_reply_payloads_round_trip_and_bad_ones_raise_bad_payload() -> None:
    req = JobRequest(job="j1", gateway="gw", attempt=2, prompt="walk", seconds=3.0, samples=2, steps=10, cfg=4.0)
    assert unpack(pack(req), JobRequest) == req
    reply = unpack_reply(
        pack(
            ResultReply(
                job="j1",
                attempt=0,
                worker="w",
                motions=[MotionPayload(frames=1, fps=30, joints=["a"], root=b"\0" * 12, rotations=b"\0" * 16)],
            )
        )
    )
    assert isinstance(reply, ResultReply) and reply.motions[0].frames == 1
    for bad in [
        b"\x93\x01\x02",
        b"{",
        msgpack.packb({"v": 1, "job": "a b", "gateway": "g", "attempt": 0, "prompt": "p"}),
        msgpack.packb({"v": 1, "job": "j", "gateway": "g", "attempt": 0, "prompt": ""}),
    ]:
        with pytest.raises(BadPayload):
            unpack(bad, JobRequest)
    with pytest.raises(BadPayload):
        unpack_reply(msgpack.packb({"v": 1, "kind": "teleport", "job": "j", "attempt": 0, "worker": "w"}))
