#!/bin/sh
# Installs the Debian packages ofsrep needs to build, test and run its lab.
# glusterfs-server/-client: only for `make bench` (GlusterFS replica 2 column).
# Idempotent: asks dpkg first and stays quiet when everything is present.
set -eu
PKGS="build-essential pkg-config libfuse3-dev fuse3 libnfs-dev libnfs-utils
liburing-dev libxxhash-dev libcriterion-dev nfs-ganesha nfs-ganesha-vfs
rpcbind iproute2 attr python3 python3-pytest psmisc procps man-db
fio gnuplot-nox samba samba-vfs-modules smbclient ctdb tdb-tools ethtool systemd
glusterfs-server glusterfs-client"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "ofsrep: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "ofsrep: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
