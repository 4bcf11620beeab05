"""Samba sharing an ofsrep mount (docs/samba.md), with a real smbd
(tools/samba/smb.conf.in: acl_xattr, store dos attributes) and the real
smbclient and smbcacls, on a real lab in journal mode: files, names and
owners through SMB, ACCESS_DENIED where the unix permissions say so, DOS
attributes and NT ACLs (extended attributes ofsrep stores and replicates)
kept across a failover and a failback, and a put that rides through NAS a
or NAS b being killed in the middle."""
import hashlib
import os
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import ofsrep_bin, public_lab  # noqa: E402
from samba import Smbd  # noqa: E402
from test_failback import ask_failback, verify_pair  # noqa: E402
from test_failover import wait_serving  # noqa: E402
from test_journal_mode import mount_journal  # noqa: E402
from test_status import status  # noqa: E402

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "smbd"], capture_output=True).returncode,
    reason="smbd not installed (make deps)")


@pytest.fixture
def lab():
    """A lab in a world-searchable directory: smbd works as the test user,
    who must reach the mount (pytest's own tmp dirs are mode 0700)."""
    if not os.access(ofsrep_bin(), os.X_OK):
        pytest.skip(f"ofsrep binary {ofsrep_bin()} not built")
    with public_lab("ofsrep-smb-") as the_lab:
        yield the_lab


@pytest.fixture
def smb(lab, tmp_path):
    """smbd sharing the mount; the test user owns the directory "u" in
    it, as a user owns their profile directory."""
    env = {"OFSREP_MOUNT_OPTS": (os.environ.get("OFSREP_MOUNT_OPTS", "") +
                                 " -o failback=manual").strip()}
    mnt = mount_journal(lab, env)
    os.chmod(mnt, 0o755)
    server = Smbd(tmp_path / "smbd", mnt)
    try:
        server.start()
        u = os.path.join(mnt, "u")
        os.mkdir(u)
        os.chown(u, server.user.pw_uid, server.user.pw_gid)
        server.mnt = mnt
        server.local = tmp_path
        yield server
    finally:
        server.stop()


def ok(proc):
    """smbclient exits 0 even when a command failed: look for NT_STATUS."""
    assert proc.returncode == 0 and "NT_STATUS" not in proc.stdout + \
        proc.stderr, proc.stdout + proc.stderr
    return proc.stdout


def fail_back(smb, timeout=90):
    """NAS a is back: ask for the failback (failback=manual) until the
    resync let it happen, then wait until the primary serves."""
    deadline = time.monotonic() + timeout
    while ask_failback(smb.mnt).returncode != 0:
        assert time.monotonic() < deadline, status(smb.mnt)[2].stdout
        time.sleep(0.3)
    wait_serving(smb.mnt, "primary")


def random_file(path, size, seed):
    data = hashlib.shake_256(b"%d" % seed).digest(size)
    path.write_bytes(data)
    return data


def test_files_names_and_owners_through_smb(smb, lab):
    big = random_file(smb.local / "big", 5 << 20, 1)
    small = random_file(smb.local / "small", 4096, 2)
    ok(smb.smbclient("put %s u/big; put %s u/small; mkdir u/dir; "
                     "rename u/small u/dir/renamed; put %s u/gone; "
                     "del u/gone" % (smb.local / "big", smb.local / "small",
                                     smb.local / "small")))
    listing = ok(smb.smbclient("ls u/*"))
    assert "big" in listing and "dir" in listing and "gone" not in listing
    u = os.path.join(smb.mnt, "u")
    assert sorted(os.listdir(u)) == ["big", "dir"]
    assert open(os.path.join(u, "big"), "rb").read() == big
    assert open(os.path.join(u, "dir/renamed"), "rb").read() == small
    for p in ("big", "dir", "dir/renamed"):
        st = os.stat(os.path.join(u, p))
        assert (st.st_uid, st.st_gid) == (smb.user.pw_uid,
                                          smb.user.pw_gid), p
    ok(smb.smbclient("get u/big %s" % (smb.local / "back")))
    assert (smb.local / "back").read_bytes() == big
    smb.stop()
    lab.umount()
    verify_pair(lab)


def test_access_denied_where_the_unix_permissions_deny(smb):
    (smb.local / "x").write_bytes(b"x")
    proc = smb.smbclient("put %s top" % (smb.local / "x"))
    assert "NT_STATUS_ACCESS_DENIED" in proc.stdout + proc.stderr, \
        proc.stdout
    assert not os.path.exists(os.path.join(smb.mnt, "top"))
    theirs = os.path.join(smb.mnt, "u", "roots")
    with open(theirs, "wb") as f:
        f.write(b"root's own")
    os.chmod(theirs, 0o644)
    proc = smb.smbclient("put %s u/roots" % (smb.local / "x"))
    assert "NT_STATUS_ACCESS_DENIED" in proc.stdout + proc.stderr, \
        proc.stdout
    proc = smb.smbclient("mkdir newdir")
    assert "NT_STATUS_ACCESS_DENIED" in proc.stdout + proc.stderr, \
        proc.stdout
    assert open(theirs, "rb").read() == b"root's own"


ACE = "ACL:BUILTIN\\Administrators:ALLOWED/0x0/READ"


def dos_attributes(smb, path):
    out = ok(smb.smbclient("allinfo %s" % path))
    line = [ln for ln in out.splitlines() if ln.startswith("attributes:")]
    assert line, out
    return line[0].split()[1]


