#!/usr/bin/env bash
# Cluster suite: three `gatehouse serve --etcd --node` nodes on loopback share
# one Debian etcd-server, driven by clients Gatehouse did not write:
# mosquitto_sub/pub, Python paho-mqtt and etcdctl. Usage: cluster.sh path/to/gatehouse
set -euo pipefail

BIN=$(realpath "${1:?usage: cluster.sh path/to/gatehouse}")
HERE=$(cd "$(dirname "$0")" && pwd)
for c in etcd etcdctl mosquitto_sub mosquitto_pub; do
	command -v "$c" >/dev/null || { echo "cluster.sh: $c not found: install Debian etcd-server, etcd-client and mosquitto-clients (.ci/run does, as root)" >&2; exit 1; }
done
. "$HERE/etcd-cluster.sh"
pass=0
trap 'echo "FAIL - line $LINENO: $BASH_COMMAND exited $?" >&2' ERR

ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
fail() {
	echo "FAIL - $*" >&2
	for n in n1 n2 n3; do echo "--- $n log" >&2; tail -n 15 "$WORK/$n.log" >&2 || true; done
	echo "--- etcd log" >&2; tail -n 10 "$WORK/etcd.log" >&2 || true
	exit 1
}
# expect_exit CODE CMD...: CMD must exit with CODE and say something on stderr.
expect_exit() {
	local want=$1; shift
	local got=0
	"$@" >"$WORK/out" 2>"$WORK/err" || got=$?
	[ "$got" = "$want" ] || fail "'$*' exited $got, want $want: $(cat "$WORK/err")"
	[ "$want" = 0 ] || [ -s "$WORK/err" ] || fail "'$*' printed no error"
}
# expect_refused NODE CMD...: the MQTT client CMD fails against NODE, which is up
# and answered (a refusal, not a dead port).
expect_refused() {
	local n=$1; shift
	if "$@" >"$WORK/out" 2>&1; then fail "'$*' succeeded, want a refusal"; fi
	! grep -q "Connection refused" "$WORK/out" || fail "'$*': nothing listens on node $n's port"
	alive "${NODE_PID[$n]}" || fail "node $n is not running"
}
has() { grep -- "$1" >/dev/null; }
tls_of() { echo "--cafile $WORK/$1/ca.pem --cert $WORK/$1/client.crt --key $WORK/$1/client.key"; }
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# owner CLIENT_ID: the node that holds CLIENT_ID in etcd's session registry (empty: none).
owner() { etcdctl --endpoints "$ETCD" get --print-value-only "/gatehouse/sessions/$1"; }
owner_is() { [ "$(owner "$1")" = "$2" ]; }
conn_on() { gh "$1" conn list --json | has "\"client_id\": \"$2\""; }
# conn_absent NODE CLIENT_ID: NODE answers and lists no session of CLIENT_ID.
conn_absent() { local out; out=$(gh "$1" conn list --json) && ! echo "$out" | has "\"client_id\": \"$2\""; }
# ready NODE: the HTTP status of NODE's /readyz.
ready() { curl -s -o "$WORK/readyz" -w '%{http_code}' "http://127.0.0.1:${HTTP[$1]}/readyz"; }

# sub NODE CERT CLIENT_ID: a mosquitto_sub on NODE that stays up while the session does; prints its pid.
sub() {
	mosquitto_sub -h 127.0.0.1 -p "${PORT[$1]}" $(tls_of "$2") -i "$3" -t "devices/$2/#" -v >"$WORK/$3.out" 2>&1 &
	PIDS+=($!)
	SUBPID=$!
}
# roundtrip NODE CERT: mosquitto_pub on NODE reaches a mosquitto_sub on NODE.
roundtrip() {
	local f="$WORK/rt-$1-$2.out"
	mosquitto_sub -h 127.0.0.1 -p "${PORT[$1]}" $(tls_of "$2") -i "rt-$1-$2" -t "devices/$2/rt" -C 1 -W 10 >"$f" 2>&1 &
	local s=$!
	wait_for 5 conn_on "$1" "rt-$1-$2" || fail "roundtrip subscriber on $1 did not connect: $(cat "$f")"
	mosquitto_pub -h 127.0.0.1 -p "${PORT[$1]}" $(tls_of "$2") -i "rtp-$1-$2" -t "devices/$2/rt" -m "hello $1" ||
		fail "mosquitto_pub on $1 with $2 failed"
	wait "$s" || fail "mosquitto_sub on $1 did not get its message: $(cat "$f")"
	grep -q "hello $1" "$f" || fail "mosquitto_sub on $1 got: $(cat "$f")"
}

