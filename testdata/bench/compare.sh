#!/usr/bin/env bash
# Side-by-side benchmark: Gatehouse, mosquitto and a bare mochi broker, on
# loopback, with the same certificates, loaded by cmd/mqttbench in alternation
# (A B C A B C ...). mqttbench --broker-pid reads the broker's CPU from
# /proc/PID/stat (utime+stime) over exactly the operations it counts, and its
# memory from /proc/PID/status (VmRSS). Writes the table into docs/benchmarks.md.
#
# Usage: compare.sh [path/to/gatehouse]      (make bench-compare / bench-compare-short)
# SHORT=1 is a developer run (a few minutes); every figure can be overridden:
#   ROUNDS CONNECTS WORKERS RATES PUBLISHERS SIZE PUB_SECONDS IDLE_SIZES
#   SUSPEND_SESSIONS SUSPEND_OTHERS CERTS OUT GATEHOUSE_FLAGS NOTE (said in the table's title)
#   CURVES: the key exchange every client offers (default x25519, which all three brokers implement:
#   Go's default would give the Go brokers the costlier post-quantum X25519MLKEM768 that Debian's
#   OpenSSL 3.0 mosquitto lacks; CURVES= measures Go's default)
# Gatehouse serves with the limits that would cap the load lifted (LIMIT_FLAGS:
# mosquitto and mochi have none by default); GATEHOUSE_FLAGS come after them,
# so they can set any limit back.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/bin/gatehouse}")
OUT=${OUT:-$ROOT/docs/benchmarks.md}
if [ "${SHORT:-0}" = 1 ]; then
	: "${ROUNDS:=1}" "${CONNECTS:=500}" "${RATES:=10000}" "${PUB_SECONDS:=3}" "${IDLE_SIZES:=1000}"
	: "${SUSPEND_SESSIONS:=100}" "${SUSPEND_OTHERS:=400}"
	MODE="short run (SHORT=1)"
else
	: "${ROUNDS:=3}" "${CONNECTS:=2000}" "${RATES:=10000 20000 40000 60000 80000 110000}" "${PUB_SECONDS:=10}"
	: "${IDLE_SIZES:=1000 5000}" "${SUSPEND_SESSIONS:=1000}" "${SUSPEND_OTHERS:=4000}"
	MODE="full run"
fi
: "${CURVES=x25519}" "${WORKERS:=4}" "${PUBLISHERS:=10}" "${SIZE:=64}" "${CERTS:=10}" "${GATEHOUSE_FLAGS:=}"
# 5,000 idle connections from one IP, 11,000 msg/s from one publisher: past
# serve's defaults (100 per IP, 10,000 in all, 200 msg/s and 1 MiB/s per client).
LIMIT_FLAGS="--max-conns-per-ip 0 --max-conns 0 --max-msg-rate 0 --max-byte-rate 0"

WORK=$(mktemp -d /tmp/bench-compare.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "bench-compare: $*" >&2; }
die() { log "$*"; exit 1; }
# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- prerequisites: 5,000 held connections need file descriptors on both ends
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need_fds=$(( $(echo "$IDLE_SIZES $SUSPEND_SESSIONS" | tr ' ' '\n' | sort -n | tail -1) + SUSPEND_OTHERS + 100 ))
[ "$(ulimit -n)" -ge "$need_fds" ] || die "ulimit -n is $(ulimit -n), need $need_fds: raise the hard limit"
[ -x "$BIN" ] || die "no gatehouse binary at $BIN: run make build"
if ! command -v mosquitto >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		log "installing mosquitto (Debian package)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null || die "apt-get install mosquitto failed"
	else
		die "mosquitto is not installed: apt-get install mosquitto (as root)"
	fi
fi
MOSQUITTO=$(command -v mosquitto)
for t in openssl python3 go; do command -v $t >/dev/null || die "$t is required"; done
log "building mqttbench and the bare mochi broker"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/mqttbench" ./cmd/mqttbench && CGO_ENABLED=0 go build -o "$WORK/mochi" ./testdata/bench/mochi)
BENCH=$WORK/mqttbench

# --- one PKI for every broker: a one-level openssl CA signs the server
# certificate all three present and the client certificates all three verify;
# Gatehouse trusts that CA with `ca trust --auto-register` (its certificates
# are registered on first use), mosquitto and mochi get it as their client CA.
P=$WORK/pki
mkdir -p "$P/certs"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=bench CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	-keyout "$P/ca.key" -out "$P/ca.pem"
leaf() { # leaf NAME CN EXT...: a P-256 certificate signed by the bench CA
	local name=$1 cn=$2; shift 2
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr"
	printf '%s\n' "$@" >"$name.ext"
	ossl x509 -req -in "$name.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 30 -extfile "$name.ext" -out "$name.crt"
	rm -f "$name.csr" "$name.ext"
}
leaf "$P/server" localhost "subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth" "keyUsage=digitalSignature"
for i in $(seq 1 "$CERTS"); do
	leaf "$P/certs/bench-$i" "bench-$i" "extendedKeyUsage=clientAuth" "keyUsage=digitalSignature"
