#!/usr/bin/env python3
"""Turns the figures of one bench/run.sh run into the Markdown report and the
data file of the chart (bench/plot.gp).

  report.py RESULTS REASONS SYSTEM OUT_MD OUT_DAT [OUT_SCALING_DAT]

RESULTS: lines "setup<TAB>metric<TAB>value", value a number or "fail"; a metric
measured several times (TCP, best of N) has several lines: the best number
counts. REASONS: "setup<TAB>metric<TAB>why" for each failure. SYSTEM:
"key<TAB>value" lines (date, kernel, cpu, commit, build, method, time, ...).
"""
import sys
from collections import defaultdict

# Configurations, in table order: key, section, configuration, switch.
ROWS = [
    ("tapvsw", "1", "local, file-side TAPs", "vswitchd `--port tap:` `--workers 1`"),
    ("tapw2", "1", "local, file-side TAPs", "vswitchd `--port tap:` `--workers 2`"),
    ("tapw4", "1", "local, file-side TAPs", "vswitchd `--port tap:` `--workers 4`"),
    ("tapbp", "1", "local, file-side TAPs", "vswitchd `--port tap:` `--workers 1` `--busy-poll 200000`"),
    ("bridge", "1, 2", "local, veths", "Linux bridge (anchor)"),
    ("vde", "1", "local, file-side TAPs", "vde_switch `-t` (anchor)"),
    ("devvsw", "2", "local, kernel-side ports on veths", "vswitchd `--port dev:` `--workers 1`"),
    ("devw4", "2", "local, kernel-side ports on veths", "vswitchd `--port dev:` `--workers 4`"),
    ("tunkk", "3, 4", "tunnel, veth underlay", "kernel vxlan+bridge ↔ kernel (anchor)"),
    ("tunvv", "3", "tunnel, veth underlay", "vswitchd ↔ vswitchd `--workers 1`"),
    ("tunw2", "3", "tunnel, veth underlay", "vswitchd ↔ vswitchd `--workers 2`"),
    ("tunvk", "3", "tunnel, veth underlay", "vswitchd (h1) ↔ kernel vxlan (h2)"),
    ("encvv", "4", "encrypted tunnel, veth underlay",
     "vswitchd ↔ vswitchd sealed (`--key-file`)"),
    ("enctinc", "4", "encrypted tunnel, veth underlay", "tinc 1.0 switch mode ↔ tinc (anchor)"),
    ("encwg", "4", "encrypted tunnel, veth underlay",
     "kernel vxlan+bridge over wireguard-go ↔ the same (anchor)"),
    ("encid", "5", "encrypted tunnel, veth underlay",
     "vswitchd ↔ vswitchd sealed, host identities (`--identity`), direct"),
    ("encrelay", "5", "two hosts that cannot reach each other, each on a veth to a third",
     "vswitchd ↔ vswitchd through a third vswitchd (relay, sealed end to end)"),
]
# Short names for the chart.
PLOT_NAMES = {
    "tapvsw": "vswitchd tap:",
    "tapw2": "vswitchd tap: 2 workers",
    "tapw4": "vswitchd tap: 4 workers",
    "tapbp": "vswitchd tap: busy-poll",
    "bridge": "Linux bridge",
    "vde": "vde\\_switch",
    "devvsw": "vswitchd dev:",
    "devw4": "vswitchd dev: 4 workers",
    "tunkk": "kernel-kernel vxlan",
    "tunvv": "vswitchd-vswitchd",
    "tunw2": "vswitchd-vswitchd 2 workers",
    "tunvk": "vswitchd-kernel",
    "encvv": "vswitchd sealed",
    "enctinc": "tinc",
    "encwg": "wireguard-go + vxlan",
    "encid": "vswitchd identities",
    "encrelay": "vswitchd relayed",
}
SWITCH_PROCESS = {"tapvsw", "tapw2", "tapw4", "tapbp", "vde", "devvsw", "devw4", "tunvv", "tunw2", "tunvk", "encvv", "enctinc", "encwg", "encid", "encrelay"}
TWO_PROCESSES = {"tunvv": "both daemons", "tunw2": "both daemons", "encvv": "both daemons", "enctinc": "both tincd",
                 "encwg": "both wireguard-go",
                 "encid": "both daemons", "encrelay": "all three daemons"}


