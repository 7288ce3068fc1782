# Bar chart of one bench/run.sh run:
#   gnuplot -e "datafile='x.dat'; outfile='x.png'; subtitle='...'" bench/plot.gp
# x.dat (written by bench/report.py): "name" tcp1 tcp4 rtt_us cpu_us, then the
# state of each: 0 measured, 1 failed (the bar reads "fail"), 2 not measured
# (the kernel has no switch process: "n/a").
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1400,900 font "DejaVu Sans,10" noenhanced
set output outfile

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9 relative
set grid ytics lc rgb "#dddddd"
set xtics nomirror rotate by -20 scale 0
set ytics nomirror
set border 3
set key top right
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0

lbl(v, st, fmt) = st == 0 ? sprintf(fmt, v) : (st == 1 ? "fail" : "n/a")

set multiplot title "vswitchd vs Linux bridge, vde_switch, kernel vxlan, tinc   ".subtitle

# Top: TCP throughput, one and four streams.
set origin 0, 0.42
set size 1, 0.56
set title "iperf3 TCP, receiver Gbit/s (best of the tries; higher is better)"
set ylabel "Gbit/s"
plot datafile using 2:xtic(1) title "1 stream" lc rgb "#4477aa", \
     '' using 3 title "-P 4" lc rgb "#66ccee", \
     '' using ($0 - 1.0/6):2:(lbl($2, $6, "%.2f")) with labels offset 0,0.7 notitle, \
     '' using ($0 + 1.0/6):3:(lbl($3, $7, "%.2f")) with labels offset 0,0.7 notitle

# Bottom left: ping RTT.
set origin 0, 0
set size 0.5, 0.42
set title "ping RTT average, µs (lower is better)"
set ylabel "µs"
set key off
plot datafile using 4:xtic(1) lc rgb "#228833", \
     '' using ($0):4:(lbl($4, $8, "%.0f")) with labels offset 0,0.7 notitle

# Bottom right: switch CPU per 64-byte frame (switch processes only).
set origin 0.5, 0
set size 0.5, 0.42
set title "switch process CPU µs per 64-byte frame at the fixed UDP load (lower is better)"
set ylabel "µs / frame"
plot datafile using 5:xtic(1) lc rgb "#ee6677", \
     '' using ($0):5:(lbl($5, $9, "%.2f")) with labels offset 0,0.7 notitle

unset multiplot
