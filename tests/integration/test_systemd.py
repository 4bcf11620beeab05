"""Boot order on a file server (docs/ctdb.md): the fstab line of an ofsrep
mount becomes a network mount that systemd orders before ctdb.service, and
tools/systemd/ctdb.service.d/ofsrep.conf makes CTDB require that mount.

This machine does not run systemd as PID 1, so the boot itself cannot be
watched; what systemd would do is checked with its own tools, offline: the
real systemd-fstab-generator turns an fstab line into the mount unit, and
`systemd-analyze verify` loads that unit and ctdb.service with the drop-in
the way systemd loads them at boot.  That the same line really mounts is
test_mount.py's test_fstab_line_with_netdev_and_systemd_options."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DROPIN = REPO / "tools" / "systemd" / "ctdb.service.d" / "ofsrep.conf"
GENERATOR = Path("/lib/systemd/system-generators/systemd-fstab-generator")
CTDB_UNIT = Path("/lib/systemd/system/ctdb.service")
MNT = "/var/lib/ovd/slaveserver/fs.real"
UNIT = "var-lib-ovd-slaveserver-fs.real.mount"
URL = "nfs://10.0.0.1/srv/data?nfsport=2049&mountport=20048"
URL_B = "nfs://10.0.0.2/srv/data?nfsport=2049&mountport=20048"
FSTAB_LINE = (f"{URL}  {MNT}  fuse.ofsrep  secondary={URL_B},allow_other,"
              "_netdev,x-systemd.before=ctdb.service  0 0\n")

pytestmark = pytest.mark.skipif(
    not GENERATOR.exists() or shutil.which("systemd-analyze") is None,
    reason="systemd's fstab generator and systemd-analyze missing "
    "(make deps)")


def generate(tmp_path, line):
    fstab = tmp_path / "fstab"
    fstab.write_text(line)
    outs = [tmp_path / d for d in ("normal", "early", "late")]
    for d in outs:
        d.mkdir()
    env = dict(os.environ, SYSTEMD_FSTAB=str(fstab), SYSTEMD_PROC_CMDLINE="")
    proc = subprocess.run([str(GENERATOR), *map(str, outs)], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return outs[0]


def unit_lines(path):
    return [ln.strip() for ln in path.read_text().splitlines()]


def verify(unit_dir, unit):
    env = dict(os.environ, SYSTEMD_UNIT_PATH=str(unit_dir) + ":")
    return subprocess.run(["systemd-analyze", "verify", "--man=no",
                           str(unit_dir / unit)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_fstab_line_is_a_network_mount_ordered_before_ctdb(tmp_path):
    out = generate(tmp_path, FSTAB_LINE)
    lines = unit_lines(out / UNIT)
    for want in ("Before=ctdb.service", "Before=remote-fs.target",
                 f"What={URL}", f"Where={MNT}", "Type=fuse.ofsrep"):
        assert want in lines, (want, lines)
    opts = [ln for ln in lines if ln.startswith("Options=")]
    assert opts and f"secondary={URL_B}" in opts[0] and \
        "allow_other" in opts[0], lines
    # _netdev: remote-fs.target (network-online, not local-fs) pulls it in
    assert (out / "remote-fs.target.requires" / UNIT).exists()
    assert not (out / "local-fs.target.requires" / UNIT).exists()
    proc = verify(out, UNIT)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_without_netdev_it_would_be_a_local_mount(tmp_path):
    """Why the line needs _netdev: fuse.* is not a network type to
    systemd, so without it the mount is tried before the network is up."""
    out = generate(tmp_path, FSTAB_LINE.replace("_netdev,", ""))
    assert (out / "local-fs.target.requires" / UNIT).exists()


@pytest.mark.skipif(not CTDB_UNIT.exists(), reason="ctdb not installed "
                    "(make deps)")
def test_the_ctdb_drop_in_requires_the_mount(tmp_path):
    lines = unit_lines(DROPIN)
    assert f"RequiresMountsFor={MNT}" in lines, lines
    out = generate(tmp_path, FSTAB_LINE)
    shutil.copy(CTDB_UNIT, out / "ctdb.service")
    (out / "ctdb.service.d").mkdir()
    shutil.copy(DROPIN, out / "ctdb.service.d" / "ofsrep.conf")
    proc = verify(out, "ctdb.service")
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    # the check sees a broken drop-in: it would not pass one silently
    (out / "ctdb.service.d" / "ofsrep.conf").write_text(
        "[Unit]\nRequiresMountFor=%s\n" % MNT)
    assert "Unknown key" in verify(out, "ctdb.service").stderr
