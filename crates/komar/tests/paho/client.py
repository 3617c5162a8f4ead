#!/usr/bin/env python3
"""A paho-mqtt client for Komar's integration tests (a client nobody on
the team wrote). Connects over TCP or WebSockets, optionally with TLS and a
client certificate, then either subscribes and prints what arrives
(`SUBSCRIBED` first, then `topic payload` per message, exiting after
--count messages) or publishes one message at QoS 1 and exits. Any failure
prints a line starting with `ERROR` and exits non-zero."""
import argparse
import sys
import threading

import paho.mqtt.client as mqtt

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, required=True)
p.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
p.add_argument("--path", default="/mqtt")
p.add_argument("--cafile")
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--sub")
p.add_argument("--count", type=int, default=1)
p.add_argument("--pub", nargs=2, metavar=("TOPIC", "PAYLOAD"))
p.add_argument("--timeout", type=float, default=10.0)
a = p.parse_args()

client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport=a.transport)
if a.transport == "websockets":
    client.ws_set_options(path=a.path)
if a.cafile:
    client.tls_set(ca_certs=a.cafile, certfile=a.cert, keyfile=a.key)

done = threading.Event()
state = {"received": 0, "error": None}


def fail(text):
    state["error"] = text
    done.set()


def on_connect(c, userdata, flags, reason, props):
    if reason.is_failure:
        fail(f"CONNACK {reason}")
        return
    if a.sub:
        c.subscribe(a.sub, qos=1)
    elif a.pub:
        info = c.publish(a.pub[0], a.pub[1], qos=1)
        threading.Thread(target=lambda: (info.wait_for_publish(a.timeout), done.set())).start()


def on_subscribe(c, userdata, mid, reasons, props):
    if any(r.is_failure for r in reasons):
        fail(f"SUBACK {reasons}")
        return
    print("SUBSCRIBED", flush=True)


def on_message(c, userdata, msg):
    print(msg.topic, msg.payload.decode(errors="replace"), flush=True)
    state["received"] += 1
    if state["received"] >= a.count:
        done.set()


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
try:
    client.connect(a.host, a.port, keepalive=30)
except Exception as e:  # noqa: BLE001 - report any connect failure
    print(f"ERROR connect: {e}", flush=True)
    sys.exit(2)
client.loop_start()
ok = done.wait(a.timeout)
client.disconnect()
client.loop_stop()
if state["error"]:
    print(f"ERROR {state['error']}", flush=True)
    sys.exit(1)
if not ok:
    print("ERROR timeout", flush=True)
    sys.exit(1)
