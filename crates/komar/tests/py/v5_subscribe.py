"""Subscription identifiers and subscription options through paho-mqtt
(run by tests/v5_subscribe.rs)."""

from komar_paho import *  # noqa: F401,F403


def sub_ids(m):
    return sorted(getattr(m.properties, "SubscriptionIdentifier", []))


def case_sub_ids():
    t = unique("sid")
    c = Peer()
    p = Peer()
    # 0x10: no matching subscribers (yet), the message is retained all the same.
    assert p.pub(f"{t}/kept", b"kept", 1, retain=True)[0] == 0x10
    c.sub(f"{t}/+", 0, sub_id=1)
    kept = c.wait_messages(1)[0]
    assert (kept.payload, sub_ids(kept)) == (b"kept", [1]), (kept.payload, sub_ids(kept))
    c.sub(f"{t}/#", 1, sub_id=2)
    assert sub_ids(c.wait_messages(2)[1]) == [2]
    c.sub(f"{t}/a", 0)  # no identifier: adds none
    start = len(c.messages)
    for topic in ["a", "b", "x/y"]:
        p.pub(f"{t}/{topic}", topic.encode(), 1)
    sentinel(f"{t}/x/end", b"end")
    got = c.until_sentinel(b"end", start)
    seen = [(m.topic[len(t) + 1:], sub_ids(m), m.qos) for m in got]
    # One copy each, at the highest granted QoS, with every identifier.
    assert seen == [("a", [1, 2], 1), ("b", [1, 2], 1), ("x/y", [2], 1)], seen
    report("ids", " ".join(f"{s[0]}:{'+'.join(map(str, s[1]))}" for s in seen))
    # A new identifier replaces the old one for the same filter.
    start = len(c.messages)
    c.sub(f"{t}/+", 0, sub_id=7)
    p.pub(f"{t}/b", b"b", 1)
    got = [(m.payload, sub_ids(m)) for m in c.wait_messages(start + 2)[start:]]
    assert got == [(b"kept", [7]), (b"b", [2, 7])], got


def case_no_local():
    t = unique("nl")
    c = Peer()
    c.sub(f"{t}/local", 1, noLocal=True)
    c.sub(f"{t}/plain", 1)
    c.pub(f"{t}/local", b"own-local", 1)
    c.pub(f"{t}/plain", b"own-plain", 1)
    sentinel(f"{t}/local", b"other")
    got = [m.payload.decode() for m in c.until_sentinel(b"other")]
    report("got", ",".join(got))
    assert got == ["own-plain"], got


def case_retain_as_published():
    t = unique("rap")
    keep = Peer()
    keep.sub(t, 1, retainAsPublished=True)
    clear = Peer()
    clear.sub(t, 1)
    p = Peer()
    p.pub(t, b"live", 1, retain=True)
    p.pub(t, b"plain", 1)
    flags = []
    for name, peer, want in [("keep", keep, 1), ("clear", clear, 0)]:
        got = [(m.payload, m.retain) for m in peer.wait_messages(2)]
        assert got == [(b"live", want), (b"plain", 0)], (name, got)
        flags.append(f"{name}:{want}")
    late = Peer()
    late.sub(t, 1)
    m = late.wait_messages(1)[0]
    assert (m.payload, m.retain) == (b"live", 1)
    flags.append("late:1")
    report("flags", " ".join(flags))


def case_retain_handling():
    t = unique("rh")
    Peer().pub(t, b"kept", 1, retain=True)
    out = []
    for rh, want in [(0, [1, 1]), (1, [1, 0]), (2, [0, 0])]:
        c = Peer()
        counts = []
        for _ in range(2):
            start = len(c.messages)
            c.sub(t, 1, retainHandling=rh)
            sentinel(t, b"sentinel")
            got = c.until_sentinel(b"sentinel", start)
            assert all(m.payload == b"kept" and m.retain for m in got), got
            counts.append(len(got))
        assert counts == want, (rh, counts)
        out.append(f"{rh}:{counts[0]},{counts[1]}")
    report("counts", " ".join(out))


if __name__ == "__main__":
    run(globals())
