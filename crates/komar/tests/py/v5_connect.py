"""Connection-level MQTT 5 features through paho-mqtt (run by
tests/v5_connect.rs): CONNACK properties, Assigned Client Identifier,
Session Expiry changed on DISCONNECT, Will Delay Interval, server
DISCONNECT (shutdown, take-over, redirect) and CONNACK redirection.
"""

import time

from komar_paho import *  # noqa: F401,F403


def present_props(p):
    names = [n.replace(" ", "") for n in p.names]
    return sorted(n for n in names if hasattr(p, n))


def case_await_disconnect():
    """Connect, say so, and report the server's DISCONNECT."""
    p = Peer()
    report("ready", 1)
    from_server, reason, dp = p.wait_disconnect()
    assert from_server, "a DISCONNECT packet from the server"
    report("disconnect", reason)
    report("reference", getattr(dp, "ServerReference", None))


def case_take_over():
    cid = unique("dup")
    first = Peer(cid)
    Peer(cid)
    from_server, reason, _ = first.wait_disconnect()
    assert from_server
    report("disconnect", reason)


def case_redirected():
    p = Peer(expect=None)
    report("connack", p.connack[0])
    report("reference", getattr(p.connack_props, "ServerReference", None))
    old = Peer(version=4, expect=None)
    # paho turns 3.1.1 return codes into reason codes; only return code 3
    # becomes "Server unavailable".
    assert old.connack_name == "Server unavailable", old.connack_name
    report("connack311", 3)


def case_connack_default():
    p = Peer()
    got = present_props(p.connack_props)
    report("present", ",".join(got))
    assert p.connack_props.TopicAliasMaximum == 10
    assert p.connack_props.ReceiveMaximum == 20


def case_connack_configured():
    p = Peer(keepalive=30)
    cp = p.connack_props
    limits = (f"retain={cp.RetainAvailable} qos={cp.MaximumQoS} "
              f"alias={cp.TopicAliasMaximum} keepalive={cp.ServerKeepAlive}")
    report("limits", limits)
    refused = []
    for name, qos, retain in [("retain", 1, True), ("qos2", 2, False)]:
        c = Peer()
        c.pub("mq/x", b"x", qos, retain=retain, acked=False)
        from_server, reason, _ = c.wait_disconnect()
        assert from_server
        refused.append(f"{name}={reason}")
    report("refused", " ".join(refused))


def case_will_limits():
    """A will the server cannot honour is refused in CONNACK."""
    got = []
    for name, qos, retain in [("retain", 1, True), ("qos2", 2, False)]:
        p = Peer(will={"topic": "w", "payload": b"w", "qos": qos, "retain": retain}, expect=None)
        got.append(f"{name}={p.connack[0]}")
    report("connack", " ".join(got))
    assert got == ["retain=154", "qos2=155"], got


def case_assigned_id():
    expiry = props(PacketTypes.CONNECT, SessionExpiryInterval=60)
    p = Peer("", properties=expiry)
    assigned = p.connack_props.AssignedClientIdentifier
    assert assigned.startswith("auto-"), assigned
    p.close()
    again = Peer(assigned, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60))
    assert not hasattr(again.connack_props, "AssignedClientIdentifier")
    report("session_present", again.connack[2])


def wait_unsubscribed(topic):
    """Wait until nobody subscribes to `topic`: QoS 1 probes until the
    PUBACK says 0x10 (no matching subscribers)."""
    probe = Peer()
    wait(lambda: probe.pub(topic, b"probe", 1)[0] == 0x10, f"{topic} unsubscribed")
    probe.close()


def disconnect_with_expiry(p, expiry):
    p.c.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=expiry))
    p.wait_disconnect()
    p.forget()


def session_present(cid):
    back = Peer(cid, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60))
    back.close()
    return back.connack[2]