def test_dos_attributes_and_nt_acls_survive_failover_and_failback(smb, lab):
    (smb.local / "doc").write_bytes(b"a document")
    ok(smb.smbclient("put %s u/doc; mkdir u/folder; setmode u/doc +hs" %
                     (smb.local / "doc")))
    assert dos_attributes(smb, "u/doc") == "HSA"
    proc = smb.smbcacls("u/doc", "-a", ACE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BUILTIN\\Administrators:ALLOWED/0x0/READ" in \
        smb.smbcacls("u/doc").stdout
    doc = os.path.join(smb.mnt, "u", "doc")
    assert {"user.DOSATTRIB", "security.NTACL"} <= set(os.listxattr(doc))
    lab.nas("a", "kill")
    # served from the mirror: the attributes and the ACL are there
    assert dos_attributes(smb, "u/doc") == "HSA"
    wait_serving(smb.mnt, "mirror")
    acl = smb.smbcacls("u/doc")
    assert acl.returncode == 0 and \
        "BUILTIN\\Administrators:ALLOWED/0x0/READ" in acl.stdout, acl.stdout
    # changed while failed over
    ok(smb.smbclient("setmode u/doc -h; put %s u/folder/later; "
                     "setmode u/folder/later +r" % (smb.local / "doc")))
    assert dos_attributes(smb, "u/doc") == "SA"
    lab.nas("a", "start")
    fail_back(smb)
    assert dos_attributes(smb, "u/doc") == "SA"
    assert dos_attributes(smb, "u/folder/later") == "RA"
    assert "BUILTIN\\Administrators:ALLOWED/0x0/READ" in \
        smb.smbcacls("u/doc").stdout
    smb.stop()
    lab.umount()
    verify_pair(lab)


@pytest.mark.parametrize("nas", ["a", "b"])
def test_a_put_rides_through_a_nas_killed_in_the_middle(smb, lab, nas):
    data = random_file(smb.local / "profile.dat", 48 << 20, 3)
    result = {}

    def put():
        result["proc"] = smb.smbclient("put %s u/profile.dat" %
                                       (smb.local / "profile.dat"),
                                       timeout=300)

    t = threading.Thread(target=put)
    t.start()
    deadline = time.monotonic() + 30
    target = os.path.join(smb.mnt, "u", "profile.dat")
    while not os.path.exists(target) or os.path.getsize(target) < 4 << 20:
        assert time.monotonic() < deadline and t.is_alive(), \
            "the put did not get going"
        time.sleep(0.02)
    lab.nas(nas, "kill")
    t.join(300)
    assert not t.is_alive()
    ok(result["proc"])
    ok(smb.smbclient("get u/profile.dat %s" % (smb.local / "back")))
    assert (smb.local / "back").read_bytes() == data
    if nas == "a":
        wait_serving(smb.mnt, "mirror")
    lab.nas(nas, "start")
    if nas == "a":
        fail_back(smb)
    else:
        deadline = time.monotonic() + 90
        while status(smb.mnt, json_out=True)[1]["exports"][1]["state"] \
                != "up":
            assert time.monotonic() < deadline, status(smb.mnt)[2].stdout
            time.sleep(0.3)
    smb.stop()
    lab.umount()
    verify_pair(lab)


def streams(smb, path):
    """The stream names allinfo lists, the unnamed ::$DATA one excluded."""
    out = ok(smb.smbclient("allinfo %s" % path))
    return sorted(ln.split()[1].rstrip(",") for ln in out.splitlines()
                  if ln.startswith("stream:") and "[::$DATA]" not in ln)


def test_alternate_data_streams_survive_failover_and_failback(smb, lab):
    """streams_xattr keeps each stream in a user.DosStream.* attribute."""
    (smb.local / "doc").write_bytes(b"the document")
    zone = random_file(smb.local / "zone", 3000, 4)
    big = random_file(smb.local / "big", 60000, 5)
    ok(smb.smbclient("put %s u/doc; put %s u/doc:Zone.Identifier; "
                     "put %s u/doc:big" % (smb.local / "doc",
                                           smb.local / "zone",
                                           smb.local / "big")))
    assert streams(smb, "u/doc") == ["[:Zone.Identifier:$DATA]",
                                     "[:big:$DATA]"]
    doc = os.path.join(smb.mnt, "u", "doc")
    assert os.getxattr(doc, "user.DosStream.Zone.Identifier:$DATA") \
        .rstrip(b"\0") == zone
    assert open(doc, "rb").read() == b"the document"
    lab.nas("a", "kill")
    wait_serving(smb.mnt, "mirror")
    ok(smb.smbclient("get u/doc:Zone.Identifier %s" % (smb.local / "z1")))
    assert (smb.local / "z1").read_bytes() == zone
    ok(smb.smbclient("get u/doc:big %s" % (smb.local / "b1")))
    assert (smb.local / "b1").read_bytes() == big
    # changed while failed over: a new stream, one rewritten shorter, one
    # removed (smbclient cannot delete a stream: the attribute goes, as
    # streams_xattr removes it)
    later = random_file(smb.local / "later", 100, 6)
    zone = random_file(smb.local / "zone", 80, 7)
    ok(smb.smbclient("put %s u/doc:later; put %s u/doc:Zone.Identifier" %
                     (smb.local / "later", smb.local / "zone")))
    os.removexattr(doc, "user.DosStream.big:$DATA")
    assert streams(smb, "u/doc") == ["[:Zone.Identifier:$DATA]",
                                     "[:later:$DATA]"]
    lab.nas("a", "start")
    fail_back(smb)
    assert streams(smb, "u/doc") == ["[:Zone.Identifier:$DATA]",
                                     "[:later:$DATA]"]
    ok(smb.smbclient("get u/doc:later %s; get u/doc:Zone.Identifier %s" %
                     (smb.local / "l1", smb.local / "z2")))
    assert (smb.local / "l1").read_bytes() == later
    assert (smb.local / "z2").read_bytes() == zone
    smb.stop()
    lab.umount()
    verify_pair(lab)