done
leaf "$P/certs/victim" bench-victim "extendedKeyUsage=clientAuth" "keyUsage=digitalSignature"
chmod -R a+rX "$WORK" # mosquitto started as root reads them as itself; throwaway keys
# Connect, pubsub and idle use the bench-N certificates; suspend adds the victim.
mkdir -p "$P/load"
for i in $(seq 1 "$CERTS"); do ln -s "$P/certs/bench-$i.crt" "$P/certs/bench-$i.key" "$P/load/"; done

# --- the three brokers, each on its own loopback port
GDATA=$WORK/gatehouse
gh() { "$BIN" --data "$GDATA" "$@"; }
gh init >/dev/null || die "gatehouse init failed"
# shellcheck disable=SC2086 # LIMIT_FLAGS and GATEHOUSE_FLAGS are lists of flags
"$BIN" serve --data "$GDATA" --mqtts 127.0.0.1:0 --wss "" --server-cert "$P/server.crt" --server-key "$P/server.key" \
	--log-level warn $LIMIT_FLAGS $GATEHOUSE_FLAGS >"$WORK/gatehouse.log" 2>&1 &
GH_PID=$!; PIDS+=($GH_PID)
wait_for 20 test -S "$GDATA/admin.sock" || die "gatehouse did not start: $(tail -n 5 "$WORK/gatehouse.log")"
gh ca trust --auto-register "$P/ca.pem" >/dev/null
# The policy denies by default and its starter rules allow only devices/${cn}/#
# and kp1/+/+/${cn}/#: let the benchmark's topics through.
gh acl add --allow --action pubsub --topic 'bench/#' >/dev/null || die "acl add bench/# failed"
GH_PORT=$(gh mtls status --json | python3 -c "import json,sys; print([t['addr'] for t in json.load(sys.stdin) if t['transport']=='mqtts'][0].rsplit(':',1)[1])")

MQ_PORT=$(free_port)
cat >"$WORK/mosquitto.conf" <<CONF
per_listener_settings false
listener $MQ_PORT 127.0.0.1
cafile $P/ca.pem
certfile $P/server.crt
keyfile $P/server.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
set_tcp_nodelay true
persistence false
user $(id -un)
log_dest stderr
log_type error
log_type warning
connection_messages false
CONF
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MQ_PID=$!; PIDS+=($MQ_PID)

MO_PORT=$(free_port)
"$WORK/mochi" --addr "127.0.0.1:$MO_PORT" --ca "$P/ca.pem" --cert "$P/server.crt" --key "$P/server.key" >"$WORK/mochi.log" 2>&1 &
MO_PID=$!; PIDS+=($MO_PID)

declare -A PORT=([gatehouse]=$GH_PORT [mosquitto]=$MQ_PORT [mochi]=$MO_PORT)
declare -A PID=([gatehouse]=$GH_PID [mosquitto]=$MQ_PID [mochi]=$MO_PID)
BROKERS=(gatehouse mosquitto mochi)
bench() { # bench BROKER MODE FLAGS...: mqttbench against BROKER
	local b=$1 mode=$2; shift 2
	"$BENCH" "$mode" --port "${PORT[$b]}" --ca "$P/ca.pem" --server-name localhost --curves "$CURVES" --json "$@"
}
for b in "${BROKERS[@]}"; do
	wait_for 20 bench "$b" connect --cert-dir "$P/certs" --count "$((CERTS + 1))" --workers 1 ||
		die "$b does not accept the bench certificates: $(tail -n 5 "$WORK/$b.log")"
done
log "brokers up: gatehouse :$GH_PORT (pid $GH_PID), mosquitto :$MQ_PORT (pid $MQ_PID), mochi :$MO_PORT (pid $MO_PID)"
# Gatehouse's own certificates (root -> issuing CA -> leaf) for one more connect row, Gatehouse only.
mkdir -p "$P/own"
for i in $(seq 1 "$CERTS"); do
	gh cert create --cn "own-$i" --out "$P/own/own-$i" >/dev/null 2>"$WORK/err" || die "cert create: $(cat "$WORK/err")"
done
bench gatehouse connect --cert-dir "$P/own" --count "$CERTS" --workers 1 >/dev/null ||
	die "gatehouse refuses its own certificates"
