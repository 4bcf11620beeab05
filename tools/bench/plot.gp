# plot.gp -- grouped bars of tools/bench.sh's results (docs/benchmarks.md).
#
#   gnuplot -e "datafile='latest.dat'; outfile='latest.png'; subtitle='...'" plot.gp
#
# Throughput per workload normalised to the raw libnfs median (so raw is
# 1.0, ofsrep's bar is the ofsrep/raw ratio and ofsrep-journal's the
# journal/raw ratio); whiskers are min and max of the repetitions.  A
# short red line across a bar is that bar's target on the same scale:
# 0.8 for ofsrep on seq write/read; 0.6 and 0.85 for the journal on seq
# write and seq read; on create, primary_only's bar / 1.5.
#
# latest.dat columns (tools/bench/report.py write_dat): 1 workload,
# 2-4 raw median min max, 5-7 ofsrep, 8-10 journal, 11 ofsrep target,
# 12 journal target (NaN: none).
if (!exists("datafile")) datafile = 'latest.dat'
if (!exists("outfile")) outfile = 'latest.png'
if (!exists("subtitle")) subtitle = ''

# Three bars per cluster with gap 2: each bar is 1/5 wide and the bars sit
# at x-0.2, x, x+0.2 around the cluster's x (the row number).
bw = 0.2
# A bar's ratio label goes over its whisker, or over its target mark when
# that is higher: above(whisker column, target column).
above(w, t) = (valid(t) && column(t) > column(w)) ? column(t) : column(w)

set terminal pngcairo size 1300,600 font "sans,10" noenhanced
set output outfile
set title "ofsrep -o primary_only and ofsrep -o journal vs raw libnfs (throughput / raw median)\n".subtitle
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel "normalised throughput (raw libnfs = 1)"
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set grid ytics
set xtics nomirror rotate by -20
set key top right
plot datafile using 2:3:4:xtic(1) title "raw libnfs" lc rgb "#7f7f7f", \
     ''       using 5:6:7 title "ofsrep (primary_only)" lc rgb "#1f77b4", \
     ''       using 8:9:10 title "ofsrep-journal" lc rgb "#ff7f0e", \
     ''       using ($0):(above(7, 11)):(sprintf("%.2f", $5)) \
              with labels offset 0,0.9 font ",9" notitle, \
     ''       using ($0 + bw):(above(10, 12)):(sprintf("%.2f", $8)) \
              with labels offset 0,0.9 font ",9" notitle, \
     ''       using ($0 - bw / 2):11:(bw):(0) with vectors nohead \
              lw 3 lc rgb "#cc0000" notitle, \
     ''       using ($0 + bw / 2):12:(bw):(0) with vectors nohead \
              lw 3 lc rgb "#cc0000" notitle, \
     NaN with lines lw 3 lc rgb "#cc0000" title "target of the bar it crosses"