# --- one etcd on loopback ports, data in the work dir
start_etcd || fail "etcd did not start"
ok "etcd $(etcd --version | head -1 | cut -d' ' -f3) serves on $ETCD"

# --- three nodes started at the same moment on the empty etcd
declare -A PORT NODE_PID HTTP
for n in n1 n2 n3; do
	HTTP[$n]=$(free_port)
	"$BIN" serve --data "$WORK/$n" --etcd "$ETCD" --node "$n" --mqtts 127.0.0.1:0 --wss "" --http "127.0.0.1:${HTTP[$n]}" >"$WORK/$n.log" 2>&1 &
	NODE_PID[$n]=$!
	PIDS+=($!)
done
for n in n1 n2 n3; do
	wait_for 20 test -S "$WORK/$n/admin.sock" || fail "node $n did not start"
	PORT[$n]=$(port_of "$n")
done
for n in n1 n2 n3; do gh "$n" ca export --out "$WORK/$n-ca.pem"; done
cmp -s "$WORK/n1-ca.pem" "$WORK/n2-ca.pem" && cmp -s "$WORK/n1-ca.pem" "$WORK/n3-ca.pem" ||
	fail "the three nodes started together serve different roots"
ok "three nodes started together on an empty etcd agree on one root (mqtts ${PORT[n1]}, ${PORT[n2]}, ${PORT[n3]})"

# --- devices spread across the nodes; certificates created through node 1 work on all three
for d in dev1 dev2 dev3 dev4; do
	eval "S_$d=$(gh n1 cert create --cn "$d" --out "$WORK/$d" 2>/dev/null)"
done
[ -n "$S_dev4" ] || fail "cert create through node 1 printed no serial"
gh n3 cert list --json | has "\"serial\": \"$S_dev4\"" || fail "node 3 does not list a certificate created through node 1"
sub n1 dev1 a1; A1=$SUBPID
sub n2 dev2 a2; A2=$SUBPID
sub n3 dev3 a3; A3=$SUBPID
wait_for 10 conn_on n1 a1 || fail "dev1 did not connect to node 1: $(cat "$WORK/a1.out")"
wait_for 10 conn_on n2 a2 || fail "dev2 did not connect to node 2: $(cat "$WORK/a2.out")"
wait_for 10 conn_on n3 a3 || fail "dev3 did not connect to node 3: $(cat "$WORK/a3.out")"
wait_for 5 owner_is a1 n1 || fail "registry: a1 is held by '$(owner a1)', want n1"
wait_for 5 owner_is a2 n2 || fail "registry: a2 is held by '$(owner a2)', want n2"
wait_for 5 owner_is a3 n3 || fail "registry: a3 is held by '$(owner a3)', want n3"
roundtrip n3 dev4
gh n1 cert list --json | /usr/bin/python3 -c "import json,sys; sys.exit(0 if {c['cn']: c['state'] for c in json.load(sys.stdin)}.get('dev4')=='active' else 1)" ||
	fail "node 1 does not see dev4's first use on node 3 as active"
ok "devices on all three nodes connect; a cert created through node 1 publishes and subscribes on node 3, and node 1 sees it active"

