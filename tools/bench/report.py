#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""report.py -- turns tools/bench.sh's run log into the result files.

    report.py RUNS.tsv OUTDIR --title TEXT [--note TEXT]...

RUNS.tsv has one line per measured run, written by bench.sh:

    system  workload  rep  kind  file  daemon_cpu_s  daemon_hwm_kib

system is "raw" or "ofsrep"; kind says how to read file:
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
SYSTEMS = ("raw", "ofsrep")
TARGET = 0.8          # docs/benchmarks.md: ofsrep >= 0.8x raw, seq I/O
TARGET_ROWS = ("seqwrite", "seqread")


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
        mine = [r for r in runs
                if r["workload"] == wl and r["system"] == "ofsrep"]
        cpu = [r["daemon_cpu_s"] for r in mine if r["daemon_cpu_s"] is not None]
        hwm = [r["daemon_hwm_mib"] for r in mine
               if r["daemon_hwm_mib"] is not None]
        row["cpu"] = statistics.median(cpu) if cpu else None
        row["hwm"] = max(hwm) if hwm else None
        row["ratio"] = (row["ofsrep"][0] / row["raw"][0]
                        if row["raw"] and row["ofsrep"] and row["raw"][0]
                        else None)
        if row["raw"] or row["ofsrep"]:
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


def write_md(rows, path, title, notes):
    out = ["# %s" % title, ""]
    out += ["- %s" % n for n in notes]
    out += ["", "Each figure: median [min–max] of the repetitions; higher is "
            "better.  Daemon CPU: median utime+stime of the ofsrep process "
            "per run; peak RSS: highest VmHWM over the runs.", "",
            "| workload | unit | raw libnfs | ofsrep | ofsrep/raw "
            "| daemon CPU s | daemon peak RSS MiB |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], r["unit"], cell(r["raw"]), cell(r["ofsrep"]),
            "%.2f" % r["ratio"] if r["ratio"] is not None else "—",
            "%.2f" % r["cpu"] if r["cpu"] is not None else "—",
            "%.0f" % r["hwm"] if r["hwm"] is not None else "—"))
    out.append("")
    for r in rows:
        if r["workload"] in TARGET_ROWS and r["ratio"] is not None:
            verdict = "meets" if r["ratio"] >= TARGET else "BELOW"
            out.append("Target ofsrep/raw ≥ %.1f on %s: %.2f, %s." % (
                TARGET, r["workload"], r["ratio"], verdict))
    out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "unit", "raw_median", "raw_min", "raw_max",
                    "ofsrep_median", "ofsrep_min", "ofsrep_max", "ratio",
                    "daemon_cpu_s_median", "daemon_peak_rss_mib", "reps"])
        for r in rows:
            raw = r["raw"] or (None,) * 4
            ofs = r["ofsrep"] or (None,) * 4
            w.writerow([r["workload"], r["unit"],
                        *("%.3f" % v if v is not None else ""
                          for v in raw[:3] + ofs[:3]),
                        "%.3f" % r["ratio"] if r["ratio"] is not None else "",
                        "%.3f" % r["cpu"] if r["cpu"] is not None else "",
                        "%.1f" % r["hwm"] if r["hwm"] is not None else "",
                        max(raw[3] or 0, ofs[3] or 0)])


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
    """Throughput normalised to the raw median: label raw lo hi ofs lo hi."""
    with open(path, "w") as f:
        f.write("# workload raw raw_min raw_max ofsrep ofsrep_min ofsrep_max\n")
        for r in rows:
            if not (r["raw"] and r["ofsrep"] and r["raw"][0]):
                continue
            base = r["raw"][0]
            vals = [v / base for v in r["raw"][:3] + r["ofsrep"][:3]]
            f.write('"%s" %s\n' % (r["workload"],
                                   " ".join("%.4f" % v for v in vals)))


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
