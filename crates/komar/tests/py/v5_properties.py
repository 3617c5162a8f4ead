"""PUBLISH properties end to end through paho-mqtt (run by
tests/v5_properties.rs): request/response, Response Information, Payload
Format Indicator and Content Type, User Properties in order, 0x99 for a
non-UTF-8 payload declared UTF-8, Reason Strings per Request Problem
Information, Message Expiry.
"""

import time

from komar_paho import *  # noqa: F401,F403


def case_request_response():
    svc = unique("svc")
    responder = Peer()
    responder.sub(svc, 1)
    requester = Peer(properties=props(PacketTypes.CONNECT, RequestResponseInformation=1))
    reply_to = requester.connack_props.ResponseInformation
    assert reply_to == f"response/{requester.id}", reply_to
    requester.sub(reply_to, 1)
    corr = b"\x00\x01korr\xff"
    requester.pub(svc, b"question", 1,
                  properties=props(PacketTypes.PUBLISH, ResponseTopic=reply_to, CorrelationData=corr))
    req = responder.wait_messages(1)[0]
    assert req.properties.ResponseTopic == reply_to
    assert req.properties.CorrelationData == corr
    responder.pub(req.properties.ResponseTopic, b"answer", 1,
                  properties=props(PacketTypes.PUBLISH, CorrelationData=req.properties.CorrelationData))
    resp = requester.wait_messages(1)[0]
    assert (resp.topic, resp.payload) == (reply_to, b"answer")
    assert resp.properties.CorrelationData == corr
    report("correlation", resp.properties.CorrelationData.hex())


def case_response_info(prefix):
    asked = Peer(properties=props(PacketTypes.CONNECT, RequestResponseInformation=1))
    info = getattr(asked.connack_props, "ResponseInformation", None)
    report("info", info)
    if prefix == "none":
        assert info is None, info
    else:
        assert info == f"{prefix}{asked.id}", info
    # Not asked for, not given.
    for p in [None, props(PacketTypes.CONNECT, RequestResponseInformation=0)]:
        c = Peer(properties=p)
        assert not hasattr(c.connack_props, "ResponseInformation")


def case_format_and_user_props():
    t = unique("fmt")
    s = Peer()
    s.sub(t, 1)
    users = [("a", "1"), ("b", "2"), ("a", "3"), ("ключ", "значение"), ("", "")]
    p = Peer()
    p.pub(t, b'{"x":1}', 1, properties=props(
        PacketTypes.PUBLISH, PayloadFormatIndicator=1, ContentType="application/json",
        UserProperty=users))
    p.pub(t, b"\xff\x00\xfe", 1, properties=props(
        PacketTypes.PUBLISH, PayloadFormatIndicator=0, ContentType="application/octet-stream"))
    a, b = s.wait_messages(2)
    assert (a.payload, a.properties.PayloadFormatIndicator, a.properties.ContentType) == \
        (b'{"x":1}', 1, "application/json")
    assert a.properties.UserProperty == users, a.properties.UserProperty
    assert (b.payload, b.properties.PayloadFormatIndicator, b.properties.ContentType) == \
        (b"\xff\x00\xfe", 0, "application/octet-stream")
    assert not hasattr(b.properties, "UserProperty")
    report("users", ",".join(f"{k}={v}" for k, v in a.properties.UserProperty))


def case_invalid_utf8():
    t = unique("pfi")
    s = Peer()
    s.sub(t, 1)
    p = Peer()
    acks = []
    for qos in (1, 2):
        rc, _ = p.pub(t, b"\xc3\x28", qos, properties=props(PacketTypes.PUBLISH, PayloadFormatIndicator=1))
        acks.append(f"{qos}:{rc}")
    report("acks", " ".join(acks))
    # QoS 2: paho ignores the reason code of PUBREC and sends PUBREL anyway;
    # the broker ended the exchange with PUBREC 0x99, so it answers that
    # PUBREL with PUBCOMP 0x92 (packet identifier not found), which is what
    # paho reports. The raw and rumqttc tests see the PUBREC 0x99 itself.
    assert acks == ["1:153", "2:146"], acks
    sentinel(t)
    assert s.until_sentinel(b"sentinel") == []


