# plot.gp -- grouped bars of tools/bench.sh's results (docs/benchmarks.md).
#
#   gnuplot -e "datafile='latest.dat'; outfile='latest.png'; subtitle='...'" plot.gp
#
# Top: throughput per workload normalised to ofsrep default (-o journal)'s
# median, so that bar is 1.0 and every other bar is its ratio to it;
# whiskers are min and max of the repetitions.  The dashed line at 0.5 is
# where GlusterFS must stay for the "default >= 2x GlusterFS" targets.
# Bottom: the failover freeze, longest stall in seconds (log scale; lower
# is better), from latest-freeze.dat beside datafile.
#
# Columns (tools/bench/report.py write_dat): 1 workload, then median min
# max for raw, ofsrep, journal, full, async, gluster (NaN: not measured).
if (!exists("datafile")) datafile = 'latest.dat'
if (!exists("outfile")) outfile = 'latest.png'
if (!exists("subtitle")) subtitle = ''
freezefile = datafile[1:strlen(datafile) - 4].'-freeze.dat'

set terminal pngcairo size 1500,1000 font "sans,10" noenhanced
set output outfile
set multiplot layout 2,1 title "raw NFS vs ofsrep modes vs GlusterFS replica 2\n".subtitle
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics nomirror rotate by -15
set key outside right top vertical

set size 1, 0.62
set origin 0, 0.36
set ylabel "throughput / ofsrep default (=1)"
set yrange [0:*]
set offsets 0, 0, graph 0.05, 0
plot datafile using 2:3:4:xtic(1) title "raw libnfs" lc rgb "#7f7f7f", \
     ''       using 5:6:7 title "ofsrep primary_only" lc rgb "#1f77b4", \
     ''       using 8:9:10 title "ofsrep default (journal)" lc rgb "#ff7f0e", \
     ''       using 11:12:13 title "ofsrep full" lc rgb "#d62728", \
     ''       using 14:15:16 title "ofsrep async" lc rgb "#9467bd", \
     ''       using 17:18:19 title "GlusterFS replica 2" lc rgb "#2ca02c", \
     0.5 with lines dt 2 lw 2 lc rgb "#2ca02c" title "gluster at 0.5: 2x target"

set size 1, 0.34
set origin 0, 0
set ylabel "longest stall, s (log)"
set logscale y
set yrange [0.01:100]
unset offsets
plot freezefile using 8:9:10:xtic(1) title "ofsrep default (journal)" lc rgb "#ff7f0e", \
     ''         using 17:18:19 title "GlusterFS replica 2" lc rgb "#2ca02c", \
     1 with lines dt 2 lw 2 lc rgb "#cc0000" title "1 s (killed target)", \
     5 with lines dt 3 lw 2 lc rgb "#cc0000" title "5 s (hung target)"
unset multiplot