VICTIM=$(gh cert list --json | python3 -c "import json,sys; print([c['id'] for c in json.load(sys.stdin) if c['cn']=='bench-victim'][0])")

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
# measured BROKER ROUND SCENARIO MODE FLAGS...: one mqttbench run that reads the broker's /proc, recorded
measured() {
	local b=$1 r=$2 scen=$3 mode=$4; shift 4
	bench "$b" "$mode" --broker-pid "${PID[$b]}" "$@" >"$WORK/out.json" || log "$b $scen exited $? (recorded as is)"
	python3 "$HERE/report.py" row "$b" "$r" "$scen" "$WORK/out.json" >>"$RESULTS"
}

for r in $(seq 1 "$ROUNDS"); do
	for b in "${BROKERS[@]}"; do
		log "round $r/$ROUNDS: $b"
		measured "$b" "$r" connect connect --cert-dir "$P/load" --count "$CONNECTS" --workers "$WORKERS" --duration 10m
		for rate in $RATES; do
			measured "$b" "$r" pubsub pubsub --cert-dir "$P/load" --publishers "$PUBLISHERS" --subscribers 1 \
				--qos 0 --rate "$rate" --size "$SIZE" --duration "${PUB_SECONDS}s"
		done
		for n in $IDLE_SIZES; do # VmRSS sampled 1 s after the last connection opened (Go brokers: a GC cycle)
			measured "$b" "$r" idle idle --cert-dir "$P/load" --conns "$n" --workers "$WORKERS" --duration 2s --rss-settle 1s
		done
		if [ "$b" = gatehouse ]; then
			measured "$b" "$r" connect-own connect --cert-dir "$P/own" --count "$CONNECTS" --workers "$WORKERS" --duration 10m
			measured "$b" "$r" suspend suspend --cert-dir "$P/certs" --victim victim --sessions "$SUSPEND_SESSIONS" \
				--others "$SUSPEND_OTHERS" --workers "$WORKERS" --duration 60s \
				--trigger "'$BIN' --data '$GDATA' cert suspend $VICTIM >/dev/null"
			# A run that failed before its trigger left the victim active: say so, go on.
			gh cert reactivate "$VICTIM" >/dev/null 2>"$WORK/err" || log "cert reactivate: $(cat "$WORK/err")"
		fi
	done
done

# --- the table
python3 - "$WORK/meta.json" <<PY
import json, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or "unknown CPU"
meta = {
    "title": "### Results: $MODE, $(date -u +%Y-%m-%d), commit $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)${NOTE:+ — **$NOTE**}",
    "notes": [
        "machine: $(nproc) CPUs ({}), $(uname -sr); the generator shares the cores".format(cpu),
        "$("$MOSQUITTO" -h 2>/dev/null | head -1 | sed 's/ running//'), bare mochi $(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/mochi-mqtt/server/v2), Gatehouse $("$BIN" version 2>/dev/null | awk 'NR==1 {print $2}'), $(go version | cut -d' ' -f3)",
        "medians of $ROUNDS round(s), min-max in brackets; brokers in alternation (gatehouse, mosquitto, mochi per round)",
        "connect: broker CPU over the run / connects; key exchange offered: ${CURVES:-Go default (X25519MLKEM768 first)}; $CONNECTS full handshakes per round, $WORKERS workers, $CERTS certificates round-robin, one-level openssl CA (Gatehouse's own row: $CERTS certificates from \`gatehouse cert create\`, root -> issuing CA -> leaf)",
        "pubsub: $PUBLISHERS publishers -> 1 subscriber, QoS 0, $SIZE B, ${PUB_SECONDS}s per offered rate; broker CPU from the first publish to the end of the drain / messages published",
        "idle: RSS delta (VmRSS with every connection held, 1 s after the last opened, minus before) / connections",
        "Gatehouse serve flags: \`$LIMIT_FLAGS${GATEHOUSE_FLAGS:+ $GATEHOUSE_FLAGS}\` (limits not named here at serve's defaults); policy: the starter rules plus allow pubsub \`bench/#\`",
    ],
    "workers": $WORKERS, "publishers": $PUBLISHERS, "size": $SIZE,
    "rates": [int(x) for x in "$RATES".split()],
    "idle": [int(x) for x in "$IDLE_SIZES".split()],
    "suspend": [$SUSPEND_SESSIONS, $SUSPEND_OTHERS],
}
json.dump(meta, open(sys.argv[1], "w"))
PY
[ -f "$OUT" ] || printf '# Benchmarks\n' >"$OUT"
python3 "$HERE/report.py" table "$RESULTS" "$WORK/meta.json" "$OUT"
mkdir -p "$ROOT/bin" && cp "$RESULTS" "$ROOT/bin/bench-results.jsonl"
log "wrote $OUT; every run's figures are in bin/bench-results.jsonl"
