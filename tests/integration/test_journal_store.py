"""The journal on a real secondary export: replica/jstore.c through
tools/ofsrep-journal, against ganesha (the lab's NAS b).

`append` writes synthetic records through the appender, one durable WRITE
per group, and resumes an existing journal in a new epoch; `check` reads
every segment back and reports how the journal ends, exit 0 (clean or torn
tail), 4 (damaged), 8 (operational error), 16 (usage).  Damage is made by
editing the segment files in the export directory on this machine's disk,
behind ganesha's back, as a faulty disk or a careless operator would.

Environment: OFSREP_JOURNAL (default: ofsrep-journal next to OFSREP_BIN,
else build/ofsrep-journal).
"""
import json
import os
import struct
import subprocess
import time

from conftest import journal_bin, journal_run

SEG_HDR = 64
REC_HDR = 56
TIMEOUT_MS = 2000


def run(lab, cmd, node, *args, timeout=60):
    """ofsrep-journal CMD <NAS b URL> --node NODE ARGS."""
    return journal_run(lab, cmd, node, *args, timeout=timeout,
                       timeout_ms=TIMEOUT_MS)


def append(lab, node, count, *args):
    proc = run(lab, "append", node, "--count", count, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def check(lab, node):
    """(exit status, the --json report, the text report)."""
    proc = run(lab, "check", node, "--json")
    assert proc.stdout, proc.stderr
    text = run(lab, "check", node)
    assert text.returncode == proc.returncode, text.stderr
    return proc.returncode, json.loads(proc.stdout), text.stdout


def jdir(lab, node):
    return lab.export_dir("b") / ".ofsrep" / "journal" / str(node)


def segments(lab, node):
    return sorted(jdir(lab, node).glob("*.seg"))


def records(path):
    """(offset, reclen, seq, gidx) of each whole record in a segment file,
    from the RECORD table of journal/format.h."""
    data = path.read_bytes()
    out, off = [], SEG_HDR
    while off + REC_HDR <= len(data):
        paylen, gidx = struct.unpack_from("<II", data, off + 16)
        (seq,) = struct.unpack_from("<Q", data, off + 32)
        reclen = REC_HDR + (paylen + 7) // 8 * 8
        if off + reclen > len(data):
            break
        out.append((off, reclen, seq, gidx))
        off += reclen
    return out


def flip_bit(path, offset, bit=3):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ (1 << bit)]))


# ------------------------------------------------------------ clean paths

def test_append_then_check_is_clean(lab):
    out = append(lab, 7, 1000, "--group", 16)
    assert (out["records"], out["first_seq"], out["last_seq"]) == (1000, 1, 1000)
    assert out["groups"] == 63 and out["segments_created"] == 1
    rc, rep, text = check(lab, 7)
    assert rc == 0, text
    assert rep["status"] == "clean" and rep["end"]["kind"] == "clean end"
    assert (rep["records"], rep["first_seq"], rep["last_seq"]) == (1000, 1, 1000)
    assert rep["segments"] == 1 and rep["epochs"] == 1
    assert rep["last_epoch"] == out["epoch"]
    assert sum(rep["types"].values()) == 1000
    assert set(rep["types"]) == {"create", "write", "setattr", "setxattr"}
    assert text.startswith("node 7: clean: 1000 records (seq 1..1000)")
    # the layout of journal/format.h and replica/jstore.h, private modes
    d = jdir(lab, 7)
    assert [p.name for p in d.iterdir()] == ["0000000000000000.seg"]
    for p in (d.parent.parent, d.parent, d):
        assert p.stat().st_mode & 0o777 == 0o700, p
    assert (d / "0000000000000000.seg").stat().st_mode & 0o777 == 0o600


