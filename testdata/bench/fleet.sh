#!/usr/bin/env bash
# Start-up and listing at fleet size: builds a store of CERTS certificates
# (gatehouse init, then testdata/bench/fill in big transactions), then ROUNDS
# times starts `gatehouse serve` and measures the time until mqtts accepts a
# TCP connection, its RSS then, and `gatehouse cert list --json > /dev/null`
# against the running daemon. Wall times suffer from other load on the
# machine, so the CPU time spent (daemon until it accepts; daemon and CLI for
# the list, from /proc and time(1), 10 ms resolution) is shown beside them.
# Medians are printed last.
#
# Usage: fleet.sh [path/to/gatehouse]    env: CERTS (100000) ROUNDS (3) DATA (a temp dir, kept if given)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/bin/gatehouse}")
: "${CERTS:=100000}" "${ROUNDS:=3}"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }
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
starts=() scpu=() rss=() lists=() lcpu=()
for r in $(seq "$ROUNDS"); do
	t0=$(ms)
	"$BIN" serve --data "$DATA" --mqtts "127.0.0.1:$PORT" --wss "" --log-level warn 2>"$DATA/serve.log" &
	pid=$!
	until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || { cat "$DATA/serve.log" >&2; exit 1; }
		sleep 0.002
	done
	t1=$(ms) c1=$(cpu "$pid")
	until [ -S "$DATA/admin.sock" ]; do sleep 0.01; done
	sleep 1 # the expiry scan and the other start-up work settle
	m=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	c2=$(cpu "$pid") t2=$(ms)
	cli=$(/usr/bin/time -f '%U %S' "$BIN" cert list --data "$DATA" --json 2>&1 >/dev/null | tail -1 | awk '{print int(($1 + $2) * 1000)}')
	t3=$(ms) c3=$(cpu "$pid")
	kill "$pid"; wait "$pid" || true
	echo "round $r: mqtts accepts after $((t1 - t0)) ms (CPU $c1 ms, RSS $((m / 1024)) MB); cert list --json $((t3 - t2)) ms (CPU: daemon $((c3 - c2)) ms, CLI $cli ms)"
	starts+=($((t1 - t0))) scpu+=("$c1") rss+=($((m / 1024))) lists+=($((t3 - t2))) lcpu+=($((c3 - c2 + cli)))
done
med() { printf '%s\n' "$@" | median; }
echo "median of $ROUNDS, $CERTS certificates: start-up $(med "${starts[@]}") ms (CPU $(med "${scpu[@]}") ms), RSS $(med "${rss[@]}") MB; cert list --json $(med "${lists[@]}") ms (CPU $(med "${lcpu[@]}") ms)"
