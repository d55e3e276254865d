# Shared by testdata/e2e/cluster.sh and testdata/bench/cluster.sh (sourced, not
# run): one Debian etcd-server on loopback ports and `gatehouse serve --etcd`
# nodes, all stopped in the right order on exit. The caller sets BIN (the
# gatehouse binary) before sourcing; it gets WORK (a throwaway directory),
# PIDS (processes to stop), ETCD (the client URL) and the functions below.

WORK=$(mktemp -d)
PIDS=()
export ETCDCTL_API=3

# running PID: PID has not ended (a child that ended is a zombie until waited for).
running() { [ -e "/proc/$1" ] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }
cleanup() {
	# Nodes and clients first, etcd last, once they ended (at most 15 s): a node
	# stopping releases its sessions and its lease in etcd, and without etcd it
	# waits for every release to time out.
	local p deadline=$((SECONDS + 15))
	for p in "${PIDS[@]}"; do [ "$p" = "${ETCD_PID:-}" ] || kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		[ "$p" != "${ETCD_PID:-}" ] || continue
		while running "$p" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	[ -z "${ETCD_PID:-}" ] || kill "$ETCD_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# gh NODE ARGS...: a command through NODE's admin socket.
gh() { local n=$1; shift; "$BIN" --data "$WORK/$n" "$@"; }
# port_of NODE: the port NODE's mqtts listener took.
port_of() { gh "$1" mtls status --json | /usr/bin/python3 -c "import json,sys; print([t['addr'] for t in json.load(sys.stdin) if t['transport']=='mqtts'][0].rsplit(':',1)[1])"; }

EC=$(free_port); EP=$(free_port)
ETCD=http://127.0.0.1:$EC
# start_etcd: (re)start the one etcd member on its ports, data kept in WORK;
# fails when it does not answer within 20 s.
start_etcd() {
	etcd --name gh --data-dir "$WORK/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
		--listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
		--initial-cluster "gh=http://127.0.0.1:$EP" --auto-compaction-retention 1h \
		--quota-backend-bytes 1073741824 >>"$WORK/etcd.log" 2>&1 &
	ETCD_PID=$!
	PIDS+=($ETCD_PID)
	wait_for 20 etcdctl --endpoints "$ETCD" endpoint health
}