def test_second_run_continues_the_journal(lab):
    first = append(lab, 3, 300, "--group", 32)
    second = append(lab, 3, 200, "--group", 32)
    assert second["epoch"] > first["epoch"]
    assert (second["first_seq"], second["last_seq"]) == (301, 500)
    rc, rep, text = check(lab, 3)
    assert rc == 0, text
    assert rep["status"] == "clean"
    assert (rep["records"], rep["last_seq"], rep["epochs"]) == (500, 500, 2)
    s0, s1 = rep["segs"]
    assert (s0["segno"], s0["epoch"], s0["records"], s0["end"]) == \
        (0, first["epoch"], 300, "sealed")
    # a new segment in the new epoch, seq and chain continued (the reader
    # checks chain_seed against the last record's checksum)
    assert (s1["segno"], s1["epoch"], s1["first_seq"], s1["records"]) == \
        (1, second["epoch"], 301, 200)
    # seq 301 is inside a synthetic file's cycle: the run BINDs it first
    assert rep["types"]["bind"] == 1


def test_group_size_does_not_change_the_records(lab):
    one = append(lab, 1, 400, "--group", 1)
    many = append(lab, 2, 400, "--group", 64)
    assert (one["groups"], many["groups"]) == (400, 7)
    rc1, rep1, _ = check(lab, 1)
    rc2, rep2, _ = check(lab, 2)
    assert rc1 == rc2 == 0
    assert rep1["status"] == rep2["status"] == "clean"
    assert rep1["records"] == rep2["records"] == 400
    # type, payload length and payload of every record, in order
    assert rep1["ops_digest"] == rep2["ops_digest"]
    assert rep1["types"] == rep2["types"]
    gidx1 = {g for _, _, _, g in records(segments(lab, 1)[0])}
    gidx2 = {g for _, _, _, g in records(segments(lab, 2)[0])}
    assert gidx1 == {0} and gidx2 == set(range(64))


# ------------------------------------------------------------ damage on disk

def test_truncated_last_record_is_a_torn_tail(lab):
    append(lab, 4, 100, "--group", 10)
    seg = segments(lab, 4)[-1]
    off, reclen, seq, _ = records(seg)[-1]
    assert seq == 100
    os.truncate(seg, off + reclen - 20)
    rc, rep, text = check(lab, 4)
    assert rc == 0, text
    assert rep["status"] == "torn" and rep["end"]["kind"] == "torn tail"
    assert rep["records"] == 99 and rep["end"]["seq"] == 100
    assert "torn tail (end of log, not an error)" in text
    # the next run seals the torn bytes off and continues after seq 99
    out = append(lab, 4, 10)
    assert out["first_seq"] == 100
    rc, rep, text = check(lab, 4)
    assert rc == 0 and rep["status"] == "clean", text
    assert rep["records"] == 109
    assert rep["segs"][0]["ignored"] == reclen - 20
    assert "bytes after seq 99 ignored" in text


def test_empty_last_segment_is_end_of_log_and_rewritten(lab):
    append(lab, 14, 50, "--group", 10)
    # a crash between creating segment 1 and its first group landing whole:
    # half a header
    seg1 = jdir(lab, 14) / "0000000000000001.seg"
    seg1.write_bytes(segments(lab, 14)[0].read_bytes()[:40])
    lab.nas("b", "kill")     # ganesha caches the directory: restart it
    lab.nas("b", "start")
    rc, rep, text = check(lab, 14)
    assert rc == 0, text
    assert rep["status"] == "empty" and rep["records"] == 50
    assert "empty last segment (end of log, not an error)" in text
    # the next epoch rewrites that segment (W5) and continues the chain
    out = append(lab, 14, 20)
    assert out["first_seq"] == 51 and out["segments_created"] == 1
    rc, rep, text = check(lab, 14)
    assert rc == 0 and rep["status"] == "clean", text
    assert rep["records"] == 70
    assert [s["segno"] for s in rep["segs"]] == [0, 1]
    assert rep["segs"][1]["first_seq"] == 51


