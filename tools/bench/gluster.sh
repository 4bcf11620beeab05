#!/bin/bash
# gluster.sh — a private GlusterFS 10 replica 2 volume for tools/bench.sh
# (sourced, not run).  Everything runs in a network namespace this script
# creates (ofsrep-bench-gl.PID), entered with nsenter --net only, so the
# FUSE mount of the client is visible on the host while glusterd (bound to
# GL_ADDR, an address on lo inside the namespace: glusterd refuses
# 127.0.0.1 for bricks), both bricks and the client talk only inside it.
# glusterd gets its own volfile, working directory and CLI socket under
# GL_DIR (no /var/lib/glusterd, no host socket); the volume has a name
# unique to this run.  Settings are Gluster's defaults (network.ping-timeout
# 42 s included): the comparison is with what one gets out of the box.
#
#   gl_start DIR MNT   glusterd, volume (2 bricks under DIR), mount at MNT
#   gl_stop            unmount, stop the volume, stop what we started
#   gl_brick_pid N     PID of brick N's glusterfsd
#   gl_client_pid      PID of the FUSE client glusterfs
#   gl_brick_kill N / gl_brick_stop N / gl_brick_cont N / gl_brick_restart
# Processes are only ever signalled by the PIDs recorded here.

GL_ADDR=10.213.77.1
GL_NS="" GL_DIR="" GL_MNT="" GL_VOL="" GL_GD_PID="" GL_CLIENT_PID=""

gl_ns() { nsenter --net="/run/netns/$GL_NS" "$@"; }
gl_cli() { gl_ns gluster --mode=script --glusterd-sock="$GL_DIR/glusterd.socket" "$@"; }

gl_start() {
	GL_DIR=$1 GL_MNT=$2 GL_NS=ofsrep-bench-gl.$$ GL_VOL=ofsrepbench$$
	mkdir -p "$GL_DIR/wd" "$GL_DIR/run" "$GL_DIR/b1" "$GL_DIR/b2" "$GL_DIR/log" "$GL_MNT"
	ip netns add "$GL_NS" || { GL_NS=""; echo "gluster: cannot create netns" >&2; return 1; }
	gl_ns ip link set lo up
	# glusterd refuses loopback addresses for bricks: a private address on
	# lo, inside the namespace only
	gl_ns ip addr add "$GL_ADDR/32" dev lo
	# no hook scripts: Debian's would start or stop ganesha, Samba, CTDB
	mkdir -p "$GL_DIR/wd/hooks"
	cat >"$GL_DIR/glusterd.vol" <<VOL
volume management
    type mgmt/glusterd
    option working-directory $GL_DIR/wd
    option run-directory $GL_DIR/run
    option glusterd-sockfile $GL_DIR/glusterd.socket
    option transport-type socket
    option transport.socket.bind-address $GL_ADDR
    option transport.socket.listen-port 24007
    option transport.socket.keepalive-time 10
    option transport.socket.keepalive-interval 2
    option transport.socket.read-fail-log off
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
VOL
	nsenter --net="/run/netns/$GL_NS" glusterd -N -f "$GL_DIR/glusterd.vol" -p "$GL_DIR/glusterd.pid" \
		-l "$GL_DIR/log/glusterd.log" </dev/null >/dev/null 2>&1 &
	GL_GD_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		gl_cli volume list >/dev/null 2>&1 && break
		is_alive "$GL_GD_PID" || { tail -5 "$GL_DIR/log/glusterd.log" >&2; echo "gluster: glusterd exited (log $GL_DIR/log/glusterd.log)" >&2; return 1; }
		sleep 0.2
	done
	gl_cli volume create "$GL_VOL" replica 2 "$GL_ADDR:$GL_DIR/b1" "$GL_ADDR:$GL_DIR/b2" force >"$GL_DIR/log/create.out" 2>&1 ||
		{ cat "$GL_DIR/log/create.out" >&2; echo "gluster: volume create failed" >&2; return 1; }
	gl_cli volume start "$GL_VOL" >"$GL_DIR/log/start.out" 2>&1 ||
		{ cat "$GL_DIR/log/start.out" >&2; echo "gluster: volume start failed" >&2; return 1; }
	gl_ns glusterfs --process-name fuse --volfile-server=$GL_ADDR --volfile-id="$GL_VOL" \
		-p "$GL_DIR/client.pid" -l "$GL_DIR/log/client.log" "$GL_MNT" ||
		{ echo "gluster: client mount failed (log $GL_DIR/log/client.log)" >&2; return 1; }
	for ((i = 0; i < 100; i++)); do
		grep -q " $GL_MNT fuse.glusterfs " /proc/mounts && break
		sleep 0.1
	done
	grep -q " $GL_MNT fuse.glusterfs " /proc/mounts || { echo "gluster: $GL_MNT not mounted" >&2; return 1; }
	GL_CLIENT_PID=$(<"$GL_DIR/client.pid")
	for i in 1 2; do [[ -n $(gl_brick_pid $i) ]] || { echo "gluster: brick $i has no PID" >&2; return 1; }; done
}