# --- a suspend through node 1 drops the device on node 3 at once; node 2 refuses it
gh n1 cert suspend "$S_dev3" >/dev/null
wait_for 3 gone "$A3" || fail "dev3's mosquitto_sub on node 3 still runs 3 s after a suspend through node 1"
wait_for 5 conn_absent n3 a3 || fail "node 3 still lists dev3's session"
expect_refused n2 mosquitto_pub -h 127.0.0.1 -p "${PORT[n2]}" $(tls_of dev3) -i a3-again -t devices/dev3/x -m x
gh n2 events --json | has '"reason": "suspended"' || wait_for 5 bash -c "'$BIN' --data '$WORK/n2' events --json | grep -q '\"reason\": \"suspended\"'" ||
	fail "node 2 did not log its refusal of the suspended device"
alive "$A1" && alive "$A2" || fail "the suspend dropped other devices"
ok "cert suspend through node 1 drops the device's session on node 3 within 3 s; node 2 refuses it; others stay up"

# --- client-id takeover across nodes: the same client ID on node 2 ends node 1's session
/usr/bin/python3 "$HERE/device.py" --port "${PORT[n1]}" --ca "$WORK/dev1/ca.pem" --cert "$WORK/dev1/client.crt" \
	--key "$WORK/dev1/client.key" --client-id twin --topic devices/dev1/telemetry --seconds 60 >"$WORK/twin1.out" 2>&1 &
TWIN=$!; PIDS+=($TWIN)
wait_for 10 grep -q "connected rc=0" "$WORK/twin1.out" || fail "paho device did not connect to node 1: $(cat "$WORK/twin1.out")"
wait_for 5 owner_is twin n1 || fail "registry: twin is held by '$(owner twin)', want n1"
sub n2 dev1 twin; TWIN2=$SUBPID
wait_for 5 gone "$TWIN" || fail "node 1 kept the paho session after node 2 took its client ID over: $(cat "$WORK/twin1.out")"
grep -q "disconnected" "$WORK/twin1.out" || fail "the paho device on node 1 did not see a disconnect: $(cat "$WORK/twin1.out")"
wait_for 5 owner_is twin n2 || fail "registry: twin is held by '$(owner twin)' after the takeover, want n2"
gh n1 events --json | has 'taken over by node n2' || fail "node 1 logged no takeover by node 2"
sleep 1
alive "$TWIN2" && conn_on n2 twin || fail "the new owner's session on node 2 did not stay up: $(cat "$WORK/twin.out")"
kill "$TWIN2"
ok "the same client ID connecting to node 2 takes the session over from node 1 (paho sees the drop; registry says n2)"

# --- doctor checks the cluster's store in etcd, read-only, while the nodes serve
expect_exit 0 "$BIN" doctor --etcd "$ETCD"
grep -q "^store etcd:$ETCD/gatehouse" "$WORK/out" && grep -q "the store is healthy" "$WORK/out" && grep -q "certificate index" "$WORK/out" ||
	fail "doctor --etcd: $(cat "$WORK/out")"
"$BIN" doctor --etcd "$ETCD" --json | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['ok'] and len(d['findings']) >= 5 else 1)" ||
	fail "doctor --etcd --json: $("$BIN" doctor --etcd "$ETCD" --json 2>&1)"
ok "doctor --etcd checks the cluster's store (records, certificate index, CA keys) while the nodes serve"

