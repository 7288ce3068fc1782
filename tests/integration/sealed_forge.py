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
              forgeries must not use up its counter)           -> sealed_forged 3
  wrong_key   an inner frame to vm2 (marker C) under h2's real session
              index but a key of ev's own (random bytes where the
              ciphertext goes: that is what another key gives) -> sealed_forged 2
  unknown     the same under a session index h2 never gave out -> sealed_unknown_key 2
  stranger    an unknown index from ev's own address, 3        -> non-peers +3
  short       0, 20 and 31 bytes                               -> sealed_short 3
  version     version byte 1 (an older vswitchd), twice; type 7 -> sealed_bad_version 3
With version 2 the overlay key alone cannot seal a frame into a session
(each session's keys come from its own handshake), so there is no "real key"
control in sealed mode; the late original is the control that vm2's capture
sees what arrives.
In plain mode (SEALED=0, VXLAN) the same steps run where they mean something;
the test knows what plain VXLAN does with them (and frame D, plain VXLAN, is
its control).

Arguments (environment): SEALED IFACE DST_MAC H1 H2 EV VM2_MAC VM2_IP FAKE_IP
GENUINE WITHHELD SIZE_A SIZE_B.
"""
import os
import secrets
import struct
import sys
import time

from scapy.all import ICMP, IP, UDP, Ether, Raw, conf, get_if_hwaddr, rdpcap, sendp

conf.verb = 0
E = os.environ
SEALED = E["SEALED"] == "1"
IFACE = E["IFACE"]
SRC_MAC = get_if_hwaddr(IFACE)
HEADER = 16   # sealed data header (version 2); the Poly1305 tag adds 16 at the end
DATA = 4      # its type byte
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
    return [d for d, _ in datagrams if len(d) == want and (not SEALED or d[1] == DATA)]


def counter_of(d):
    return struct.unpack(">Q", d[8:16])[0]


def under_other_key(receiver, counter, payload):
    """A data datagram as sealed under a key h2 does not have: to h2 that is
    indistinguishable from random ciphertext and tag."""
    return bytes([2, DATA, 0, 0]) + struct.pack(">IQ", receiver, counter) + secrets.token_bytes(len(payload) + 16)


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
    receiver = struct.unpack(">I", g[4:8])[0]
    # Counters h1 used but h2 never saw (withheld), other than w0's and w1's.
    unused = sorted({counter_of(d) for d, _ in withheld} - {counter_of(w0), counter_of(w1)})
    if len(unused) < 2:
        sys.exit("need 2 unused counters, withheld only %s" % unused)
    print("forge: h2's session index %08x, counters g=%d w0=%d w1=%d unused=%s"
          % (receiver, counter_of(g), counter_of(w0), counter_of(w1), unused[:2]))

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
    send("wrong_key", under_other_key(receiver, unused[0], frame_c), 2)
    send("unknown", under_other_key(receiver ^ 0x5A5A5A5A, unused[1], frame_c), 2)
else:
    # Sealed-looking datagrams (byte 0 = 2: VXLAN's I flag clear), then the control.
    send("wrong_key", bytes([2, 4, 0, 0]) + bytes(12) + frame_c, 2)
    send("unknown", bytes([2, 4, 0, 0]) + bytes(12) + frame_c, 2)
    send("real_key", vxlan(frame_d))
time.sleep(0.2)
if SEALED:
    send("stranger", under_other_key(receiver ^ 0x0F0F0F0F, unused[0], frame_c), 3, src=E["EV"], sport=4789)
else:
    send("stranger", g, 3, src=E["EV"], sport=4789)
send("short", b"")
send("short", g[:20])
if SEALED:   # (plain VXLAN: 31 bytes are a valid datagram with a 23-byte frame)
    send("short", g[:31])
t = bytearray(g)
t[0] = 1
send("version", bytes(t), 2)
if SEALED:   # (plain VXLAN: byte 1 is reserved, ignored)
    t = bytearray(g)
    t[1] = 7
    send("version", bytes(t))
print("forge: sent " + " ".join("%s=%d" % kv for kv in sent.items()))