def read_tsv(path, n):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= n:
                    rows.append(parts[: n - 1] + ["\t".join(parts[n - 1:])])
    except FileNotFoundError:
        pass
    return rows


def main():
    results_path, reasons_path, system_path, out_md, out_dat = sys.argv[1:6]
    values = defaultdict(list)          # (setup, metric) -> [float or None]
    for setup, metric, value in read_tsv(results_path, 3):
        try:
            values[(setup, metric)].append(float(value))
        except ValueError:
            values[(setup, metric)].append(None)
    reasons = defaultdict(list)
    for setup, metric, why in read_tsv(reasons_path, 3):
        if why not in reasons[(setup, metric)]:
            reasons[(setup, metric)].append(why)
    system = dict((k, v) for k, v in read_tsv(system_path, 2))
    # The configurations of this run (--only); every one when not recorded.
    ran = set(system["setups"].split()) if system.get("setups") else {k for k, *_ in ROWS}
    rows = [r for r in ROWS if r[0] in ran]

    # A metric's figure: the best number (TCP: highest; others are measured
    # once), None when every try failed, "missing" when not measured.
    def fig(setup, metric):
        vs = values.get((setup, metric))
        if not vs:
            return "missing"
        nums = [v for v in vs if v is not None]
        if not nums:
            return None
        return max(nums) if metric.startswith("tcp") else nums[-1]

    def tries(setup, metric):
        vs = values.get((setup, metric), [])
        return sum(1 for v in vs if v is not None), len(vs)

    def cell(setup, metric, fmt):
        f = fig(setup, metric)
        if f == "missing":
            return "—"
        if f is None:
            return "fail"
        s = fmt % f
        ok, n = tries(setup, metric)
        if metric.startswith("tcp") and ok < n:
            s += " (%d/%d ok)" % (ok, n)
        return s

    out = []
    w = out.append
    w("# vswitchd side by side: kernel bridge, vde_switch, kernel vxlan, tinc")
    w("")
    w("| | |")
    w("|---|---|")
    for key, label in [("date", "date"), ("commit", "vswitchd"), ("build", "build"),
                       ("kernel", "kernel"), ("cpu", "CPU"), ("tools", "tools"),
                       ("method", "method"), ("only", "only"), ("time", "total time")]:
        if key in system:
            w("| %s | %s |" % (label, system[key]))
    w("")
    w("## Figures")
    w("")
    w("Receiver-side TCP rate (iperf3, best of the tries), ping RTT average, and at a fixed "
      "load of 64-byte UDP datagrams the switch process's CPU time (utime+stime) per "
      "datagram received, and the loss. A → B, VMs are namespaces with MTU 1500 and the "
      "kernel's default offloads.")
    w("")
    w("| # | configuration | switch | TCP 1 stream Gbit/s | TCP -P 4 Gbit/s | ping RTT µs "
      "| switch CPU µs / 64-B frame | loss % at that load |")
    w("|---|---|---|---:|---:|---:|---:|---:|")
    for key, sec, conf, sw in rows:
        cpu = cell(key, "cpu", "%.2f") if key in SWITCH_PROCESS else "— (kernel)"
        loss = cell(key, "loss", "%.2f")
        if key in TWO_PROCESSES and cpu not in ("fail", "—"):
            cpu += " (%s)" % TWO_PROCESSES[key]
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            sec, conf, sw, cell(key, "tcp1", "%.2f"), cell(key, "tcp4", "%.2f"),
            cell(key, "rtt", "%.0f"), cpu, loss))
    w("")

    # Latency, efficiency and streams of the configurations that have them.
    more = [r for r in rows if any(fig(r[0], m) != "missing" for m in ("lrtt50", "cpugb", "tcp16"))]
    if more:
        w("Latency (ping every 10 ms: idle, and beside a one-stream iperf3), efficiency (the whole "
          "machine's CPU-seconds per GB received at a fixed offered TCP rate: switch, both stacks "
          "and iperf3), and TCP against the number of streams.")
        w("")
        w("| configuration | switch | ping p50 / p99 µs | under load p50 / p99 µs "
          "| CPU-s per GB | TCP 1 / 4 / 16 streams Gbit/s |")
        w("|---|---|---:|---:|---:|---:|")
        for key, _, conf, sw in more:
            w("| %s | %s | %s / %s | %s / %s | %s | %s / %s / %s |" % (
                conf, sw, cell(key, "rtt50", "%.0f"), cell(key, "rtt99", "%.0f"),
                cell(key, "lrtt50", "%.0f"), cell(key, "lrtt99", "%.0f"), cell(key, "cpugb", "%.2f"),
                cell(key, "tcp1", "%.2f"), cell(key, "tcp4", "%.2f"), cell(key, "tcp16", "%.2f")))
        w("")

    # Ratios against the project's targets.
    w("## Ratios and targets")
    w("")
    w("| figure | measured | target | |")
    w("|---|---:|---|---|")
    n_header = len(out)

    def num(setup, metric):
        f = fig(setup, metric)
        return None if f in (None, "missing") else f

    def ratio_row(label, a, b, metric, target, higher=True):
        if a not in ran or b not in ran:
            return
        x, y = num(a, metric), num(b, metric)
        if y is None or y == 0:
            w("| %s | — | %s %.1f× | n/a (anchor %s) |" % (
                label, "≥" if higher else "≤", target, "failed" if y is None else "is 0"))
            return
        if x is None:
            w("| %s | fail | %s %.1f× | **missed** (vswitchd failed) |" % (
                label, "≥" if higher else "≤", target))
            return
        r = x / y
        met = r >= target if higher else r <= target
        w("| %s | %.2f× | %s %.1f× | %s |" % (
            label, r, "≥" if higher else "≤", target, "met" if met else "**missed**"))

    def figure_row(label, a, b, metric, note):
        """A ratio reported without a target."""
        if a not in ran or b not in ran:
            return
        x, y = num(a, metric), num(b, metric)
        shown = "fail" if x is None or y is None or y == 0 else "%.2f×" % (x / y)
        w("| %s | %s | — | reported: %s |" % (label, shown, note))

    # The targets of the engine (issue 16).
    ratio_row("local TAP TCP 1 stream: vswitchd / Linux bridge", "tapvsw", "bridge", "tcp1", 1.0)
    ratio_row("local TAP TCP -P 4: vswitchd / Linux bridge", "tapvsw", "bridge", "tcp4", 0.8)
    figure_row("local TAP TCP -P 16: vswitchd / Linux bridge", "tapvsw", "bridge", "tcp16", "no target")
    ratio_row("whole-machine CPU per GB at a fixed rate: vswitchd tap: / Linux bridge",
              "tapvsw", "bridge", "cpugb", 1.3, higher=False)
    for key, workers in (("tapw2", 2), ("tapw4", 4)):
        ratio_row("local TAP TCP 1 stream, --workers %d: vswitchd / Linux bridge" % workers, key, "bridge",
                  "tcp1", 1.0)
        ratio_row("local TAP TCP -P 4, --workers %d: vswitchd / Linux bridge" % workers, key, "bridge",
                  "tcp4", 0.8)
        ratio_row("whole-machine CPU per GB, --workers %d: vswitchd tap: / Linux bridge" % workers,
                  key, "bridge", "cpugb", 1.3, higher=False)
    for m, mname in (("tcp1", "TCP 1 stream"), ("tcp4", "TCP -P 4")):
        figure_row("local TAP %s: vswitchd / vde_switch" % mname, "tapvsw", "vde", m, "earlier target ≥ 8×")
    for m, mname in (("tcp1", "TCP 1 stream"), ("tcp4", "TCP -P 4")):
        figure_row("local dev %s: vswitchd / Linux bridge" % mname, "devvsw", "bridge", m, "earlier target ≥ 0.7×")
        figure_row("local dev %s, --workers 4: vswitchd / Linux bridge" % mname, "devw4", "bridge", m,
                   "no target of its own")

    # CPU per frame, with the loss condition.
    for key, name in (("tapvsw", "tap:"), ("tapw2", "tap: --workers 2"), ("tapw4", "tap: --workers 4")):
        x, y, loss = num(key, "cpu"), num("vde", "cpu"), num(key, "loss")
        label = "CPU per 64-byte frame: vswitchd %s / vde_switch (and vswitchd loss)" % name
        if key not in ran or "vde" not in ran:
            pass
        elif y is None or y == 0:
            w("| %s | — | ≤ 0.5×, loss ≤ 1 %% | n/a (anchor failed) |" % label)
        elif x is None or loss is None:
            w("| %s | fail | ≤ 0.5×, loss ≤ 1 %% | **missed** (vswitchd failed) |" % label)
        else:
            r = x / y
            met = r <= 0.5 and loss <= 1.0
            w("| %s | %.2f×, loss %.2f %% | ≤ 0.5×, loss ≤ 1 %% | %s |" % (
                label, r, loss, "met" if met else "**missed**"))

    for key, name in (("tapvsw", "tap:"), ("tapw2", "tap: --workers 2"), ("tapw4", "tap: --workers 4"),
                      ("tapbp", "tap: --busy-poll"), ("devvsw", "dev:"), ("devw4", "dev: --workers 4")):
        if key not in ran or "bridge" not in ran:
            continue
        x, y = num(key, "rtt50"), num("bridge", "rtt50")
        label = "ping RTT, median: vswitchd %s − Linux bridge" % name
        if y is None:
            w("| %s | — | ≤ +30 µs | n/a (anchor failed) |" % label)
        elif x is None:
            w("| %s | fail | ≤ +30 µs | **missed** (vswitchd failed) |" % label)
        else:
            d = x - y
            w("| %s | %+.0f µs | ≤ +30 µs | %s |" % (label, d, "met" if d <= 30 else "**missed**"))

    if "tapvsw" in ran:
        x, y, held = num("tapvsw", "fps1m"), num("tapvsw", "fps1k"), num("tapvsw", "macs1m")
        label = "frames/s at 1 Mi MAC entries / at 1 Ki: vswitchd tap: (64-byte frames, random destinations)"
        if x is None or y is None or y == 0:
            w("| %s | fail | ≥ 0.8× | **missed** (see Failures) |" % label)
        else:
            r = x / y
            w("| %s | %.2f× (%.0f / %.0f k frames/s; table held %s) | ≥ 0.8× | %s |" % (
                label, r, x / 1000, y / 1000, "?" if held is None else "%.0f entries" % held,
                "met" if r >= 0.8 else "**missed**"))
    ratio_row("tunnel TCP 1 stream: vswitchd↔vswitchd / kernel VXLAN", "tunvv", "tunkk", "tcp1", 0.8)
    figure_row("tunnel TCP -P 4: vswitchd↔vswitchd / kernel VXLAN", "tunvv", "tunkk", "tcp4", "no target")
    ratio_row("tunnel TCP 1 stream, --workers 2: vswitchd↔vswitchd / kernel VXLAN", "tunw2", "tunkk", "tcp1", 0.8)
    figure_row("tunnel TCP -P 4, --workers 2: vswitchd↔vswitchd / kernel VXLAN", "tunw2", "tunkk", "tcp4", "no target")
    for m, mname in (("tcp1", "TCP 1 stream"), ("tcp4", "TCP -P 4")):
        figure_row("tunnel %s: vswitchd↔kernel vxlan / kernel VXLAN" % mname, "tunvk", "tunkk", m,
                   "earlier target ≥ 0.3×")
    ratio_row("sealed TCP 1 stream: vswitchd sealed / vswitchd plain tunnel", "encvv", "tunvv", "tcp1", 0.6)
    ratio_row("sealed TCP 1 stream: vswitchd sealed / tinc", "encvv", "enctinc", "tcp1", 10.0)
    figure_row("sealed TCP -P 4: vswitchd sealed / tinc", "encvv", "enctinc", "tcp4", "no target")
    ratio_row("sealed TCP 1 stream: vswitchd sealed / wireguard-go carrying the kernel's VXLAN",
              "encvv", "encwg", "tcp1", 15.0)
    figure_row("sealed TCP -P 4: vswitchd sealed / wireguard-go + VXLAN", "encvv", "encwg", "tcp4", "no target")
    for m, mname in (("tcp1", "TCP 1 stream"), ("tcp4", "TCP -P 4")):
        figure_row("encrypted %s: vswitchd sealed / kernel VXLAN (plain)" % mname,
                   "encvv", "tunkk", m, "earlier target ≥ 0.3×")
    for m, mname in (("tcp1", "TCP 1 stream"), ("tcp4", "TCP -P 4")):
        figure_row("relayed %s: through a relay / direct (host identities)" % mname, "encrelay", "encid", m,
                   "bounded by the relay's CPU (it opens and seals each datagram again)")
    if len(out) == n_header:             # --only left no pair with a target
        del out[n_header - 2:]
        w("No target compares the configurations of this run.")
    w("")

    if reasons:
        w("## Failures")
        w("")
        names = {k: "%s (%s)" % (sw, conf) for k, _, conf, sw in ROWS}
        order = {k: i for i, (k, *_) in enumerate(ROWS)}
        metric_names = {"tcp1": "TCP 1 stream", "tcp4": "TCP -P 4", "tcp16": "TCP -P 16", "rtt": "ping",
                        "lrtt50": "ping under load", "cpugb": "CPU per GB", "cpu": "CPU", "loss": "loss",
                        "fps1k": "frames/s at 1 Ki MACs", "fps1m": "frames/s at 1 Mi MACs",
                        "macs1m": "MAC entries held"}
        grouped = {}                     # (setup, why) -> [metric], in first-seen order
        for (setup, metric), whys in reasons.items():
            for why in whys:
                grouped.setdefault((setup, why), []).append(metric)
        for (setup, why), metrics in sorted(grouped.items(),
                                            key=lambda kv: order.get(kv[0][0], 99)):
            w("- %s, %s: %s" % (names.get(setup, setup),
                                ", ".join(metric_names.get(m, m) for m in metrics),
                                why.replace("|", "\\|")))
        w("")
    if "notes" in system:
        w(system["notes"])
        w("")

    with open(out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(out))

    # Chart data: name tcp1 tcp4 rtt cpu, then the state of each (0 measured,
    # 1 failed, 2 not measured: the kernel has no switch process); a value that
    # is not measured reads 0.
    def d(setup, metric):
        f = fig(setup, metric)
        if f == "missing" or (metric == "cpu" and setup not in SWITCH_PROCESS):
            return "0", 2
        if f is None:
            return "0", 1
        return "%.4f" % f, 0

    with open(out_dat, "w", encoding="utf-8") as f:
        f.write("# name tcp1 tcp4 rtt_us cpu_us state_tcp1 state_tcp4 state_rtt state_cpu"
                " (0 measured, 1 failed, 2 not measured)\n")
        for key, *_ in rows:
            cols = [d(key, m) for m in ("tcp1", "tcp4", "rtt", "cpu")]
            f.write('"%s" %s %s\n' % (PLOT_NAMES[key], " ".join(v for v, _ in cols),
                                      " ".join(str(st) for _, st in cols)))

    # Streams chart data (bench/scaling.gp): a block per configuration with a TCP -P 16 figure.
    if len(sys.argv) > 6:
        with open(sys.argv[6], "w", encoding="utf-8") as f:
            for key, *_ in rows:
                points = [(n, num(key, m)) for n, m in ((1, "tcp1"), (4, "tcp4"), (16, "tcp16"))]
                if fig(key, "tcp16") == "missing":
                    continue
                f.write('"%s"\n' % PLOT_NAMES[key])
                for n, v in points:
                    if v is not None:
                        f.write("%d %.3f\n" % (n, v))
                f.write("\n\n")


if __name__ == "__main__":
    main()