# --- kill -9 of node 2: nodes 1 and 3 keep serving; node 2's sessions leave the registry after the lease
sub n2 dev2 b2
wait_for 5 owner_is b2 n2 || fail "registry: b2 is held by '$(owner b2)', want n2"
kill -9 "${NODE_PID[n2]}"
killed=$SECONDS
wait "${NODE_PID[n2]}" 2>/dev/null || true
roundtrip n1 dev1
roundtrip n3 dev2
sub n3 dev4 c3; C3=$SUBPID
wait_for 5 owner_is c3 n3 || fail "node 3 took no new session after node 2 died"
# Before the lease (10 s) can have run out, the dead node's entry is still there.
[ $((SECONDS - killed)) -ge 8 ] || owner_is b2 n2 || fail "node 2's entry left the registry before its lease ran out"
# registry_holds NODE: some registry entry names NODE (etcdctl must answer).
registry_holds() { local v; v=$(etcdctl --endpoints "$ETCD" get --prefix /gatehouse/sessions/ --print-value-only) && echo "$v" | grep -qx "$1"; }
registry_free_of() { local v; v=$(etcdctl --endpoints "$ETCD" get --prefix /gatehouse/sessions/ --print-value-only) && ! echo "$v" | grep -qx "$1"; }
registry_holds n1 || fail "the registry names no session of node 1"
wait_for 20 registry_free_of n2 || fail "node 2's sessions are still in the registry 20 s after kill -9"
# cluster status lists the nodes alive: node 2 left with its lease.
wait_for 10 bash -c "'$BIN' --data '$WORK/n1' cluster status --json | /usr/bin/python3 -c \"import json,sys; sys.exit(0 if [n['name'] for n in json.load(sys.stdin)['nodes']] == ['n1', 'n3'] else 1)\"" ||
	fail "cluster status after node 2 died: $(gh n1 cluster status 2>&1)"
gh n3 cluster status >"$WORK/status" || fail "cluster status through node 3 failed"
grep -q "^cluster: node n3, etcd reachable" "$WORK/status" && grep -Eq "^n1 +mqtts=127.0.0.1:${PORT[n1]}" "$WORK/status" ||
	fail "cluster status through node 3: $(cat "$WORK/status")"
ok "kill -9 of node 2: nodes 1 and 3 keep publishing, subscribing and connecting; node 2's sessions left the registry $((SECONDS - killed)) s after the kill (lease 10 s) and cluster status lists n1 and n3"

# --- etcd stopped: writes are refused, the last state is enforced; restarted: the suspend goes through
[ "$(ready n1)" = 200 ] || fail "node 1's /readyz with etcd up: $(cat "$WORK/readyz")"
kill "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null || true
wait_for 10 bash -c "[ \"\$('$BIN' --data '$WORK/n1' cluster status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"posture\"][\"offline\"])')\" = True ]" ||
	fail "node 1 does not say it is offline 10 s after etcd stopped: $(gh n1 cluster status 2>&1)"
[ "$(ready n1)" = 503 ] && grep -q "etcd unreachable since" "$WORK/readyz" || fail "node 1's /readyz with etcd down: $(cat "$WORK/readyz")"
expect_exit 1 gh n1 cert suspend "$S_dev4"
grep -E "etcd unreachable since .* refused; nothing changed" "$WORK/err" >/dev/null || fail "a suspend without etcd is not explained: $(cat "$WORK/err")"
[ "$(wc -l <"$WORK/err")" = 1 ] || fail "the refused suspend takes more than one line: $(cat "$WORK/err")"
alive "$C3" || fail "dev4's session on node 3 dropped although its suspend was refused"
expect_refused n3 mosquitto_pub -h 127.0.0.1 -p "${PORT[n3]}" $(tls_of dev3) -i a3-offline -t devices/dev3/x -m x
ok "etcd stopped: cluster status and /readyz (503) say so; a suspend through node 1 is refused ($(cat "$WORK/err")); node 3 still refuses the device suspended before"
start_etcd || fail "etcd did not restart"
wait_for 30 gh n1 cert suspend "$S_dev4" || fail "the suspend still fails 30 s after etcd came back: $(gh n1 cert suspend "$S_dev4" 2>&1)"
# Node 3 applies it once its etcd client is back (a pause of at most 2 s between attempts).
applied=$SECONDS
wait_for 15 gone "$C3" || fail "dev4's mosquitto_sub on node 3 still runs 15 s after the retried suspend"
wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${HTTP[n1]}/readyz)\" = 200 ]" || fail "node 1's /readyz after etcd came back: $(ready n1; cat "$WORK/readyz")"
ok "etcd restarted: the retried suspend through node 1 goes through and drops the device on node 3 ($((SECONDS - applied)) s after it went through); /readyz is 200 again"