# gl_brick_pid N: from `gluster volume status VOL BRICK --xml`, checked
# to be a glusterfsd whose command line names our volume.
gl_brick_pid() {
	local p
	p=$(gl_cli volume status "$GL_VOL" "$GL_ADDR:$GL_DIR/b$1" --xml 2>/dev/null |
		sed -n 's:.*<pid>\([0-9]*\)</pid>.*:\1:p' | head -1)
	[[ -n $p && $p != 0 && $p != -1 ]] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$GL_VOL" && echo "$p"
}
gl_client_pid() { echo "$GL_CLIENT_PID"; }
gl_brick_kill() { local p; p=$(gl_brick_pid "$1") && kill -KILL "$p"; }
gl_brick_stop() { local p; p=$(gl_brick_pid "$1") && kill -STOP "$p"; }
gl_brick_cont() { local p; p=$(gl_brick_pid "$1") && kill -CONT "$p"; }
# gl_brick_restart: `volume start force` restarts dead bricks; then waits
# until both are up again.
gl_brick_restart() {
	local i
	gl_cli volume start "$GL_VOL" force >/dev/null 2>&1 || :
	for ((i = 0; i < 100; i++)); do
		[[ -n $(gl_brick_pid 1) && -n $(gl_brick_pid 2) ]] && return 0
		sleep 0.2
	done
	return 1
}

gl_stop() {
	[[ -n $GL_NS ]] || return 0
	local b p pids=() i
	for b in 1 2; do p=$(gl_brick_pid $b 2>/dev/null) && { kill -CONT "$p" 2>/dev/null; pids+=("$p"); }; done
	if grep -q " $GL_MNT fuse.glusterfs " /proc/mounts; then
		umount "$GL_MNT" 2>/dev/null || umount -l "$GL_MNT" 2>/dev/null || :
	fi
	[[ -n $GL_CLIENT_PID ]] && is_alive "$GL_CLIENT_PID" && kill -TERM "$GL_CLIENT_PID" 2>/dev/null
	gl_cli volume stop "$GL_VOL" >/dev/null 2>&1 || :
	[[ -n $GL_GD_PID ]] && kill -TERM "$GL_GD_PID" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		local alive=0
		for p in "${pids[@]}" $GL_GD_PID $GL_CLIENT_PID; do is_alive "$p" && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for p in "${pids[@]}" $GL_GD_PID $GL_CLIENT_PID; do is_alive "$p" && kill -KILL "$p" 2>/dev/null; done
	wait "$GL_GD_PID" 2>/dev/null || :
	ip netns delete "$GL_NS" 2>/dev/null || echo "gluster: could not delete netns $GL_NS" >&2
	GL_NS=""
}
