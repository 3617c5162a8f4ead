"""Shared helpers of the paho-mqtt scripts that Komar's MQTT 5 integration
tests (crates/komar/tests/v5_*.rs) run.

paho-mqtt (Eclipse, 2.x) is a client library nobody on the Komar team wrote.
Every script takes ``--port N CASE [ARGS...]`` and runs the function
``case_<CASE>(*ARGS)``. A case passes by returning and fails by raising
(exit code 1, traceback on stderr). What it observed is printed as
``key=value`` lines, which the Rust test checks too.

All clients of a script are driven by one single-threaded loop over their
sockets (paho's "external event loop" API: loop_read / loop_write /
loop_misc), so callbacks run in a known order. Waiting is always for an
event with a deadline (``wait``), never a sleep.
"""

import argparse
import itertools
import os
import select
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

__all__ = [
    "PacketTypes",
    "Peer",
    "Properties",
    "SubscribeOptions",
    "pump",
    "props",
    "report",
    "sentinel",
    "run",
    "unique",
    "wait",
]

HOST = "127.0.0.1"
TIMEOUT = 10.0
PORT = 0

_ids = itertools.count()
_peers = []


def unique(prefix):
    """A name no other script or test uses at the same time."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def report(key, value):
    """Print one observation for the Rust test."""
    print(f"{key}={value}", flush=True)


def props(packet_type, **values):
    """MQTT 5 properties for `packet_type` (a PacketTypes constant)."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def pump(timeout=0.05):
    """Run every connected client's network I/O once (waiting at most
    `timeout` for a socket to become ready)."""
    socks = {}
    for peer in _peers:
        s = peer.c.socket()
        if s is not None:
            socks[s] = peer
    if not socks:
        return
    writers = [s for s, p in socks.items() if p.writing and p.c.want_write()]
    readable, writable, _ = select.select(list(socks), writers, [], timeout)
    for s in readable:
        if socks[s].c.socket() is s:
            socks[s].c.loop_read()
    for s in writable:
        if socks[s].c.socket() is s:
            socks[s].c.loop_write()
    for peer in list(_peers):
        if peer.c.socket() is not None:
            peer.c.loop_misc()