def test_flipped_bit_before_later_groups_is_damage(lab):
    append(lab, 5, 200, "--group", 10)
    seg = segments(lab, 5)[0]
    off, reclen, seq, _ = next(r for r in records(seg) if r[2] == 55)
    flip_bit(seg, off + REC_HDR + 4)
    rc, rep, text = check(lab, 5)
    assert rc == 4, text
    assert rep["status"] == "damaged"
    assert rep["end"]["why"] == "bad record"
    assert rep["end"]["rec"] == "checksum mismatch"
    # expected seq 55; valid records resume with the next group's first
    assert (rep["end"]["seq"], rep["end"]["found_seq"]) == (55, 61)
    assert rep["records"] == 54
    assert "DAMAGED" in text and "expected seq 55" in text
    # and the writer refuses to continue a damaged journal
    proc = run(lab, "append", 5, "--count", 1)
    assert proc.returncode == 4
    assert proc.stderr.count("\n") == 1 and "check" in proc.stderr


def many_segments(lab, node):
    append(lab, node, 300, "--group", 8, "--seg-limit", 4096)
    segs = segments(lab, node)
    assert len(segs) >= 5
    return segs


def test_deleted_middle_segment_is_a_gap(lab):
    segs = many_segments(lab, 6)
    before = check(lab, 6)[1]
    assert before["status"] == "clean" and before["records"] == 300
    segs[2].unlink()
    # ganesha caches directory entries and keeps the old file open, so a
    # file deleted behind its back is still served until it restarts (as
    # after a reboot of the NAS)
    lab.nas("b", "kill")
    lab.nas("b", "start")
    rc, rep, text = check(lab, 6)
    assert rc == 4, text
    assert rep["status"] == "damaged" and rep["end"]["why"] == "gap: records missing"
    assert rep["records"] == sum(s["records"] for s in before["segs"][:2])


def test_segment_copied_over_another_is_damage(lab):
    segs = many_segments(lab, 8)
    segs[1].write_bytes(segs[0].read_bytes())
    rc, rep, text = check(lab, 8)
    assert rc == 4, text
    assert rep["status"] == "damaged"
    assert rep["end"]["why"] == "duplicated segment"
    # a later segment copied back over an earlier one: out of order
    segs = many_segments(lab, 9)
    segs[1].write_bytes(segs[3].read_bytes())
    rc, rep, text = check(lab, 9)
    assert rc == 4, text
    assert rep["status"] == "damaged"
    assert rep["end"]["why"] in ("gap: records missing",
                                 "segment out of order")


# ------------------------------------------------------------ the NAS dies

