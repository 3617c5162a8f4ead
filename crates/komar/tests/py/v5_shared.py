"""Shared subscriptions through paho-mqtt (run by tests/v5_shared.rs):
strategies, 3.1.1 members, redistribution of a departed member's messages.

Each member also subscribes to a private end topic; a sentinel there proves
that everything routed to the member before it has arrived.
"""

from komar_paho import *  # noqa: F401,F403


class Member:
    def __init__(self, share, version=5, manual_ack=False, qos=1):
        self.p = Peer(version=version, manual_ack=manual_ack)
        assert self.p.sub(share, qos) == [qos], "SUBACK grants the QoS"
        self.end = unique("end")
        self.p.sub(self.end, 1)

    def drain(self, start=0):
        """Sequence numbers received from index `start` up to a sentinel."""
        sentinel(self.end, b"end")
        return [int(m.payload) for m in self.p.until_sentinel(b"end", start)]


def exactly_once(got, n):
    seen = sorted(s for g in got for s in g)
    assert seen == list(range(n)), f"not every message exactly once: {seen}"
    return [len(g) for g in got]


def publish_seq(topic, start, stop, version=5):
    p = Peer(version=version)
    for i in range(start, stop):
        rc, _ = p.pub(topic, str(i).encode(), 1)
        assert rc == 0, f"PUBACK {rc:#x}"
    p.close()


def case_strategy(name):
    n = 30 if name == "round_robin" else 60
    t = unique("t")
    group = [Member(f"$share/g/{t}") for _ in range(3)]
    publish_seq(t, 0, n)
    got = [m.drain() for m in group]
    counts = exactly_once(got, n)
    report("counts", ",".join(map(str, counts)))
    report("total", sum(counts))
    if name == "round_robin":
        assert counts == [10, 10, 10], counts
    else:
        assert all(c > 0 for c in counts), f"a member got nothing: {counts}"
        # Not round robin in disguise (a fair choice repeats with period 3
        # over 60 messages with chance 3^-57).
        member_of = {s: i for i, g in enumerate(got) for s in g}
        assert any(member_of[s] != member_of[s + 3] for s in range(n - 3)), \
            f"members chosen in a fixed cycle: {got}"


def case_big(n):
    """n QoS 1 messages over 3 members: exactly once, within 10 % each."""
    n = int(n)
    t = unique("big")
    group = [Member(f"$share/workers/{t}") for _ in range(3)]
    p = Peer()
    mids = [p.pub(t, str(i).encode(), 1, acked=False) for i in range(n)]
    wait(lambda: len(p.acks) >= n, f"{n} PUBACKs", timeout=30)
    assert all(p.acks[m][0] == 0 for m in mids)
    counts = exactly_once([m.drain() for m in group], n)
    report("counts", ",".join(map(str, counts)))
    assert all(abs(c - n / 3) <= n / 30 for c in counts), counts


def case_sticky():
    t = unique("t")
    group = [Member(f"$share/g/{t}") for _ in range(3)]
    for i in range(3):
        publish_seq(t, i * 10, i * 10 + 10)
    got = [m.drain() for m in group]
    exactly_once(got, 30)
    holders = [sum(1 for g in got if any(s // 10 == i for s in g)) for i in range(3)]
    report("holders", ",".join(map(str, holders)))
    assert holders == [1, 1, 1], f"a publisher's messages went to several members: {got}"


def case_mixed_members():
    t = unique("t")
    group = [Member(f"$share/g/{t}", version=4) for _ in range(2)]
    group.append(Member(f"$share/g/{t}", version=5))
    publish_seq(t, 0, 30, version=4)
    counts = exactly_once([m.drain() for m in group], 30)
    report("counts", ",".join(map(str, counts)))


def case_redistribute():
    t = unique("t")
    quitter = Member(f"$share/g/{t}", manual_ack=True)
    stayer = Member(f"$share/g/{t}")
    publish_seq(t, 0, 20)
    # The quitter never acknowledges its 10 and goes away without DISCONNECT.
    quitter.p.wait_messages(10)
    quitter.p.abort()
    stayer.p.wait_messages(20, "the departed member's messages at the other member")
    got = sorted(int(m.payload) for m in stayer.p.messages)
    assert got == list(range(20)), got
    assert stayer.drain(20) == [], "duplicates after redistribution"
    report("stayer", len(got))


if __name__ == "__main__":
    run(globals())
