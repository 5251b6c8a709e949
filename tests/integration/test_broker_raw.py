#!/usr/bin/python3
"""Byte-level checks of mqgate's broker over raw TCP sockets: exact CONNACK,
SUBACK and QoS 2 bytes, and what happens to clients that break the protocol
(each is cut off, the broker keeps serving others). Starts `mqgate broker -p 0`
itself (MQGATE=path), reads the port from its log, stops it by PID, and
bounds every wait. Standard library only: run with /usr/bin/python3."""

import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

MQGATE = os.environ.get("MQGATE", "build/mqgate")
checks = 0
fails = 0


def check(what, cond, detail=""):
    global checks, fails
    checks += 1
    if not cond:
        fails += 1
        print(f"FAIL: {what} {detail}")


def varint(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id, version=4, clean=True, keepalive=60, props=b""):
    flags = 0x02 if clean else 0
    body = string("MQTT") + bytes([version, flags]) + struct.pack(">H", keepalive)
    if version == 5:
        body += varint(len(props)) + props
    body += string(client_id)
    return packet(0x10, body)


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_packet(self, timeout=3.0):
        """One whole packet (bytes), or None when the connection closed."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                mult, size, i = 1, 0, 1
                while i < len(self.buf):
                    size += (self.buf[i] & 0x7F) * mult
                    mult *= 128
                    if not self.buf[i] & 0x80:
                        break
                    i += 1
                if i < len(self.buf) and len(self.buf) >= i + 1 + size:
                    pkt, self.buf = self.buf[: i + 1 + size], self.buf[i + 1 + size:]
                    return pkt
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no packet in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def closed_within(self, timeout=3.0):
        """True when the broker closes the connection (after any packets)."""
        try:
            while True:
                if self.read_packet(timeout) is None:
                    return True
        except TimeoutError:
            return False

    def close(self):
        self.sock.close()


def start_broker():
    proc = subprocess.Popen([MQGATE, "broker", "-p", "0"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    sys.exit("broker did not start")


def session(port, cid, version=4, **kw):
    c = Client(port)
    c.send(connect(cid, version, **kw))
    ack = c.read_packet()
    return c, ack


def main():
    proc, port = start_broker()
    try:
        run(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -1
        err = proc.stderr.read()
        check("broker exits 0 after the tests", rc == 0, f"(rc {rc})")
        check("no sanitizer report", "Sanitizer" not in err and "runtime error" not in err, err[-2000:])
    print(f"raw: {checks} checks, {fails} failed")
    sys.exit(1 if fails else 0)


def run(port):
    # CONNACK bytes
    c, ack = session(port, "raw-311")
    check("3.1.1 CONNACK is 20 02 00 00", ack == b"\x20\x02\x00\x00", ack)
    c.send(b"\xc0\x00")
    check("PINGRESP is d0 00", c.read_packet() == b"\xd0\x00")

    # SUBSCRIBE → SUBACK, then QoS 2 in both directions
    c.send(packet(0x82, struct.pack(">H", 1) + string("raw/q2") + b"\x02"))
    check("SUBACK grants QoS 2", c.read_packet() == b"\x90\x03\x00\x01\x02")
    p, _ = session(port, "raw-pub")
    p.send(packet(0x34, string("raw/q2") + struct.pack(">H", 7) + b"payload"))
    check("PUBREC for QoS 2", p.read_packet() == b"\x50\x02\x00\x07")
    p.send(b"\x62\x02\x00\x07")
    check("PUBCOMP after PUBREL", p.read_packet() == b"\x70\x02\x00\x07")
    got = c.read_packet()
    check("QoS 2 delivered once with its packet id",
          got is not None and got[0] == 0x34 and got.endswith(b"payload"), got)
    pid = got[2 + 2 + len("raw/q2"): 2 + 2 + len("raw/q2") + 2] if got else b"\x00\x01"
    c.send(b"\x50\x02" + pid)
    check("PUBREL from the broker", c.read_packet() == b"\x62\x02" + pid)
    c.send(b"\x70\x02" + pid)
    # A duplicate QoS 2 PUBLISH (same id, before PUBREL) is acknowledged, not redelivered
    p.send(packet(0x34, string("raw/q2") + struct.pack(">H", 9) + b"once"))
    p.read_packet()
    p.send(packet(0x3C, string("raw/q2") + struct.pack(">H", 9) + b"once"))
    check("duplicate QoS 2 PUBLISH gets PUBREC again", p.read_packet() == b"\x50\x02\x00\x09")
    got = c.read_packet()
    check("first copy delivered", got is not None and got.endswith(b"once"))
    try:
        extra = c.read_packet(timeout=0.5)
    except TimeoutError:
        extra = None
    check("duplicate not delivered again", extra is None or not extra.endswith(b"once"), extra)
    c.close()
    p.close()

    # 3.1.1: empty client id with a persistent session is refused (0x02)
    c, ack = session(port, "", clean=False)
    check("3.1.1 empty id without clean session: CONNACK 0x02", ack == b"\x20\x02\x00\x02", ack)
    check("... and the connection closes", c.closed_within())

    # Unsupported protocol level: CONNACK 0x01 in 3.1.1 form
    c = Client(port)
    c.send(connect("old", version=3))
    ack = c.read_packet()
    check("protocol level 3: CONNACK 0x01", ack == b"\x20\x02\x00\x01", ack)
    check("... then closed", c.closed_within())

    # v5: assigned client id and limits in CONNACK
    c, ack = session(port, "", version=5)
    check("v5 CONNACK success", ack is not None and ack[0] == 0x20 and ack[3] == 0x00, ack)
    check("v5 CONNACK carries an assigned client id (0x12)", ack is not None and b"\x12\x00" in ack, ack)
    c.close()

    # Protocol violations: each is cut off
    bad = {
        "first packet not CONNECT": b"\xc0\x00",
        "5-byte remaining length": b"\x10\xff\xff\xff\xff\x7f",
        "reserved CONNECT flag": packet(0x10, string("MQTT") + b"\x04\x03\x00\x3c" + string("x")),
    }
    for what, data in bad.items():
        c = Client(port)
        c.send(data)
        check(f"{what}: connection closed", c.closed_within())
    for what, data in {
        "QoS 3 PUBLISH": packet(0x36, string("a") + b"\x00\x01x"),
        "SUBSCRIBE with flags 0000": packet(0x80, b"\x00\x01" + string("a") + b"\x00"),
        "second CONNECT": connect("again"),
        "wildcard in a PUBLISH topic": packet(0x30, string("a/+")),
        "packet over max_packet_size": b"\x30\x80\x80\x80\x01",
    }.items():
        c, _ = session(port, "bad-" + what.replace(" ", "-"))
        c.send(data)
        check(f"{what}: connection closed", c.closed_within())

    # v5: a violation gets DISCONNECT with a reason code first
    c, _ = session(port, "v5-bad", version=5)
    c.send(connect("again", version=5))
    d = c.read_packet()
    check("v5 second CONNECT: DISCONNECT 0x82", d is not None and d[0] == 0xE0 and d[2] == 0x82, d)

    # Keep alive: 1 s asked, nothing sent, closed within 1.5 s (+ slack)
    c, _ = session(port, "sleepy", keepalive=1)
    t0 = time.monotonic()
    closed = c.closed_within(4)
    took = time.monotonic() - t0
    check("keep alive 1 s: closed", closed)
    check("... after about 1.5 s", 1.2 <= took <= 3.0, f"({took:.2f} s)")

    # Session takeover: the old connection is closed, v5 with 0x8E
    old, _ = session(port, "taken", version=5)
    new, ack = session(port, "taken", version=5)
    d = old.read_packet()
    check("takeover: old v5 connection gets DISCONNECT 0x8E", d is not None and d[0] == 0xE0 and d[2] == 0x8E, d)
    check("takeover: new connection accepted", ack is not None and ack[3] == 0)

    backpressure(port)
    qos2_across_reconnect(port)
    v5_options(port)

    # $SYS: the version is retained from the start; figures follow
    c, _ = session(port, "sys-reader")
    c.send(packet(0x82, struct.pack(">H", 2) + string("$SYS/broker/#") + b"\x00"))
    c.read_packet()
    retained = []
    try:
        for _ in range(20):
            p = c.read_packet(timeout=1)
            if p is None:
                break
            retained.append(p)
    except TimeoutError:
        pass
    check("$SYS/broker/version is retained",
          any(b"$SYS/broker/version" in p and b"mqgate" in p for p in retained), retained[:3])
    check("$SYS/broker/clients/connected is published",
          any(b"$SYS/broker/clients/connected" in p for p in retained))
    c.close()

    garbage(port)

    # The broker still serves well-behaved clients after all that
    c, ack = session(port, "still-fine")
    check("broker still accepts clients", ack == b"\x20\x02\x00\x00", ack)


def garbage(port, connections=300):
    """Mutated packet streams from many connections (bytes flipped, cut,
    repeated; random lengths): each may be refused or cut off, none may bring
    the broker down (the sanitized build reports any memory error at exit)."""
    rnd = random.Random(20261125)
    seeds = [
        connect("g", 4) + packet(0x82, b"\x00\x01" + string("g/#") + b"\x01")
        + packet(0x32, string("g/t") + b"\x00\x02x") + b"\xc0\x00",
        connect("g5", 5, props=b"\x11\x00\x00\x00\x3c\x22\x00\x05")
        + packet(0x82, b"\x00\x01\x00" + string("$share/a/g/#") + b"\x2e")
        + packet(0x34, string("g/t") + b"\x00\x03\x05\x02\x00\x00\x00\x01" + b"y")
        + b"\x62\x02\x00\x03" + packet(0xE0, b"\x04\x00"),
    ]
    for i in range(connections):
        data = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 6)):
            if not data:
                break
            op = rnd.randrange(4)
            at = rnd.randrange(len(data))
            if op == 0:
                data[at] = rnd.randrange(256)
            elif op == 1:
                del data[at:at + rnd.randint(1, 8)]
            elif op == 2:
                data[at:at] = data[at:at + rnd.randint(1, 16)]
            elif len(data) > 2:
                data = data[:at] if at else data
        try:
            c = Client(port)
            c.send(bytes(data))
            c.sock.settimeout(0.05)
            try:
                c.sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
            c.close()
        except OSError:
            pass
    probe, ack = session(port, "after-garbage")
    check(f"broker alive after {connections} mutated connections", ack == b"\x20\x02\x00\x00", ack)
    probe.close()


def v5_options(port):
    """Topic aliases both ways, no-local, retain handling, retain as published."""
    # Outbound aliases: the client accepts 5 (property 0x22)
    sub, ack = session(port, "alias-sub", version=5, props=b"\x22\x00\x05")
    sub.send(packet(0x82, struct.pack(">H", 1) + b"\x00" + string("al/t") + b"\x00"))
    sub.read_packet()
    pub, _ = session(port, "alias-pub", version=5)
    # Inbound aliases: set alias 1 with the topic, then use it with an empty topic
    pub.send(packet(0x30, string("al/t") + b"\x03\x23\x00\x01" + b"one"))
    pub.send(packet(0x30, string("") + b"\x03\x23\x00\x01" + b"two"))
    first, second = sub.read_packet(), sub.read_packet()
    check("v5 outbound alias: the first PUBLISH carries topic and alias 1",
          first == b"\x30\x0d" + string("al/t") + b"\x03\x23\x00\x01" + b"one", first)
    check("v5 outbound alias: the second carries only the alias (inbound alias resolved)",
          second == b"\x30\x09" + string("") + b"\x03\x23\x00\x01" + b"two", second)
    pub.send(packet(0x30, string("") + b"\x03\x23\x00\x0b" + b"bad"))
    d = pub.read_packet()
    check("v5 alias above the maximum: DISCONNECT 0x94", d is not None and d[0] == 0xE0 and d[2] == 0x94, d)
    sub.close()

    # No local: a client subscribed with no-local does not get its own message
    c, _ = session(port, "nolocal", version=5)
    c.send(packet(0x82, struct.pack(">H", 1) + b"\x00" + string("nl/t") + b"\x04"))
    c.read_packet()
    c.send(packet(0x30, string("nl/t") + b"\x00" + b"mine"))
    other, _ = session(port, "nolocal-other", version=5)
    other.send(packet(0x30, string("nl/t") + b"\x00" + b"theirs"))
    got = c.read_packet()
    check("v5 no-local: own message not delivered, another client's is", got is not None and got.endswith(b"theirs"), got)
    c.close()
    other.close()

    # Retain handling 2: no retained message at subscribe; 0: retained sent;
    # retain as published keeps RETAIN on a live message, without it it is cleared
    p, _ = session(port, "rh-pub", version=5)
    p.send(packet(0x31, string("rh/t") + b"\x00" + b"kept"))
    time.sleep(0.2)
    s2, _ = session(port, "rh2", version=5)
    s2.send(packet(0x82, struct.pack(">H", 1) + b"\x00" + string("rh/t") + b"\x20"))
    s2.read_packet()
    try:
        extra = s2.read_packet(timeout=0.5)
    except TimeoutError:
        extra = None
    check("v5 retain handling 2: no retained message", extra is None, extra)
    s0, _ = session(port, "rh0", version=5)
    s0.send(packet(0x82, struct.pack(">H", 1) + b"\x00" + string("rh/t") + b"\x08"))  # RAP
    s0.read_packet()
    got = s0.read_packet()
    check("v5 retain handling 0: retained message with RETAIN set", got is not None and got[0] == 0x31, got)
    p.send(packet(0x31, string("rh/t") + b"\x00" + b"live"))
    live_rap, live_plain = s0.read_packet(), s2.read_packet()
    check("v5 retain as published: RETAIN kept", live_rap is not None and live_rap[0] == 0x31, live_rap)
    check("v5 without retain as published: RETAIN cleared", live_plain is not None and live_plain[0] == 0x30, live_plain)
    p.send(packet(0x31, string("rh/t") + b"\x00"))  # clear the retained message
    for x in (p, s0, s2):
        x.close()


def qos2_across_reconnect(port):
    """QoS 2 exactly once when either side reconnects in the middle of a flow."""
    sub, _ = session(port, "q2-sub", clean=False)
    sub.send(packet(0x82, struct.pack(">H", 1) + string("q2r/t") + b"\x02"))
    sub.read_packet()
    pub, _ = session(port, "q2-pub", clean=False)
    pub.send(packet(0x34, string("q2r/t") + b"\x00\x05" + b"exactly-once"))
    check("q2 reconnect: PUBREC", pub.read_packet() == b"\x50\x02\x00\x05")
    pub.close()  # gone before PUBREL
    first = sub.read_packet()
    check("q2 reconnect: subscriber gets the message", first is not None and first.endswith(b"exactly-once"))
    sub.close()  # gone before PUBREC
    # The publisher comes back and resends with DUP: acknowledged, not redelivered.
    pub, ack = session(port, "q2-pub", clean=False)
    check("q2 reconnect: publisher's session is present", ack == b"\x20\x02\x01\x00", ack)
    pub.send(packet(0x3C, string("q2r/t") + b"\x00\x05" + b"exactly-once"))
    check("q2 reconnect: PUBREC again for the DUP", pub.read_packet() == b"\x50\x02\x00\x05")
    pub.send(b"\x62\x02\x00\x05")
    check("q2 reconnect: PUBCOMP", pub.read_packet() == b"\x70\x02\x00\x05")
    # The subscriber comes back: the message is resent once with DUP set.
    sub, ack = session(port, "q2-sub", clean=False)
    check("q2 reconnect: subscriber's session is present", ack == b"\x20\x02\x01\x00", ack)
    again = sub.read_packet()
    check("q2 reconnect: resent with DUP", again is not None and again[0] == 0x3C
          and again.endswith(b"exactly-once"), again)
    pid = again[2 + 2 + 5:2 + 2 + 5 + 2] if again else b"\x00\x01"
    sub.send(b"\x50\x02" + pid)
    check("q2 reconnect: PUBREL", sub.read_packet() == b"\x62\x02" + pid)
    sub.send(b"\x70\x02" + pid)
    try:
        extra = sub.read_packet(timeout=0.5)
    except TimeoutError:
        extra = None
    check("q2 reconnect: delivered exactly once", extra is None, extra)
    sub.close()
    pub.close()


def backpressure(port, count=3000, size=1024):
    """A subscriber that stops reading while publishers flood it at QoS 1:
    the broker must slow the publisher, not drop; every message arrives."""
    sub, _ = session(port, "bp-sub", keepalive=0)
    sub.send(packet(0x82, struct.pack(">H", 1) + string("bp/t") + b"\x01"))
    check("back-pressure: subscribed", sub.read_packet() == b"\x90\x03\x00\x01\x01")
    pub, _ = session(port, "bp-pub", keepalive=0)
    acks = {"n": 0}
    body = b"x" * size

    def publish():
        for i in range(1, count + 1):
            pid = (i % 65535) + 1
            pub.send(packet(0x32, string("bp/t") + struct.pack(">H", pid) + struct.pack(">I", i) + body))

    def read_acks():
        try:
            while acks["n"] < count:
                if pub.read_packet(timeout=20) is None:
                    return
                acks["n"] += 1
        except (TimeoutError, OSError):
            return

    sender = threading.Thread(target=publish, daemon=True)
    reader = threading.Thread(target=read_acks, daemon=True)
    sender.start()
    reader.start()
    time.sleep(1.5)  # the subscriber reads nothing meanwhile
    seen = set()
    deadline = time.monotonic() + 30
    while len(seen) < count and time.monotonic() < deadline:
        try:
            p = sub.read_packet(timeout=5)
        except TimeoutError:
            break
        if p is None:
            break
        if p[0] & 0xF0 == 0x30:
            # fixed header, then topic, packet id, payload: find our counter
            i = 1
            while p[i] & 0x80:
                i += 1
            i += 1
            tl = struct.unpack(">H", p[i:i + 2])[0]
            pid = p[i + 2 + tl:i + 4 + tl]
            seq = struct.unpack(">I", p[i + 4 + tl:i + 8 + tl])[0]
            seen.add(seq)
            sub.send(b"\x40\x02" + pid)
    sender.join(timeout=10)
    reader.join(timeout=20)
    check("back-pressure: every QoS 1 message reached the slow subscriber", len(seen) == count,
          f"({len(seen)} of {count})")
    check("back-pressure: every PUBLISH was acknowledged", acks["n"] == count, f"({acks['n']})")
    sub.close()
    pub.close()


if __name__ == "__main__":
    main()