def case_session_expiry():
    # 0 -> 30 is a Protocol Error: not a valid DISCONNECT, so the will goes
    # out and no session is kept. (paho closes at once after its
    # DISCONNECT, so the server's 0x82 is checked by the raw test.)
    will_topic = unique("will")
    watcher = Peer()
    watcher.sub(will_topic, 1)
    cid = unique("zero")
    p = Peer(cid, will={"topic": will_topic, "payload": b"bye", "qos": 1})
    disconnect_with_expiry(p, 30)
    will = watcher.wait_messages(1)[0].payload.decode()
    report("zero_to_nonzero", f"will={will} present={session_present(cid)}")

    # 60 -> 0: the session ends at once (its subscription goes with it).
    cid = unique("sixty")
    own = unique("own")
    p = Peer(cid, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60))
    p.sub(own, 1)
    disconnect_with_expiry(p, 0)
    wait_unsubscribed(own)
    report("sixty_to_zero", f"present={session_present(cid)}")

    # 1 -> 60: still there after the first second.
    cid = unique("one")
    p = Peer(cid, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=1))
    disconnect_with_expiry(p, 60)
    left = time.monotonic()
    time.sleep(max(0.0, left + 2.0 - time.monotonic()))  # the old 1 s expiry passes
    report("one_to_sixty", f"present={session_present(cid)}")


def will_client(cid, delay, expiry, payload, topic):
    wp = props(PacketTypes.WILLMESSAGE, WillDelayInterval=delay)
    return Peer(cid, clean=False, properties=props(PacketTypes.CONNECT, SessionExpiryInterval=expiry),
                will={"topic": topic, "payload": payload, "qos": 1, "properties": wp})


def case_will_delay():
    """Delay 1 s: no sooner; delay 100 s with session expiry 1 s: at the
    session's end; reconnected within the delay: never. Side by side."""
    watchers = []
    for _ in range(3):
        w = Peer()
        w.topic = unique("will")
        w.sub(w.topic, 1)
        watchers.append(w)
    wa, wb, wc = watchers
    a = will_client(unique("a"), 1, 60, b"delayed", wa.topic)
    b = will_client(unique("b"), 100, 1, b"session-end", wb.topic)
    cid = unique("c")
    c = will_client(cid, 1, 60, b"cancelled", wc.topic)
    lost = time.monotonic()
    for peer in (a, b, c):
        peer.abort()
    back = will_client(cid, 1, 60, b"cancelled", wc.topic)
    assert back.connack[2], "session present"
    assert time.monotonic() - lost < 0.9, "reconnected too late for the test"

    # paho stamps each message with time.monotonic() on arrival.
    for w, payload, low, high in [(wa, b"delayed", 0.95, 5), (wb, b"session-end", 0.95, 5)]:
        m = w.wait_messages(1)[0]
        after = m.timestamp - lost
        assert m.payload == payload and low <= after < high, (m.payload, after)

    time.sleep(max(0.0, lost + 1.5 - time.monotonic()))  # past the delay
    sentinel(wc.topic)
    m = wc.wait_messages(1)[0]
    report("next_after_cancel", m.payload.decode())
    assert m.payload == b"sentinel", m.payload


def case_will_expiry():
    """A delayed will's expiry counts from its publication."""
    topic = unique("will")
    watcher = Peer()
    watcher.sub(topic, 1)
    wp = props(PacketTypes.WILLMESSAGE, WillDelayInterval=1, MessageExpiryInterval=1)
    c = Peer(properties=props(PacketTypes.CONNECT, SessionExpiryInterval=60),
             will={"topic": topic, "payload": b"expiring", "qos": 1, "properties": wp})
    lost = time.monotonic()
    c.abort()
    time.sleep(max(0.0, lost + 1.5 - time.monotonic()))  # past the delay
    sentinel(topic)
    m = watcher.wait_messages(1)[0]
    report("first", m.payload.decode())
    assert m.payload == b"expiring", "the will was dropped as expired"
    assert m.properties.MessageExpiryInterval == 1


if __name__ == "__main__":
    run(globals())
