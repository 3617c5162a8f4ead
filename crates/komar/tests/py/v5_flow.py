"""Topic aliases, Receive Maximum and Maximum Packet Size through
paho-mqtt (run by tests/v5_flow.rs).

paho leaves topic aliases to the application in both directions: it sends
the Topic Alias property as given (so it can break the broker's limit) and
hands over received PUBLISH packets as they are (an empty topic plus the
alias), which shows exactly what the broker put on the wire.
"""

from komar_paho import *  # noqa: F401,F403


def alias(n):
    return props(PacketTypes.PUBLISH, TopicAlias=n)


def case_alias_from_client():
    t = unique("ta")
    s = Peer()
    s.sub(f"{t}/#", 1)
    p = Peer()
    assert p.connack_props.TopicAliasMaximum == 10
    for topic in [f"{t}/x", "", "", f"{t}/y", ""]:
        rc, _ = p.pub(topic, b"m", 1, properties=alias(1))
        assert rc == 0, rc
    got = [m.topic.rsplit("/", 1)[1] for m in s.wait_messages(5)]
    report("topics", ",".join(got))
    assert got == ["x", "x", "x", "y", "y"], got


def case_alias_invalid(maximum):
    p = Peer()
    assert p.connack_props.TopicAliasMaximum == int(maximum)
    p.pub("t", b"m", 1, properties=alias(int(maximum) + 1), acked=False)
    from_server, reason, _ = p.wait_disconnect()
    assert from_server, "the broker sent DISCONNECT"
    report("disconnect", reason)


def case_alias_to_client():
    t = unique("tb")
    s = Peer(properties=props(PacketTypes.CONNECT, TopicAliasMaximum=2))
    s.sub(f"{t}/#", 1)
    p = Peer()
    order = ["a", "b", "c", "a", "b", "c", "a"]
    for name in order:
        p.pub(f"{t}/{name}", name.encode(), 1)
    wire = []
    for m in s.wait_messages(len(order)):
        tail = m.topic.rsplit("/", 1)[1] if m.topic else ""
        a = getattr(m.properties, "TopicAlias", None)
        wire.append(f"{tail}:{a if a else '-'}")
    report("wire", " ".join(wire))
    assert wire == ["a:1", "b:2", "c:-", ":1", ":2", "c:-", ":1"], wire
    # A client that announces no maximum gets no aliases.
    n = Peer()
    n.sub(f"{t}/#", 1)
    p.pub(f"{t}/a", b"a", 1)
    p.pub(f"{t}/a", b"a", 1)
    got = [(m.topic, hasattr(m.properties, "TopicAlias")) for m in n.wait_messages(2)]
    assert got == [(f"{t}/a", False)] * 2, got


def case_receive_max_to_client():
    n = 10
    t = unique("rm")
    s = Peer(manual_ack=True, properties=props(PacketTypes.CONNECT, ReceiveMaximum=3))
    s.sub(t, 1)
    p = Peer()
    for i in range(n):
        p.pub(t, str(i).encode(), 1)
    acked = 0
    most = 0
    while acked < n:
        s.wait_messages(min(acked + 3, n))
        # Two round trips: anything the broker would send is here by now.
        s.flush()
        s.flush()
        in_flight = len(s.messages) - acked
        most = max(most, in_flight)
        assert in_flight <= 3, f"{in_flight} in flight"
        s.c.ack(s.messages[acked].mid, 1)
        acked += 1
    assert [int(m.payload) for m in s.messages] == list(range(n))
    report("most_in_flight", most)


def case_receive_max_from_client():
    p = Peer(connect=False)
    # paho does not hold back for the broker's Receive Maximum (with no
    # limit of its own); written before any PUBREC is read, none of these
    # can be released.
    p.c.max_inflight_messages_set(0)
    p.connect()
    limit = p.connack_props.ReceiveMaximum
    assert limit == 20, limit
    for i in range(limit + 1):
        p.pub("rm/x", b"x", 2, acked=False)
    # Keep the PUBRELs for the PUBRECs to come unsent: after the broker
    # closes, a write would reset the connection before its DISCONNECT is
    # read.
    p.stop_writing()
    from_server, reason, _ = p.wait_disconnect()
    assert from_server
    report("disconnect", reason)


def case_max_packet_to_client():
    t = unique("mps")
    small = Peer(properties=props(PacketTypes.CONNECT, MaximumPacketSize=200))
    small.sub(f"{t}/#", 1)
    big = Peer()
    big.sub(f"{t}/#", 1)
    p = Peer()
    p.pub(f"{t}/large", b"x" * 1000, 1, retain=True)
    p.pub(f"{t}/small", b"fits", 1)
    sentinel(f"{t}/end", b"end")
    got = [m.topic.rsplit("/", 1)[1] for m in small.until_sentinel(b"end")]
    report("small_got", ",".join(got))
    assert got == ["small"], got
    assert len(big.until_sentinel(b"end")) == 2
    assert all(len(m.payload) <= 200 for m in small.messages)
    late = Peer(properties=props(PacketTypes.CONNECT, MaximumPacketSize=200))
    late.sub(f"{t}/#", 1)
    sentinel(f"{t}/end", b"end")
    assert late.until_sentinel(b"end") == [], "retained too large for the client"


def case_max_packet_from_client():
    p = Peer()
    assert p.connack_props.MaximumPacketSize == 1000
    rc, _ = p.pub("mps/x", b"x" * 900, 1)
    assert rc == 0x10, rc
    p.pub("mps/x", b"x" * 1000, 1, acked=False)
    from_server, reason, _ = p.wait_disconnect()
    assert from_server
    report("disconnect", reason)


if __name__ == "__main__":
    run(globals())
