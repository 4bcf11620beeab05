#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""report.py -- turns tools/bench.sh's run log into the result files.

    report.py RUNS.tsv OUTDIR --title TEXT [--note TEXT]...

RUNS.tsv has one line per measured run, written by bench.sh:

    system  workload  rep  kind  file  daemon_cpu_s  daemon_hwm_kib

system is "raw", "ofsrep" (-o primary_only) or "journal" (-o journal,
shown as "ofsrep-journal"); kind says how to read file:
  jsonl  one or more ofsrep-rawnfs / meta.py JSON lines; several lines are
         parallel clients: ops and bytes add up, seconds is the slowest
  fio    fio --output-format=json (group_reporting: one job entry)
daemon_* are "-" for the raw client.

Writes OUTDIR/latest.md (the table), latest.csv (one row per workload),
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
    ("create", "create + write 4 KiB + close", "files/s", "ops_s"),
    ("stat", "stat (cold cache)", "files/s", "ops_s"),
    ("unlink", "unlink", "files/s", "ops_s"),
]
SYSTEMS = ("raw", "ofsrep", "journal")
DAEMONS = ("ofsrep", "journal")     # the mounted systems
# ratio column -> (numerator, denominator, table header)
RATIOS = [
    ("ofsrep_raw", "ofsrep", "raw", "ofsrep/raw"),
    ("journal_raw", "journal", "raw", "journal/raw"),
    ("journal_ofsrep", "journal", "ofsrep", "journal/primary_only"),
]
# docs/benchmarks.md: (ratio column, workload, at least, what)
TARGETS = [
    ("ofsrep_raw", "seqwrite", 0.8, "ofsrep/raw"),
    ("ofsrep_raw", "seqread", 0.8, "ofsrep/raw"),
    ("journal_raw", "seqwrite", 0.6, "journal/raw"),
    ("journal_raw", "seqread", 0.85, "journal/raw"),
    ("journal_ofsrep", "create", 1 / 1.5, "journal/primary_only"),
]


def from_jsonl(path):
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    if not recs:
        raise ValueError("%s: no result line" % path)
    secs = max(r["seconds"] for r in recs)
    nbytes = sum(r["bytes"] for r in recs)
    ops = sum(r["ops"] for r in recs)
    return secs, nbytes, ops


def from_fio(path):
    with open(path) as f:
        text = f.read()
    # fio may print notes before the JSON object
    job = json.loads(text[text.index("{"):])["jobs"][0]
    if job.get("error"):
        raise ValueError("%s: fio error %s" % (path, job["error"]))
    side = job["write"] if job["write"]["io_bytes"] else job["read"]
    return side["runtime"] / 1000.0, side["io_bytes"], side["total_ios"]


def load_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            system, wl, rep, kind, fpath, cpu, hwm = \
                line.rstrip("\n").split("\t")
            secs, nbytes, ops = (from_fio if kind == "fio"
                                 else from_jsonl)(fpath)
            s = max(secs, 1e-9)
            runs.append({
                "system": system, "workload": wl, "rep": int(rep),
                "seconds": secs, "bytes": nbytes, "ops": ops,
                "mib_s": nbytes / 2**20 / s, "ops_s": ops / s,
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
    """One line per target with a figure: "meets" or "BELOW"."""
    out = []
    byname = {r["workload"]: r for r in rows}
    for key, wl, least, what in TARGETS:
        r = byname.get(wl)
        if not r or r[key] is None:
            continue
        verdict = "meets" if r[key] >= least else "BELOW"
        if key == "journal_ofsrep":
            # "within 1.5x of the primary path": files/s against theirs
            out.append("Target journal ≥ primary_only / 1.5 on %s: %s vs "
                       "%s / 1.5 = %s %s, ratio %.2f (≥ %.2f), %s." % (
                           wl, fmt(r["journal"][0]), fmt(r["ofsrep"][0]),
                           fmt(r["ofsrep"][0] / 1.5), r["unit"], r[key],
                           least, verdict))
        else:
            out.append("Target %s ≥ %.2g on %s: %.2f, %s." % (
                what, least, wl, r[key], verdict))
    return out


def write_md(rows, path, title, notes):
    out = ["# %s" % title, ""]
    out += ["- %s" % n for n in notes]
    out += ["", "Each figure: median [min–max] of the repetitions; higher is "
            "better.  ofsrep: -o primary_only; ofsrep-journal: -o journal "
            "(every mutation durable in NAS b's journal before its reply; "
            "the daemon also applies the journal to the mirror on NAS b "
            "meanwhile).  "
            "Ratios are of the medians.  Daemon CPU: median utime+stime of "
            "that daemon per run; peak RSS: its highest VmHWM over the "
            "runs.", "",
            "| workload | unit | raw libnfs | ofsrep | ofsrep-journal | "
            + " | ".join(h for _, _, _, h in RATIOS) +
            " | CPU s ofsrep | CPU s journal "
            "| peak RSS MiB ofsrep | peak RSS MiB journal |",
            "|---|---|" + "---:|" * 10]
    for r in rows:
        out.append("| " + " | ".join(
            [r["label"], r["unit"]]
            + [cell(r[s]) for s in SYSTEMS]
            + [opt(r[k], "%.2f") for k, _, _, _ in RATIOS]
            + [opt(r["cpu_" + d], "%.2f") for d in DAEMONS]
            + [opt(r["hwm_" + d], "%.0f") for d in DAEMONS]) + " |")
    out.append("")
    out += target_lines(rows)
    out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


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
            "ops_s", "daemon_cpu_s", "daemon_hwm_mib"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in runs:
            w.writerow({k: ("" if r[k] is None else
                            "%.6g" % r[k] if isinstance(r[k], float)
                            else r[k]) for k in keys})


def write_dat(rows, path):
    """Throughput normalised to the raw median, for plot.gp: label, then
    median min max of raw, ofsrep and journal, then the target of the
    ofsrep bar and of the journal bar on the same scale (NaN: none)."""
    with open(path, "w") as f:
        f.write("# workload raw raw_min raw_max ofsrep ofsrep_min ofsrep_max "
                "journal journal_min journal_max ofsrep_target "
                "journal_target\n")
        for r in rows:
            if not (r["raw"] and r["raw"][0]):
                continue
            base = r["raw"][0]
            vals = []
            for s in SYSTEMS:
                vals += [v / base for v in r[s][:3]] if r[s] else [None] * 3
            marks = {"ofsrep": None, "journal": None}
            for key, wl, least, _ in TARGETS:
                if wl != r["workload"]:
                    continue
                if key == "ofsrep_raw":
                    marks["ofsrep"] = least
                elif key == "journal_raw":
                    marks["journal"] = least
                elif key == "journal_ofsrep" and r["ofsrep_raw"] is not None:
                    marks["journal"] = least * r["ofsrep_raw"]
            vals += [marks["ofsrep"], marks["journal"]]
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
    write_runs_csv(runs, os.path.join(outdir, "latest-runs.csv"))
    write_dat(rows, os.path.join(outdir, "latest.dat"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