def case_reason_strings():
    t = unique("rs")
    out = []
    for name, value in [("default", None), ("1", 1), ("0", 0)]:
        cp = None if value is None else props(PacketTypes.CONNECT, RequestProblemInformation=value)
        p = Peer(properties=cp)
        # QoS 1 only: paho reports the PUBCOMP, not the PUBREC, of QoS 2.
        rc, ap = p.pub(t, b"\xff\xfe", 1, properties=props(PacketTypes.PUBLISH, PayloadFormatIndicator=1))
        assert rc == 0x99, rc
        out.append(f"{name}:{'yes' if hasattr(ap, 'ReasonString') else 'no'}")
    report("reason_string", " ".join(out))
    assert out == ["default:yes", "1:yes", "0:no"], out


def case_reason_string_size():
    """No Reason String that would break the client's Maximum Packet Size."""
    p = Peer(properties=props(PacketTypes.CONNECT, MaximumPacketSize=30))
    rc, ap = p.pub("rs/x", b"\xff", 1, properties=props(PacketTypes.PUBLISH, PayloadFormatIndicator=1))
    report("reason_string", "yes" if hasattr(ap, "ReasonString") else "no")
    assert rc == 0x99 and not hasattr(ap, "ReasonString"), (rc, ap)


def case_immediate_expiry():
    """Delivered at once, a message keeps its whole expiry interval."""
    t = unique("exp")
    s = Peer()
    s.sub(t, 1)
    Peer().pub(t, b"e", 1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=2))
    left = s.wait_messages(1)[0].properties.MessageExpiryInterval
    report("left", left)
    assert left == 2, left


def case_expiry():
    t = unique("exp")
    gone = unique("gone")
    # Live: the interval is passed on.
    s = Peer()
    s.sub(f"{t}/live", 1)
    Peer().pub(f"{t}/live", b"e", 1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=100))
    left = s.wait_messages(1)[0].properties.MessageExpiryInterval
    assert left == 100, left

    # An offline persistent session (its will proves the broker let go).
    watcher = Peer()
    watcher.sub(gone, 1)
    sid = unique("offline")
    session = props(PacketTypes.CONNECT, SessionExpiryInterval=60)
    off = Peer(sid, clean=False, properties=session, will={"topic": gone, "payload": b"offline", "qos": 1})
    off.sub(f"{t}/q/#", 1)
    off.abort()
    watcher.wait_messages(1, "the will of the offline session")

    p = Peer()
    for name, expiry in [("short", 1), ("long", 100), ("forever", None)]:
        pp = props(PacketTypes.PUBLISH, MessageExpiryInterval=expiry) if expiry else None
        p.pub(f"{t}/q/{name}", name.encode(), 1, properties=pp)
        p.pub(f"{t}/r/{name}", name.encode(), 1, retain=True, properties=pp)
    published = time.monotonic()
    # Let the 1 s expiry run out (the clock is the feature here).
    time.sleep(max(0.0, published + 2.1 - time.monotonic()))

    back = Peer(sid, clean=False, properties=session)
    assert back.connack[2], "session present"
    sentinel(f"{t}/q/end", b"end")
    got = back.until_sentinel(b"end")
    queued = [m.topic.rsplit("/", 1)[1] for m in got]
    report("queued", ",".join(queued))
    assert queued == ["long", "forever"], queued
    left = got[0].properties.MessageExpiryInterval
    assert 90 <= left <= 98, left
    assert not hasattr(got[1].properties, "MessageExpiryInterval")

    r = Peer()
    r.sub(f"{t}/r/#", 1)
    sentinel(f"{t}/r/end", b"end")
    got = r.until_sentinel(b"end")
    kept = [m.topic.rsplit("/", 1)[1] for m in got if m.topic.rsplit("/", 1)[1] != "forever"]
    report("retained", ",".join(kept))
    assert kept == ["long"], kept
    assert all(m.retain for m in got)


if __name__ == "__main__":
    run(globals())
