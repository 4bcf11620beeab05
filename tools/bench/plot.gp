# plot.gp -- grouped bars of tools/bench.sh's results (docs/benchmarks.md).
#
#   gnuplot -e "datafile='latest.dat'; outfile='latest.png'; subtitle='...'" plot.gp
#
# Throughput per workload normalised to the raw libnfs median (so raw is
# 1.0 and ofsrep's bar is the ofsrep/raw ratio); whiskers are min and max
# of the repetitions.  The dashed line is the 0.8x target for the
# sequential rows.
if (!exists("datafile")) datafile = 'latest.dat'
if (!exists("outfile")) outfile = 'latest.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 1100,560 font "sans,10" noenhanced
set output outfile
set title "ofsrep -o primary_only vs raw libnfs (throughput / raw median)\n".subtitle
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "normalised throughput (raw libnfs = 1)"
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set grid ytics
set xtics nomirror rotate by -20
set arrow from graph 0, first 0.8 to graph 1, first 0.8 nohead dt 2 lw 1.5 lc rgb "#aa0000"
set key top right
plot datafile using 2:3:4:xtic(1) title "raw libnfs" lc rgb "#7f7f7f", \
     ''       using 5:6:7 title "ofsrep" lc rgb "#1f77b4", \
     ''       using ($0 + 0.14):($7):(sprintf("%.2f", $5)) with labels \
              offset 0,0.9 notitle, \
     NaN with lines dt 2 lw 1.5 lc rgb "#aa0000" \
         title "target 0.8x (seq write/read)"
