#!/usr/bin/python3
"""The attacker of sealed_two_hosts.sh: forges and replays uplink datagrams.

Runs in the attacker's namespace "ev", on the same underlay bridge as h1 and h2.
Every datagram goes to h2:4789 as if from h1 (h1's underlay address and source
port, ev's own MAC), except the "stranger" ones, which come from ev's own address.
Reads two captures made by the test:
  GENUINE   h1 -> h2 datagrams that h2 received (ping vm1 -> vm2, marker A)
  WITHHELD  h1 -> h2 datagrams that never reached h2 (the bridge port towards h2
            dropped everything for a moment; ping vm1 -> vm2, marker B)
and, in sealed mode, the key file (the test knows the key: that is how it builds
a correctly sealed control datagram, proving its encoder follows the format).

Steps, in this order (the test expects exactly these counts):
  replay      a delivered genuine datagram, 5 times            -> sealed_replayed 5
  late        a withheld datagram once (accepted: a late original),
              then 3 more times                                -> sealed_replayed 3
  flip        another withheld datagram with one ciphertext byte
              flipped, 3 variants; then the original once (accepted:
              forgeries must not use up its sequence number)    -> sealed_forged 3
  wrong_key   an inner frame to vm2 (marker C) sealed under a random key:
              2 with the real key id                           -> sealed_forged 2
              2 with the random key's own id                   -> sealed_unknown_key 2
  real_key    the same frame (marker D) sealed with the real key,
              an unused sequence number (accepted once: control)
  stale       authentic (real key) but to another life of h2, 2
              (unused sequence numbers)                         -> sealed_stale 2
  stranger    a genuine datagram from ev's own address, 3       -> non-peers +3
  short       0, 20 and 47 bytes                               -> sealed_short 3
  version     version byte 2, twice; type 7, once               -> sealed_bad_version 3
In plain mode (SEALED=0, VXLAN) the same steps run where they mean something;
the test knows what plain VXLAN does with them.

Arguments (environment): SEALED IFACE DST_MAC H1 H2 EV VM2_MAC VM2_IP FAKE_IP
GENUINE WITHHELD KEY_FILE SIZE_A SIZE_B.
"""
import hashlib
import os
import secrets
import struct
import sys
import time

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt as aead_seal
from scapy.all import ICMP, IP, UDP, Ether, Raw, conf, get_if_hwaddr, rdpcap, sendp

conf.verb = 0
E = os.environ
SEALED = E["SEALED"] == "1"
IFACE = E["IFACE"]
SRC_MAC = get_if_hwaddr(IFACE)
HEADER = 32   # sealed header; the Poly1305 tag adds 16 at the end
TAG = 16
MARK_C = bytes.fromhex("de57a7e0c0c0c0c0")
MARK_D = bytes.fromhex("de57a7e0d0d0d0d0")


def inner_size(icmp_payload):
    """Ethernet + IPv4 + ICMP header + payload of a ping -s N."""
    return 14 + 20 + 8 + icmp_payload


def datagram_size(inner):
    return HEADER + inner + TAG if SEALED else 8 + inner


def from_h1(pcap):
    """(UDP payload, source port) of every h1 -> h2:4789 datagram in a capture."""
    out = []
    for p in rdpcap(pcap):
        if IP in p and UDP in p and p[IP].src == E["H1"] and p[IP].dst == E["H2"] \
                and p[UDP].dport == 4789:
            out.append((bytes(p[UDP].payload), p[UDP].sport))
    return out


def data_of_size(datagrams, inner):
    want = datagram_size(inner)
    return [d for d, _ in datagrams if len(d) == want and (not SEALED or d[1] == 0)]


def seq_of(d):
    return struct.unpack(">Q", d[24:32])[0]


def key_id(key):
    return hashlib.blake2b(b"vswitchd key id v1", digest_size=16, key=key).digest()[:4]


def seal(key, kid, sender, receiver, seq, payload, kind=0):
    header = bytes([1, kind, 0, 0]) + kid + struct.pack(">QQQ", sender, receiver, seq)
    return header + aead_seal(payload, header[:8], header[8:32], key)


def vxlan(frame):
    return bytes([0x08, 0, 0, 0, 0, 0, 1, 0]) + frame


sent = {}


def send(step, payload, count=1, src=None, sport=None):
    """Send PAYLOAD to h2:4789 COUNT times (as h1 unless SRC is given)."""
    pkt = (Ether(dst=E["DST_MAC"], src=SRC_MAC)
           / IP(src=src or E["H1"], dst=E["H2"])
           / UDP(sport=sport or H1_PORT, dport=4789) / Raw(payload))
    for _ in range(count):
        sendp(pkt, iface=IFACE)
        time.sleep(0.02)
    sent[step] = sent.get(step, 0) + count


