#!/usr/bin/env python3
"""A SCRAM client for MQTT 5 enhanced authentication, written from RFC 5802
and RFC 7677 with Python's hashlib/hmac and raw MQTT 5 packets (§3.1, §3.15),
independent of Komar's code. Prints one line per outcome; the Rust test
checks them.

usage: client.py PORT MECHANISM USER PASSWORD [--reauth PASSWORD2] [--bad-method]
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def props(method, data):
    p = b"\x15" + utf8(method)
    if data is not None:
        p += b"\x16" + utf8(data)
    return varint(len(p)) + p


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id, method, data):
    body = utf8("MQTT") + bytes([5, 0x02]) + struct.pack(">H", 30)
    body += props(method, data) + utf8(client_id)
    return packet(0x10, body)


def auth(reason, method, data):
    return packet(0xF0, bytes([reason]) + props(method, data))


def read_packet(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    first = exact(1)[0]
    mult, length = 1, 0
    while True:
        b = exact(1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, exact(length)


def parse_props(buf):
    mult, n, i = 1, 0, 0
    while True:
        b = buf[i]
        i += 1
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    end, out = i + n, {}
    while i < end:
        pid = buf[i]
        i += 1
        if pid in (0x15, 0x16, 0x1F, 0x1C):
            (l,) = struct.unpack(">H", buf[i : i + 2])
            out[pid] = buf[i + 2 : i + 2 + l]
            i += 2 + l
        elif pid == 0x26:
            (l,) = struct.unpack(">H", buf[i : i + 2])
            i += 2 + l
            (l,) = struct.unpack(">H", buf[i : i + 2])
            i += 2 + l
        elif pid in (0x11, 0x27):
            i += 4
        elif pid in (0x21, 0x13, 0x22):
            i += 2
        else:
            i += 1
    return out


HASH = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}


def scram_final(mech, password, client_first_bare, server_first):
    h = HASH[mech]
    fields = dict(f.split("=", 1) for f in server_first.split(","))
    salt, iters, nonce = base64.b64decode(fields["s"]), int(fields["i"]), fields["r"]
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), salt, iters)
    client_key = hmac.new(salted, b"Client Key", h).digest()
    stored_key = h(client_key).digest()
    without_proof = "c=biws,r=" + nonce
    auth_message = ",".join([client_first_bare, server_first, without_proof])
    signature = hmac.new(stored_key, auth_message.encode(), h).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_key = hmac.new(salted, b"Server Key", h).digest()
    expected = "v=" + base64.b64encode(hmac.new(server_key, auth_message.encode(), h).digest()).decode()
    return without_proof + ",p=" + base64.b64encode(proof).decode(), expected


def exchange(sock, mech, user, password, first_packet):
    """Send the first packet (CONNECT or AUTH 0x19), answer the challenge.
    Returns (final packet type, reason code, server-final ok?)."""
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=" + user + ",r=" + cnonce
    sock.sendall(first_packet("n,," + bare))
    first, body = read_packet(sock)
    if first == 0x20:  # CONNACK right away: refused
        return "CONNACK", body[1], None
    if first == 0xE0:
        return "DISCONNECT", body[0] if body else 0, None
    assert first == 0xF0 and body[0] == 0x18, (first, body)
    server_first = parse_props(body[1:])[0x16].decode()
    final, expected = scram_final(mech, password, bare, server_first)
    sock.sendall(auth(0x18, mech, final))
    first, body = read_packet(sock)
    if first == 0x20:
        code, p = body[1], parse_props(body[2:])
        return "CONNACK", code, p.get(0x16, b"").decode() == expected if code == 0 else None
    if first == 0xF0:
        code, p = body[0], parse_props(body[1:])
        return "AUTH", code, p.get(0x16, b"").decode() == expected
    if first == 0xE0:
        return "DISCONNECT", body[0] if body else 0, None
    return "OTHER", first, None


def main():
    port, mech, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    args = sys.argv[5:]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if "--bad-method" in args:
        sock.sendall(connect("scram-test", "NOT-A-METHOD", b"x"))
        first, body = read_packet(sock)
        print("connack", hex(body[1]))
        return
    kind, code, verified = exchange(sock, mech, user, password, lambda d: connect("scram-" + user, mech, d.encode()))
    print("connect", kind, hex(code), "verified" if verified else "unverified")
    if kind != "CONNACK" or code != 0:
        return
    if "--reauth" in args:
        again = args[args.index("--reauth") + 1]
        kind, code, verified = exchange(sock, mech, user, again, lambda d: auth(0x19, mech, d.encode()))
        print("reauth", kind, hex(code), "verified" if verified else "unverified")


if __name__ == "__main__":
    main()
