#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""report.py -- turns tools/bench.sh's run log into the result files.

    report.py RUNS.tsv OUTDIR --title TEXT [--note TEXT]...

RUNS.tsv has one line per measured run, written by bench.sh:

    system  workload  rep  kind  file  daemon_cpu_s  daemon_hwm_kib

system is "raw", "ofsrep" (-o primary_only), "journal" (-o journal, the
default mode: "ofsrep default"), "full", "async" (-o mode=...) or
"gluster" (GlusterFS replica 2); kind says how to read file:
  jsonl  one or more ofsrep-rawnfs / meta.py JSON lines; several lines are
         parallel clients: ops and bytes add up, seconds is the slowest
  fio    fio --output-format=json (group_reporting: one job entry)
  freeze tools/bench/freeze.py: "seconds" is the longest stall (lower is
         better); "errors" the failed writes
daemon_* are "-" for the raw client.

Writes OUTDIR/latest.md (the table), latest.csv and latest.json (one row
per workload),
latest-runs.csv (one row per run) and latest.dat (normalised figures for
tools/bench/plot.gp).  Reports only: never fails on a slow figure.
"""
import csv
import json
import os
import statistics
import sys

# workload -> (label, unit, field of the common record that is the figure)
WORKLOADS = [
    ("seqwrite", "seq write 1 MiB + fsync", "MiB/s", "mib_s"),
    ("seqread", "seq read 1 MiB (cold cache)", "MiB/s", "mib_s"),
    ("seqread_warm", "seq read 1 MiB (server cache warm)", "MiB/s",
     "mib_s"),
    ("randwrite4k", "4 KiB random write + fsync, 1 job", "IOPS", "ops_s"),
    ("randwrite4k_16", "4 KiB random write + fsync, 16 jobs", "IOPS",
     "ops_s"),
    ("randread4k", "4 KiB random read, 1 job", "IOPS", "ops_s"),
    ("randread4k_16", "4 KiB random read, 16 jobs", "IOPS", "ops_s"),
    ("create", "create + write 4 KiB + close", "files/s", "ops_s"),
    ("stat", "stat (cold cache)", "files/s", "ops_s"),
    ("unlink", "unlink", "files/s", "ops_s"),
    ("createfsync", "create + write 4 KiB + fsync + close", "files/s",
     "ops_s"),
    ("office", "office mix (small files, renames, deletes)", "ops/s",
     "ops_s"),
    ("freeze_kill", "failover freeze, NAS a / brick killed", "s stall",
     "seconds"),
    ("freeze_hang", "failover freeze, NAS a / brick hung", "s stall",
     "seconds"),
]
LOWER_BETTER = ("freeze_kill", "freeze_hang")
SYSTEMS = ("raw", "ofsrep", "journal", "full", "async", "gluster")
NAMES = {"raw": "raw libnfs", "ofsrep": "ofsrep primary_only",
         "journal": "ofsrep default (journal)", "full": "ofsrep full",
         "async": "ofsrep async", "gluster": "GlusterFS replica 2"}
SHORT = {"raw": "raw", "ofsrep": "primary_only", "journal": "default",
         "full": "full", "async": "async", "gluster": "gluster"}
DAEMONS = ("ofsrep", "journal", "full", "async", "gluster")
BASE = "journal"
# ratio column -> (numerator, denominator, table header)
RATIOS = [(s + "_journal", s, BASE, "%s/default" % SHORT[s])
          for s in ("raw", "ofsrep", "full", "async", "gluster")] + [
    ("ofsrep_raw", "ofsrep", "raw", "primary_only/raw"),
    ("journal_raw", "journal", "raw", "default/raw"),
]
# the targets: (kind, workload, figure); kinds:
#   x_gluster: default >= figure x GlusterFS; x_raw: default >= figure x raw
#   stall: default's stall <= figure seconds
TARGETS = ([("x_gluster", w, 2.0) for w in
            ("seqwrite", "randwrite4k", "randwrite4k_16", "create", "stat",
             "unlink")] +
           [("x_gluster", w, 1.0) for w in
            ("seqread", "seqread_warm", "randread4k", "randread4k_16",
             "createfsync", "office", "freeze_kill", "freeze_hang")] +
           [("x_raw", "seqwrite", 0.6), ("x_raw", "seqread", 0.85),
            ("stall", "freeze_kill", 1.0), ("stall", "freeze_hang", 5.0)])


def from_jsonl(path):
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    if not recs:
        raise ValueError("%s: no result line" % path)
    secs = max(r["seconds"] for r in recs)
    nbytes = sum(r["bytes"] for r in recs)
    ops = sum(r["ops"] for r in recs)
    return secs, nbytes, ops, 0


def from_fio(path):
    with open(path) as f:
        text = f.read()
    # fio may print notes before the JSON object
    job = json.loads(text[text.index("{"):])["jobs"][0]
    if job.get("error"):
        raise ValueError("%s: fio error %s" % (path, job["error"]))
    side = job["write"] if job["write"]["io_bytes"] else job["read"]
    return side["runtime"] / 1000.0, side["io_bytes"], side["total_ios"], 0


def from_freeze(path):
    with open(path) as f:
        rec = json.loads(f.read().strip().splitlines()[-1])
    return rec["seconds"], rec["bytes"], rec["ops"], rec.get("errors", 0)


def load_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            system, wl, rep, kind, fpath, cpu, hwm = \
                line.rstrip("\n").split("\t")
            secs, nbytes, ops, errors = {"fio": from_fio,
                                         "freeze": from_freeze}.get(
                kind, from_jsonl)(fpath)
            s = max(secs, 1e-9)
            runs.append({
                "system": system, "workload": wl, "rep": int(rep),
                "seconds": secs, "bytes": nbytes, "ops": ops,
                "mib_s": nbytes / 2**20 / s, "ops_s": ops / s,
                "errors": errors,
                "daemon_cpu_s": None if cpu == "-" else float(cpu),
                "daemon_hwm_mib": None if hwm == "-" else int(hwm) / 1024,
            })
    return runs


def summarise(runs):
    rows = []
    for wl, label, unit, field in WORKLOADS:
        row = {"workload": wl, "label": label, "unit": unit}
        for system in SYSTEMS:
            vals = [r[field] for r in runs
                    if r["workload"] == wl and r["system"] == system]
            row[system] = ((statistics.median(vals), min(vals), max(vals),
                            len(vals)) if vals else None)
        for system in DAEMONS:
            mine = [r for r in runs
                    if r["workload"] == wl and r["system"] == system]
            cpu = [r["daemon_cpu_s"] for r in mine
                   if r["daemon_cpu_s"] is not None]
            hwm = [r["daemon_hwm_mib"] for r in mine
                   if r["daemon_hwm_mib"] is not None]
            row["cpu_" + system] = statistics.median(cpu) if cpu else None
            row["hwm_" + system] = max(hwm) if hwm else None
        row["errors"] = {s: sum(r["errors"] for r in runs
                                if r["workload"] == wl and r["system"] == s)
                         for s in SYSTEMS}
        for key, num, den, _ in RATIOS:
            row[key] = (row[num][0] / row[den][0]
                        if row[num] and row[den] and row[den][0] else None)
        if any(row[system] for system in SYSTEMS):
            rows.append(row)
    return rows


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v if v >= 10 else "%.2f" % v


def cell(stat):
    if not stat:
        return "—"
    return "%s [%s–%s]" % (fmt(stat[0]), fmt(stat[1]), fmt(stat[2]))


def opt(v, form):
    return form % v if v is not None else "—"


def target_lines(rows):
    """One line per target with figures: "meets" or "BELOW" (by how much)."""
    out = []
    byname = {r["workload"]: r for r in rows}
    for kind, wl, fig in TARGETS:
        r = byname.get(wl)
        if not r or not r[BASE]:
            continue
        d = r[BASE][0]
        if kind == "stall":
            ok = d <= fig
            out.append("Target default stall ≤ %g s on %s: %.2f s, %s." % (
                fig, wl, d, "meets" if ok else
                "BELOW (%.1f× the bound)" % (d / fig)))
            continue
        other = "gluster" if kind == "x_gluster" else "raw"
        if not r[other]:
            continue
        o = r[other][0]
        if wl in LOWER_BETTER:
            # a stall: "at least as good" means no longer than GlusterFS's
            ok = d <= o / fig
            out.append("Target default ≥ GlusterFS on %s (stall no longer):"
                       " %.2f s vs %.2f s, %s." % (
                           wl, d, o, "meets" if ok else "BELOW"))
            continue
        ratio = d / o if o else float("inf")
        out.append("Target default ≥ %g× %s on %s: %s vs %s %s, %.2f×, %s." % (
            fig, NAMES[other], wl, fmt(d), fmt(o), r["unit"], ratio,
            "meets" if ratio >= fig else
            "BELOW (%.0f%% of the target)" % (100 * ratio / fig)))
    peaks = ["%s %.0f MiB" % (SHORT[dm], max(r["hwm_" + dm] for r in rows
                                             if r["hwm_" + dm] is not None))
             for dm in DAEMONS
             if any(r["hwm_" + dm] is not None for r in rows)]
    if peaks:
        out.append("Daemon peak RSS over all rows (reported, no bound): "
                   + ", ".join(peaks) + ".")
    return out


def freeze_cell(r, system):
    stat = r[system]
    if not stat:
        return "n/a"
    c = cell(stat)
    if r["errors"][system]:
        c += " (%d failed writes)" % r["errors"][system]
    return c


def write_md(rows, path, title, notes):
    out = ["# %s" % title, ""]
    out += ["- %s" % n for n in notes]
    out += ["", "Each figure: median [min–max] of the repetitions; higher is "
            "better, but for the freeze rows (longest stall of a writer, "
            "seconds: lower is better; n/a: no failover).  Ratios are of "
            "the medians, against ofsrep default (-o journal); a freeze "
            "ratio is a ratio of stalls.  Daemon CPU: median utime+stime "
            "per run; peak RSS: highest VmHWM over the runs (GlusterFS: "
            "client + both bricks, summed).", "",
            "| workload | unit | " + " | ".join(NAMES[s] for s in SYSTEMS)
            + " | " + " | ".join(h for _, _, _, h in RATIOS) + " |",
            "|---|---|" + "---:|" * (len(SYSTEMS) + len(RATIOS))]
    for r in rows:
        cells = [freeze_cell(r, s) if r["workload"] in LOWER_BETTER
                 else cell(r[s]) for s in SYSTEMS]
        out.append("| " + " | ".join(
            [r["label"], r["unit"]] + cells
            + [opt(r[k], "%.2f") for k, _, _, _ in RATIOS]) + " |")
    out += ["", "Daemon CPU seconds (median per run) and peak RSS MiB:", "",
            "| workload | " + " | ".join("CPU s " + SHORT[d] for d in DAEMONS)
            + " | " + " | ".join("RSS MiB " + SHORT[d] for d in DAEMONS)
            + " |", "|---|" + "---:|" * (2 * len(DAEMONS))]
    for r in rows:
        out.append("| " + " | ".join(
            [r["workload"]]
            + [opt(r["cpu_" + d], "%.2f") for d in DAEMONS]
            + [opt(r["hwm_" + d], "%.0f") for d in DAEMONS]) + " |")
    out.append("")
    out += target_lines(rows)
    out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


def write_json(rows, path, notes):
    def st(v):
        return (None if not v else
                {"median": v[0], "min": v[1], "max": v[2], "reps": v[3]})
    with open(path, "w") as f:
        json.dump({"notes": notes, "targets": target_lines(rows),
                   "rows": [dict({k: (st(v) if k in SYSTEMS else v)
                                  for k, v in r.items()}) for r in rows]},
                  f, indent=1)


def write_csv(rows, path):
    def num(v, form):
        return form % v if v is not None else ""

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "unit"]
                   + ["%s_%s" % (s, m) for s in SYSTEMS
                      for m in ("median", "min", "max")]
                   + [k for k, _, _, _ in RATIOS]
                   + ["%s_cpu_s_median" % d for d in DAEMONS]
                   + ["%s_peak_rss_mib" % d for d in DAEMONS]
                   + ["reps"])
        for r in rows:
            stats = [r[s] or (None,) * 4 for s in SYSTEMS]
            w.writerow([r["workload"], r["unit"]]
                       + [num(v, "%.3f") for st in stats for v in st[:3]]
                       + [num(r[k], "%.3f") for k, _, _, _ in RATIOS]
                       + [num(r["cpu_" + d], "%.3f") for d in DAEMONS]
                       + [num(r["hwm_" + d], "%.1f") for d in DAEMONS]
                       + [max(st[3] or 0 for st in stats)])


def write_runs_csv(runs, path):
    keys = ["system", "workload", "rep", "seconds", "bytes", "ops", "mib_s",
            "ops_s", "errors", "daemon_cpu_s", "daemon_hwm_mib"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in runs:
            w.writerow({k: ("" if r[k] is None else
                            "%.6g" % r[k] if isinstance(r[k], float)
                            else r[k]) for k in keys})


def write_dat(rows, path):
    """For plot.gp: throughput rows normalised to ofsrep default's median:
    label, then median min max per system (NaN: not measured); and
    latest-freeze.dat with the stall rows in seconds."""
    with open(path, "w") as f:
        f.write("# workload " + " ".join("%s %s_min %s_max" % (s, s, s)
                                         for s in SYSTEMS) + "\n")
        for r in rows:
            if r["workload"] in LOWER_BETTER or not (r[BASE] and r[BASE][0]):
                continue
            base = r[BASE][0]
            vals = []
            for s in SYSTEMS:
                vals += [v / base for v in r[s][:3]] if r[s] else [None] * 3
            f.write('"%s" %s\n' % (r["workload"], " ".join(
                "NaN" if v is None else "%.4f" % v for v in vals)))
    with open(path.replace(".dat", "-freeze.dat"), "w") as f:
        f.write("# workload, then median min max seconds per system\n")
        for r in rows:
            if r["workload"] not in LOWER_BETTER:
                continue
            vals = []
            for s in SYSTEMS:
                vals += list(r[s][:3]) if r[s] else [None] * 3
            f.write('"%s" %s\n' % (r["workload"], " ".join(
                "NaN" if v is None else "%.4f" % v for v in vals)))


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    runs_path, outdir = argv[1], argv[2]
    title, notes, i = "ofsrep data-path benchmark", [], 3
    while i < len(argv):
        if argv[i] == "--title" and i + 1 < len(argv):
            title = argv[i + 1]
        elif argv[i] == "--note" and i + 1 < len(argv):
            notes.append(argv[i + 1])
        else:
            print("report.py: bad argument %r" % argv[i], file=sys.stderr)
            return 2
        i += 2
    runs = load_runs(runs_path)
    rows = summarise(runs)
    os.makedirs(outdir, exist_ok=True)
    write_md(rows, os.path.join(outdir, "latest.md"), title, notes)
    write_csv(rows, os.path.join(outdir, "latest.csv"))
    write_json(rows, os.path.join(outdir, "latest.json"), notes)
    write_runs_csv(runs, os.path.join(outdir, "latest-runs.csv"))
    write_dat(rows, os.path.join(outdir, "latest.dat"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