def wait_for_bytes(d, nbytes, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(p.stat().st_size for p in d.glob("*.seg")) >= nbytes:
            return
        time.sleep(0.02)
    raise AssertionError(f"append wrote less than {nbytes} bytes in {timeout} s")


def test_secondary_killed_during_append(lab):
    # groups of 1 MiB and more: libnfs splits them into several WRITEs, so
    # the kill often leaves a group in part (a torn tail)
    group = 256
    cmd = [journal_bin(), "append", lab.url("b"), "--node", "11",
           "--count", "50000000", "--group", str(group), "--payload", "4096",
           "--timeout-ms", str(TIMEOUT_MS)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    try:
        wait_for_bytes(jdir(lab, 11), 4 << 20)
        lab.nas("b", "kill")
        t_kill = time.monotonic()
        _, err = proc.communicate(timeout=TIMEOUT_MS / 1000 + 10)
        took = time.monotonic() - t_kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 8, err
    assert took < TIMEOUT_MS / 1000 + 3, f"append took {took:.1f} s to fail"
    assert err.count("\n") == 1, err
    assert lab.url("b") in err and "/.ofsrep/journal/11/" in err
    durable = int(err.split("durable up to seq ")[1].split(",")[0])
    assert durable > 0

    # down: check is an operational error, one line, in bounded time
    t0 = time.monotonic()
    down = run(lab, "check", 11)
    assert down.returncode == 8 and down.stderr.count("\n") == 1, down.stderr
    assert time.monotonic() - t0 < TIMEOUT_MS / 1000 + 3

    lab.nas("b", "start")
    rc, rep, text = check(lab, 11)
    assert rc == 0, text
    # the group in flight may have landed whole, in part, or not at all
    print(f"after the kill: {rep['status']}, {rep['records']} records, "
          f"{durable} acknowledged")
    assert rep["status"] in ("clean", "torn", "empty"), text
    if rep["status"] == "torn":
        assert "torn tail (end of log, not an error)" in text
    assert durable <= rep["records"] <= durable + group

    # a new run resumes after the last valid record, in a new epoch; the
    # torn bytes are sealed off (reported, ignored) and an empty segment
    # is rewritten
    out = append(lab, 11, 100)
    assert out["first_seq"] == rep["records"] + 1
    rc, after, text = check(lab, 11)
    assert rc == 0 and after["status"] == "clean", text
    assert (after["records"], after["epochs"]) == (rep["records"] + 100, 2)
    assert (after["ignored"] > 0) == (rep["status"] == "torn"), text


# ------------------------------------------------------------ checkpoint

def test_checkpoint_alternates_slots_and_survives_a_bad_slot(lab):
    append(lab, 12, 100, "--group", 10)
    proc = run(lab, "ckpt", 12, "--seq", 40)
    assert proc.returncode == 0 and "slot 0: seq 40" in proc.stdout, proc.stderr
    rc, rep, _ = check(lab, 12)
    ck = rep["checkpoint"]
    assert rc == 0 and (ck["slot"], ck["seq"], ck["pending"]) == (0, 40, 60)
    assert ck["consistent"]
    proc = run(lab, "ckpt", 12, "--seq", 70)
    assert proc.returncode == 0 and "slot 1: seq 70" in proc.stdout, proc.stderr
    rc, rep, _ = check(lab, 12)
    ck = rep["checkpoint"]
    assert rc == 0 and (ck["slot"], ck["seq"], ck["pending"]) == (1, 70, 30)
    ckpt = jdir(lab, 12) / "applied.ckpt"
    assert ckpt.stat().st_size == 128
    # a torn write of slot 1 leaves slot 0
    flip_bit(ckpt, 64 + 30)
    rc, rep, text = check(lab, 12)
    ck = rep["checkpoint"]
    assert rc == 0 and (ck["slot"], ck["seq"], ck["pending"]) == (0, 40, 60), text
    # a seq the journal does not have is refused, one line
    proc = run(lab, "ckpt", 12, "--seq", 101)
    assert proc.returncode == 8 and proc.stderr.count("\n") == 1


def test_checkpoint_that_does_not_fit_the_journal_is_damage(lab):
    append(lab, 13, 100, "--group", 10)
    assert run(lab, "ckpt", 13, "--seq", 50).returncode == 0
    # the journal is replaced by another history of the same length
    for p in segments(lab, 13):
        p.unlink()
    append(lab, 13, 100, "--group", 10)
    rc, rep, text = check(lab, 13)
    assert rc == 4, text
    assert rep["status"] == "clean" and not rep["checkpoint"]["consistent"]
    assert "INCONSISTENT" in text


# ------------------------------------------------------------ bad input

def test_bad_input_is_one_usage_line():
    url = "nfs://127.0.0.1/x?nfsport=1&mountport=1"
    cases = [
        [],
        ["frobnicate"],
        ["check"],
        ["check", "http://host/x", "--node", "1"],
        ["check", url],
        ["check", url, "--node", "1", "--count", "3"],
        ["append", url, "--node", "1"],
        ["append", url, "--node", "0", "--count", "5"],
        ["append", url, "--node", "1", "--count", "5", "--payload", "2m"],
        ["append", url, "--node", "1", "--count"],
        ["append", url, "--node", "1", "--count", "5", "--bogus"],
        ["ckpt", url, "--node", "1"],
    ]
    for args in cases:
        proc = subprocess.run([journal_bin(), *args], capture_output=True,
                              text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert proc.returncode == 16, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and not proc.stdout, (args, proc.stderr)