genuine = from_h1(E["GENUINE"])
withheld = from_h1(E["WITHHELD"])
if not genuine or not withheld:
    sys.exit("no h1 -> h2 datagrams in the captures (genuine %d, withheld %d)"
             % (len(genuine), len(withheld)))
H1_PORT = genuine[0][1]
a = data_of_size(genuine, inner_size(int(E["SIZE_A"])))
b = data_of_size(withheld, inner_size(int(E["SIZE_B"])))
if not a or len(b) < 2:
    sys.exit("no datagram of the expected size: want %d (A) and %d (B); captured %s / %s"
             % (datagram_size(inner_size(int(E["SIZE_A"]))),
                datagram_size(inner_size(int(E["SIZE_B"]))),
                sorted({len(d) for d, _ in genuine}), sorted({len(d) for d, _ in withheld})))
g = a[-1]          # delivered to h2
w0, w1 = b[0], b[1]  # never delivered to h2

# The attacker's own inner frames: to vm2's MAC and address, so acceptance would show.
def frame(mark, src_mac):
    return bytes(Ether(dst=E["VM2_MAC"], src=src_mac)
                 / IP(src=E["FAKE_IP"], dst=E["VM2_IP"]) / ICMP(type=8, id=0x4545)
                 / Raw(mark * 8))


frame_c = frame(MARK_C, "02:e5:00:00:00:0c")
frame_d = frame(MARK_D, "02:e5:00:00:00:0d")

if SEALED:
    key = None
    for line in open(E["KEY_FILE"]):
        line = line.strip()
        if line and not line.startswith("#"):
            key = bytes.fromhex(line)
            break
    real_id = g[4:8]
    if key_id(key) != real_id:
        sys.exit("key id in the datagrams %s != BLAKE2b-128('vswitchd key id v1', key)[:4] %s"
                 % (real_id.hex(), key_id(key).hex()))
    h1_instance, h2_instance = struct.unpack(">QQ", g[8:24])
    # Sequence numbers h1 used but h2 never saw (withheld), other than w0's and w1's.
    unused = sorted({seq_of(d) for d, _ in withheld} - {seq_of(w0), seq_of(w1)})
    if len(unused) < 4:
        sys.exit("need 4 unused sequence numbers, withheld only %s" % unused)
    print("forge: key id %s, h1 instance %016x, h2 instance %016x, seq g=%d w0=%d w1=%d unused=%s"
          % (real_id.hex(), h1_instance, h2_instance, seq_of(g), seq_of(w0), seq_of(w1),
             unused[:4]))

# replay: a delivered datagram, verbatim.
send("replay", g, 5)
time.sleep(0.2)
# late: a withheld original arrives late (accepted once), then its replays.
send("late_original", w0)
time.sleep(0.2)
send("late_replay", w0, 3)
time.sleep(0.2)
# flip: one ciphertext byte of w1 flipped (3 places), then w1 itself.
for off in (HEADER + 10, HEADER + 60, HEADER + 200):
    t = bytearray(w1)
    t[off] ^= 0x01
    send("flip", bytes(t))
time.sleep(0.2)
send("flip_original", w1)
time.sleep(0.2)
if SEALED:
    other = secrets.token_bytes(32)
    send("wrong_key_real_id", seal(other, real_id, h1_instance, h2_instance, unused[0], frame_c), 2)
    send("wrong_key_own_id", seal(other, key_id(other), h1_instance, h2_instance, unused[0],
                                  frame_c), 2)
    time.sleep(0.2)
    send("real_key", seal(key, real_id, h1_instance, h2_instance, unused[1], frame_d))
    time.sleep(0.2)
    not_h2 = h2_instance ^ 0x5A5A5A5A5A5A5A5A
    # Two different sequence numbers: whether a stale datagram marks its number
    # as seen is the daemon's choice, and must not turn the second into a replay.
    for seq in unused[2:4]:
        send("stale", seal(key, real_id, h1_instance, not_h2, seq, frame_c))
else:
    # Sealed-looking datagrams (byte 0 = 1: VXLAN's I flag clear), then the control.
    send("wrong_key_real_id", bytes([1, 0, 0, 0]) + bytes(28) + frame_c, 2)
    send("wrong_key_own_id", bytes([1, 0, 0, 0]) + bytes(28) + frame_c, 2)
    send("real_key", vxlan(frame_d))
    send("stale", bytes([1, 0, 0, 0]) + bytes(28) + frame_c, 2)
time.sleep(0.2)
send("stranger", g, 3, src=E["EV"], sport=4789)
send("short", b"")
send("short", g[:20])
if SEALED:   # (plain VXLAN: 47 bytes are a valid datagram with a 39-byte frame)
    send("short", g[:47])
t = bytearray(g)
t[0] = 2
send("version", bytes(t), 2)
if SEALED:   # (plain VXLAN: byte 1 is reserved, ignored)
    t = bytearray(g)
    t[1] = 7
    send("version", bytes(t))
print("forge: sent " + " ".join("%s=%d" % kv for kv in sent.items()))
