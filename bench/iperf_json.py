#!/usr/bin/env python3
"""Reads the JSON of one iperf3 client run (bench/run.sh).

  iperf_json.py tcp FILE        prints the receiver's rate in Gbit/s
  iperf_json.py udp FILE LEN    prints "<datagrams received> <loss %>"
  iperf_json.py bytes FILE      prints the bytes the receiver got

Exits 1 with the reason on stdout when the run did not produce a result (no
connection, iperf3 error, no JSON).
"""
import json
import sys


def fail(msg):
    print(msg)
    sys.exit(1)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError as e:
        fail(f"no output: {e}")
    try:
        d = json.loads(text)
    except ValueError:
        fail("no JSON from iperf3: " + " ".join(text.split())[:200])
    if d.get("error"):
        fail("iperf3: " + d["error"])
    end = d.get("end", {})
    rx = end.get("sum_received")
    if not rx:
        fail("iperf3: no receiver summary")
    if mode == "tcp":
        print("%.2f" % (rx["bits_per_second"] / 1e9))
    elif mode == "udp":
        size = int(sys.argv[3])
        sent = end.get("sum_sent", {}).get("packets") or end.get("sum", {}).get("packets", 0)
        # bytes / size is exact; "packets" on the receiving side counts the
        # highest sequence number seen, lost ones included.
        got = int(rx.get("bytes", 0)) // size
        loss = 100.0 * (sent - got) / sent if sent else 100.0
        print("%d %.2f" % (got, max(loss, 0.0)))
    elif mode == "bytes":
        print("%d" % int(rx.get("bytes", 0)))
    else:
        fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
