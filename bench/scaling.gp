# Line chart of one bench/run.sh run: TCP against the number of streams, one
# line per local configuration.
#   gnuplot -e "datafile='x-scaling.dat'; outfile='x-scaling.png'; subtitle='...'" bench/scaling.gp
# x-scaling.dat (written by bench/report.py): one block per configuration,
# separated by two blank lines, each starting with its name in double quotes
# (the line's title, read by columnheader), then "streams gbits" lines (a
# figure that failed is left out).
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 900,560 font "DejaVu Sans,10" noenhanced
set output outfile
set title "iperf3 TCP against streams, receiver Gbit/s (higher is better)   ".subtitle
set logscale x 2
set xtics ("1" 1, "4" 4, "16" 16)
set xrange [0.8:20]
set yrange [0:*]
set grid ytics lc rgb "#dddddd"
set key bottom right
set xlabel "parallel TCP streams (iperf3 -P)"
set ylabel "Gbit/s"
stats datafile using 1 nooutput
plot for [i=0:STATS_blocks-1] datafile index i using 1:2 with linespoints lw 2 pt 7 title columnheader(1)
