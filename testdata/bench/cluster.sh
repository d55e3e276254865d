#!/usr/bin/env bash
# Cross-node suspend benchmark: SESSIONS sessions of one certificate spread
# over NODES `gatehouse serve --etcd` nodes on one Debian etcd-server, the
# suspend made through node 1; mqttbench measures from the call to the last
# socket closed on any node. RUNS runs per way of calling, then p50/p99 over
# them. The calls: `cli` runs `gatehouse cert suspend` (its time includes
# starting the process, which the loaded machine slows), `api` sends the
# same request to node 1's admin socket with curl.
# Usage: cluster.sh path/to/gatehouse path/to/mqttbench
# Environment: RUNS (20), SESSIONS (1000), OTHERS (300, on a second certificate,
# must stay up), NODES (3; 1 gives the same load on one node, for comparison),
# CALLS ("cli api").
set -euo pipefail

BIN=$(realpath "${1:?usage: cluster.sh path/to/gatehouse path/to/mqttbench}")
BENCH=$(realpath "${2:?usage: cluster.sh path/to/gatehouse path/to/mqttbench}")
RUNS=${RUNS:-20}
SESSIONS=${SESSIONS:-1000}
OTHERS=${OTHERS:-300}
NODES=${NODES:-3}
CALLS=${CALLS:-cli api}
die() { echo "bench-cluster: $*" >&2; exit 1; }
command -v etcd >/dev/null || die "etcd not found: install Debian etcd-server"
[ "$RUNS" -ge 1 ] || die "RUNS=$RUNS: want at least 1"
[ "$NODES" -ge 1 ] || die "NODES=$NODES: want at least 1"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((SESSIONS + OTHERS + 100)) ] || die "ulimit -n is $(ulimit -n), need $((SESSIONS + OTHERS + 100))"
. "$(dirname "$0")/../e2e/etcd-cluster.sh"
start_etcd || die "etcd did not start: $(tail -n 5 "$WORK/etcd.log")"

# Every session comes from 127.0.0.1: lift the per-IP limit (100 by default).
PORTS=()
for n in $(seq -f 'n%g' 1 "$NODES"); do
	"$BIN" serve --data "$WORK/$n" --etcd "$ETCD" --node "$n" --mqtts 127.0.0.1:0 --wss "" \
		--max-conns-per-ip 0 --log-level "${LOG_LEVEL:-warn}" >"$WORK/$n.log" 2>&1 &
	PIDS+=($!)
	wait_for 20 test -S "$WORK/$n/admin.sock" || die "node $n did not start: $(tail -n 5 "$WORK/$n.log")"
	PORTS+=("$(port_of "$n")")
done
mkdir -p "$WORK/certs"
VICTIM=$(gh n1 cert create --cn victim --out "$WORK/certs/victim" 2>/dev/null)
gh n1 cert create --cn other --out "$WORK/certs/other" >/dev/null 2>&1
CSV=$(IFS=,; echo "${PORTS[*]}")
echo "bench-cluster: etcd $(etcd --version | head -1 | cut -d' ' -f3), $NODES node(s) on $CSV; $SESSIONS victim sessions, $OTHERS others, $RUNS runs per call ($CALLS)" >&2

declare -A TRIGGER=(
	[cli]="'$BIN' --data '$WORK/n1' cert suspend $VICTIM >/dev/null"
	[api]="curl -sf --unix-socket '$WORK/n1/admin.sock' -H 'Gatehouse-Client: bench' -d '{\"to\":\"suspended\"}' http://gatehouse/v1/certs/$VICTIM/transition >/dev/null"
)
# The calls alternate, run by run, so that both see the same leftover state.
RUNLIST=()
for r in $(seq 1 "$RUNS"); do
	for call in $CALLS; do
		[ -n "${TRIGGER[$call]:-}" ] || die "CALLS: unknown call $call (cli or api)"
		RUNLIST+=("$call-$r")
	done
done
for run in "${RUNLIST[@]}"; do
	"$BENCH" suspend --port "$CSV" --ca "$WORK/certs/victim/ca.pem" --cert-dir "$WORK/certs" --victim victim \
		--sessions "$SESSIONS" --others "$OTHERS" --workers 8 --duration 60s \
		--trigger "${TRIGGER[${run%-*}]}" --json >"$WORK/run-$run.json" 2>"$WORK/run-$run.err" ||
		die "run $run: $(tail -n 3 "$WORK/run-$run.err")"
	gh n1 cert reactivate "$VICTIM" >/dev/null
	# Every node has applied the reactivation before the next run connects.
	for p in "${PORTS[@]}"; do
		wait_for 10 "$BENCH" connect --port "$p" --ca "$WORK/certs/victim/ca.pem" --cert "$WORK/certs/victim/client.crt" \
			--key "$WORK/certs/victim/client.key" --count 1 --workers 1 || die "port $p still refuses the reactivated certificate"
	done
	echo "run $run: last socket closed $(python3 -c "import json; print(json.load(open('$WORK/run-$run.json'))['to_last_eof_ms'])") ms" >&2
done

python3 - "$WORK" "$RUNS" "$SESSIONS" "$NODES" $CALLS <<'PY'
import json, math, sys
work, runs, sessions, nodes, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]
print(f"suspend through node 1, {sessions} sessions over {nodes} node(s), {runs} runs per call")
for call in calls:
    rs = [json.load(open(f"{work}/run-{call}-{i}.json")) for i in range(1, runs + 1)]
    last = [r["to_last_eof_ms"] for r in rs]
    print(f"{call}:")
    print(f"  call to last socket closed: p50 {pct(last, 50):.1f} ms, p99 {pct(last, 99):.1f} ms, max {max(last):.1f} ms")
    print(f"  per session (median run):   p50 {pct([r['eof']['p50_ms'] for r in rs], 50):.1f} ms, p99 {pct([r['eof']['p99_ms'] for r in rs], 50):.1f} ms")
    print(f"  the call itself:            p50 {pct([r['trigger_ms'] for r in rs], 50):.1f} ms")
    print(f"  others dropped: {sum(r['others_dropped'] for r in rs)}")
PY