# --- TLS to etcd: a second etcd that wants client certificates, and a node with --etcd-ca/--etcd-cert/--etcd-key
T=$WORK/etcd-tls; mkdir -p "$T"
ossl() { openssl "$@" 2>>"$T/openssl.log" || fail "openssl $1 failed: $(tail -n 3 "$T/openssl.log")"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -subj /CN=etcd-test-ca -days 1
for who in server:serverAuth:IP:127.0.0.1 n4:clientAuth:DNS:n4; do
	IFS=: read -r name eku san <<<"$who"
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$name.key" -out "$T/$name.csr" -subj "/CN=$name"
	printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$san" "$eku" >"$T/$name.ext"
	ossl x509 -req -in "$T/$name.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 1 -extfile "$T/$name.ext" -out "$T/$name.pem"
done
TC=$(free_port); TP=$(free_port)
etcd --name tls --data-dir "$T/data" --listen-client-urls "https://127.0.0.1:$TC" --advertise-client-urls "https://127.0.0.1:$TC" \
	--listen-peer-urls "http://127.0.0.1:$TP" --initial-advertise-peer-urls "http://127.0.0.1:$TP" --initial-cluster "tls=http://127.0.0.1:$TP" \
	--cert-file "$T/server.pem" --key-file "$T/server.key" --trusted-ca-file "$T/ca.pem" --client-cert-auth >"$T/etcd.log" 2>&1 &
TLS_ETCD=$!; PIDS+=($TLS_ETCD)
wait_for 20 etcdctl --endpoints "https://127.0.0.1:$TC" --cacert "$T/ca.pem" --cert "$T/n4.pem" --key "$T/n4.key" endpoint health ||
	fail "the TLS etcd did not start: $(tail -n 5 "$T/etcd.log")"
expect_exit 1 timeout 30 "$BIN" serve --data "$WORK/n5" --etcd "https://127.0.0.1:$TC" --node n5 --etcd-ca "$T/ca.pem" --mqtts 127.0.0.1:0 --wss ""
grep -q "open store etcd:https://127.0.0.1:$TC" "$WORK/err" || fail "node 5 without a client certificate failed for another reason: $(cat "$WORK/err")"
"$BIN" serve --data "$WORK/n4" --etcd "https://127.0.0.1:$TC" --node n4 --etcd-ca "$T/ca.pem" --etcd-cert "$T/n4.pem" --etcd-key "$T/n4.key" \
	--mqtts 127.0.0.1:0 --wss "" >"$WORK/n4.log" 2>&1 &
NODE_PID[n4]=$!; PIDS+=($!)
wait_for 20 test -S "$WORK/n4/admin.sock" || fail "node 4 did not start on the TLS etcd: $(tail -n 5 "$WORK/n4.log")"
PORT[n4]=$(port_of n4)
gh n4 cert create --cn dev5 --out "$WORK/dev5" >/dev/null 2>&1 || fail "cert create through node 4 failed"
roundtrip n4 dev5
etcdctl --endpoints "https://127.0.0.1:$TC" --cacert "$T/ca.pem" --cert "$T/n4.pem" --key "$T/n4.key" get --prefix --keys-only /gatehouse/certs/ | grep -q . ||
	fail "node 4's certificate is not in the TLS etcd"
kill "${NODE_PID[n4]}"; wait "${NODE_PID[n4]}" 2>/dev/null || true
kill "$TLS_ETCD"; wait "$TLS_ETCD" 2>/dev/null || true
ok "TLS to etcd: a node with --etcd-ca/--etcd-cert/--etcd-key serves from an etcd that wants client certificates; one without a client certificate does not start"

echo "all $pass cluster checks passed"