def wait(pred, what, timeout=TIMEOUT):
    """Drive all clients until `pred()` holds; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pump()


class Peer:
    """One paho client with everything it received recorded.

    messages: MQTTMessage objects in arrival order; connack: (reason,
    properties, session_present); disconnect: (from_server, reason,
    properties); subacks / acks: packet id -> (reason(s), properties).
    """

    def __init__(self, client_id=None, *, version=5, clean=True, properties=None,
                 will=None, manual_ack=False, keepalive=30, connect=True, expect=0):
        self.id = unique("paho") if client_id is None else client_id
        self.version = version
        self.clean = clean
        kwargs = {}
        if version == 5:
            kwargs["protocol"] = mqtt.MQTTv5
        else:
            kwargs["protocol"] = mqtt.MQTTv311
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.id,
                             manual_ack=manual_ack, **kwargs)
        # Let the broker, not paho, decide how much is in flight.
        self.c.max_queued_messages_set(0)
        self.writing = True
        self.messages = []
        self.connack = None
        self.connack_name = None
        self.disconnect = None
        self.subacks = {}
        self.acks = {}
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_publish = self._on_publish
        if will is not None:
            self.c.will_set(**will)
        _peers.append(self)
        if connect:
            self.connect(properties, keepalive, expect)

    def _on_connect(self, _c, _u, flags, reason, properties):
        self.connack = (reason.value, properties, flags.session_present)
        self.connack_name = reason.getName()

    def _on_disconnect(self, _c, _u, flags, reason, properties):
        if self.disconnect is None:
            self.disconnect = (flags.is_disconnect_packet_from_server, reason.value, properties)

    def _on_message(self, _c, _u, msg):
        self.messages.append(msg)

    def _on_subscribe(self, _c, _u, mid, reasons, properties):
        self.subacks[mid] = ([r.value for r in reasons], properties)

    def _on_publish(self, _c, _u, mid, reason, properties):
        self.acks[mid] = (reason.value, properties)

    def connect(self, properties=None, keepalive=30, expect=0):
        """Connect and wait for the CONNACK; its reason must be `expect`
        (None: any)."""
        if self.version == 5:
            self.c.connect(HOST, PORT, keepalive, clean_start=self.clean, properties=properties)
        else:
            self.c.connect(HOST, PORT, keepalive)
        wait(lambda: self.connack is not None, f"CONNACK for {self.id}")
        if expect is not None:
            assert self.connack[0] == expect, f"CONNACK {self.connack[0]:#x}, wanted {expect:#x}"
        return self.connack

    @property
    def connack_props(self):
        return self.connack[1]

    def sub(self, topic, qos=1, sub_id=None, **options):
        """Subscribe and wait for the SUBACK; returns its reason codes.
        `options`: noLocal, retainAsPublished, retainHandling (v5)."""
        if self.version == 5:
            p = props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=sub_id) if sub_id else None
            _, mid = self.c.subscribe(topic, options=SubscribeOptions(qos=qos, **options),
                                      properties=p)
        else:
            _, mid = self.c.subscribe(topic, qos)
        wait(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def pub(self, topic, payload, qos=1, retain=False, properties=None, acked=True):
        """Publish; for QoS 1/2 wait for the acknowledgement unless `acked`
        is false. Returns (reason, properties) of the PUBACK / PUBREC (or
        the mid when not waiting)."""
        info = self.c.publish(topic, payload, qos, retain, properties)
        if qos == 0 or not acked:
            return info.mid
        wait(lambda: info.mid in self.acks, f"acknowledgement of {topic}")
        return self.acks[info.mid]

    def flush(self):
        """Wait until the broker has handled what this client sent so far."""
        self.sub(unique("flush"), 0)

    def until_sentinel(self, sentinel, start=0):
        """Messages from index `start` before the one whose payload is
        `sentinel` (bytes); waits for the sentinel."""
        def seen():
            return any(m.payload == sentinel for m in self.messages[start:])
        wait(seen, f"sentinel {sentinel!r} at {self.id}")
        out = []
        for m in self.messages[start:]:
            if m.payload == sentinel:
                return out
            out.append(m)
        return out

    def wait_messages(self, n, what=None):
        """Wait until at least `n` messages arrived; returns them all."""
        wait(lambda: len(self.messages) >= n, what or f"{n} messages at {self.id}")
        return self.messages

    def wait_disconnect(self):
        """Wait until the connection ends; returns (from_server, reason, props)."""
        wait(lambda: self.disconnect is not None, f"disconnection of {self.id}")
        return self.disconnect

    def close(self):
        """A clean DISCONNECT."""
        self.c.disconnect()
        pump(0)
        self.forget()

    def abort(self):
        """Close the TCP connection without DISCONNECT."""
        s = self.c.socket()
        self.forget()
        if s is not None:
            s.close()

    def stop_writing(self):
        """Write what is queued, then send nothing more (packets paho
        produces afterwards, e.g. PUBREL, stay queued) while reading goes
        on: a write to a connection the broker closed would reset it before
        its last packets are read."""
        self.c.on_socket_register_write = lambda *_: None
        wait(self._written, f"queued packets of {self.id} written")
        self.writing = False

    def _written(self):
        if self.c.want_write():
            self.c.loop_write()
        return not self.c.want_write()

    def forget(self):
        if self in _peers:
            _peers.remove(self)


def sentinel(topic, payload=b"sentinel"):
    """Publish a QoS 1 sentinel from a fresh client (routed once acked)."""
    p = Peer()
    p.pub(topic, payload, 1)
    p.close()


def run(cases):
    """Parse the command line and run the case; `cases` is the script's
    globals()."""
    global PORT
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("case")
    parser.add_argument("args", nargs="*")
    a = parser.parse_args()
    PORT = a.port
    fn = cases.get(f"case_{a.case}")
    if fn is None:
        sys.exit(f"unknown case {a.case}")
    fn(*a.args)
    report("passed", a.case)
