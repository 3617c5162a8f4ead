"""Mixed protocol versions through paho-mqtt (run by tests/v5_mixed.rs):
a publisher of one version (MQTTv311 = 4, MQTTv5 = 5) and a subscriber of
the other, for QoS 2, retained messages and wills — exact counts, each
collection ended by a sentinel from the publisher's side. The sentinel is
QoS 2 too: paho hands a QoS 2 message over at PUBREL, so a QoS 1 sentinel
could overtake QoS 2 messages that arrived before it.
"""

from komar_paho import *  # noqa: F401,F403


def summary(m):
    return (m.topic, m.payload.decode(), m.qos, bool(m.retain), bool(m.dup))


def qos2(src, dst):
    t = unique("q2")
    s = Peer(version=dst)
    s.sub(f"{t}/#", 2)
    p = Peer(version=src)
    for i in range(200):
        rc, _ = p.pub(f"{t}/m", str(i).encode(), 2)
        assert rc in (0, 0x10), rc
    p.pub(f"{t}/end", b"sentinel", 2)
    got = [summary(m) for m in s.until_sentinel(b"sentinel")]
    assert got == [(f"{t}/m", str(i), 2, False, False) for i in range(200)], got[:5]
    report("qos2", len(got))


def retained(src, dst):
    t = unique("ret")
    p = Peer(version=src)
    for topic, payload, qos in [("a", "a1", 1), ("b", "b1", 2), ("c", "c1", 0),
                                ("d", "d1", 1), ("a", "a2", 2), ("d", "", 1)]:
        p.pub(f"{t}/{topic}", payload.encode(), qos, retain=True)
    p.flush()
    s = Peer(version=dst)
    s.sub(f"{t}/#", 2)
    p.pub(f"{t}/end", b"sentinel", 2)
    got = sorted(summary(m) for m in s.until_sentinel(b"sentinel"))
    want = [(f"{t}/a", "a2", 2, True, False), (f"{t}/b", "b1", 2, True, False),
            (f"{t}/c", "c1", 0, True, False)]
    assert got == want, got
    report("retained", " ".join(f"{m[0].rsplit('/', 1)[1]}={m[1]}/{m[2]}" for m in got))


def wills(src, dst):
    t = unique("will")
    s = Peer(version=dst)
    s.sub(f"{t}/#", 2)
    for name, retain in [("plain", False), ("kept", True)]:
        w = Peer(version=src, will={"topic": f"{t}/{name}", "payload": name.encode(),
                                    "qos": 2, "retain": retain})
        w.abort()
    s.wait_messages(2, "both wills")
    Peer(version=src).pub(f"{t}/end", b"sentinel", 2)
    got = sorted(summary(m) for m in s.until_sentinel(b"sentinel"))
    assert got == [(f"{t}/kept", "kept", 2, False, False),
                   (f"{t}/plain", "plain", 2, False, False)], got
    late = Peer(version=dst)
    late.sub(f"{t}/#", 2)
    Peer(version=src).pub(f"{t}/end", b"sentinel", 2)
    kept = [summary(m) for m in late.until_sentinel(b"sentinel")]
    assert kept == [(f"{t}/kept", "kept", 2, True, False)], kept
    report("wills", " ".join(f"{m[0].rsplit('/', 1)[1]}/{m[2]}" for m in got) + " retained:kept")


def case_all(src, dst):
    src, dst = int(src), int(dst)
    qos2(src, dst)
    retained(src, dst)
    wills(src, dst)


if __name__ == "__main__":
    run(globals())
