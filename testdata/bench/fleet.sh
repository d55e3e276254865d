#!/usr/bin/env bash
# Start-up and listing at fleet size: builds a store of CERTS certificates
# (gatehouse init, then testdata/bench/fill in big transactions), then ROUNDS
# times starts `gatehouse serve` and measures the time until mqtts accepts a
# TCP connection, its RSS then, and `gatehouse cert list --json > /dev/null`
# against the running daemon. Medians are printed last.
#
# Usage: fleet.sh [path/to/gatehouse]    env: CERTS (100000) ROUNDS (3) DATA (a temp dir, kept if given)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/bin/gatehouse}")
: "${CERTS:=100000}" "${ROUNDS:=3}"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
if [ -z "${DATA:-}" ]; then
	DATA=$(mktemp -d /tmp/bench-fleet.XXXXXX)
	trap 'rm -rf "$DATA"' EXIT
fi
if [ ! -e "$DATA/gatehouse.db" ]; then
	"$BIN" init --data "$DATA" >/dev/null
	(cd "$ROOT" && go run ./testdata/bench/fill -data "$DATA" -certs "$CERTS")
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
starts=() rss=() lists=()
for r in $(seq "$ROUNDS"); do
	t0=$(ms)
	"$BIN" serve --data "$DATA" --mqtts "127.0.0.1:$PORT" --wss "" --log-level warn 2>"$DATA/serve.log" &
	pid=$!
	until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || { cat "$DATA/serve.log" >&2; exit 1; }
		sleep 0.002
	done
	t1=$(ms)
	until [ -S "$DATA/admin.sock" ]; do sleep 0.01; done
	m=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	t2=$(ms)
	"$BIN" cert list --data "$DATA" --json >/dev/null
	t3=$(ms)
	kill "$pid"; wait "$pid" || true
	echo "round $r: mqtts accepts after $((t1 - t0)) ms (RSS $((m / 1024)) MB); cert list --json $((t3 - t2)) ms"
	starts+=($((t1 - t0))) rss+=($((m / 1024))) lists+=($((t3 - t2)))
done
echo "median of $ROUNDS, $CERTS certificates: start-up $(printf '%s\n' "${starts[@]}" | median) ms, RSS $(printf '%s\n' "${rss[@]}" | median) MB, cert list --json $(printf '%s\n' "${lists[@]}" | median) ms"
