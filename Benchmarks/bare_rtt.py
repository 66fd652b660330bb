#!/usr/bin/env python3
"""The bare broker's round trip: a minimal MQTT 3.1.1 client on a raw socket (no library) that
subscribes to its own topic and publishes one 16-byte message at a time, timing publish -> receive.

usage: bare_rtt.py PORT SAMPLES QOS   (prints: bare rtt qos<QOS> p50_us N p99_us N)
"""
import socket
import sys
import time

port, samples, qos = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sock = socket.create_connection(("127.0.0.1", port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
pending = b""


def field(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def packet(header: int, body: bytes) -> bytes:
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            return bytes([header]) + encoded + body


def read_packet() -> bytes:
    global pending
    while True:
        if len(pending) >= 2:
            length, multiplier, index = 0, 1, 1
            while index < len(pending) and index <= 4:
                length += (pending[index] & 0x7F) * multiplier
                multiplier *= 128
                index += 1
                if not pending[index - 1] & 0x80:
                    if len(pending) >= index + length:
                        whole, pending = pending[: index + length], pending[index + length :]
                        return whole
                    break
        data = sock.recv(65536)
        if not data:
            sys.exit("broker closed the connection")
        pending += data


topic = b"bench/bare/%d" % time.time_ns()
sock.sendall(packet(0x10, field(b"MQTT") + b"\x04\x02\x00\x3c" + field(b"bare-%d" % time.time_ns())))
assert read_packet()[0] == 0x20
sock.sendall(packet(0x82, b"\x00\x01" + field(topic) + bytes([qos])))
assert read_packet()[0] == 0x90

results = []
warmup = samples // 10
for index in range(samples + warmup):
    packet_id = (index % 65535) + 1
    body = field(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + b"0123456789abcdef"
    start = time.perf_counter_ns()
    sock.sendall(packet(0x30 | qos << 1, body))
    while True:
        received = read_packet()
        if received[0] >> 4 == 3:  # the PUBLISH coming back; PUBACKs for our own publish are skipped
            if qos:
                offset = received.index(topic) + len(topic)
                sock.sendall(b"\x40\x02" + received[offset : offset + 2])
            break
    if index >= warmup:
        results.append((time.perf_counter_ns() - start) / 1000)
sock.sendall(b"\xe0\x00")
sock.close()
results.sort()
print(f"bare rtt qos{qos} p50_us {results[len(results) // 2]:.0f} p99_us {results[int(len(results) * 0.99)]:.0f}")
