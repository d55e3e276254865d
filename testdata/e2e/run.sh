#!/usr/bin/env bash
# End-to-end suite: the Kaa tutorial flow against the real binary, driven by
# clients Gatehouse did not write: mosquitto_pub/sub, Python paho-mqtt and
# openssl s_client. Usage: run.sh path/to/gatehouse
set -euo pipefail

BIN=$(realpath "${1:?usage: run.sh path/to/gatehouse}")
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
DATA="$WORK/data"
PIDS=()
pass=0

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	tmux -L gatehouse-e2e kill-server 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "FAIL - line $LINENO: $BASH_COMMAND exited $?" >&2' ERR

gh() { "$BIN" --data "$DATA" "$@"; }
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
fail() {
	echo "FAIL - $*" >&2
	echo "--- daemon log" >&2; tail -n 30 "$WORK/serve.log" >&2 || true
	echo "--- events" >&2; gh events 2>&1 | tail -n 20 >&2 || true
	exit 1
}
# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}
# expect_exit CODE CMD...: CMD must exit with CODE and say something on stderr.
expect_exit() {
	local want=$1; shift
	local got=0
	"$@" >"$WORK/out" 2>"$WORK/err" || got=$?
	[ "$got" = "$want" ] || fail "'$*' exited $got, want $want: $(cat "$WORK/err")"
	[ "$want" = 0 ] || [ -s "$WORK/err" ] || fail "'$*' printed no error"
}
# expect_fail CMD...: a client we did not write must fail (its exit codes are its own).
expect_fail() { if "$@" >"$WORK/out" 2>&1; then fail "'$*' succeeded, want a refusal"; fi; }
# has PATTERN: grep -q that reads all of its input. grep -q exits at the first
# match; a writer still writing (gatehouse tables go out cell by cell, echo
# line by line) then dies of SIGPIPE, and pipefail fails the check at random.
has() { grep -- "$1" >/dev/null; }
events_has() { gh events --json | has "$1"; }
addr_of() { gh mtls status --json | /usr/bin/python3 -c "import json,sys; print([t['addr'] for t in json.load(sys.stdin) if t['transport']=='$1'][0])"; }
state_of() { gh cert list --json | /usr/bin/python3 -c "import json,sys; print([c['state'] for c in json.load(sys.stdin) if c['serial']=='$1'][0])"; }
sessions_of() { gh cert list --json | /usr/bin/python3 -c "import json,sys; print([c['sessions'] for c in json.load(sys.stdin) if c['serial']=='$1'][0])"; }

# --- usage errors need no daemon
expect_exit 2 gh --no-such-flag
expect_exit 2 gh no-such-command
expect_exit 2 gh cert create --cn bad --ttl 5x --out "$WORK/bad"
[ ! -e "$WORK/bad" ] || fail "a refused create wrote files"
expect_exit 2 gh cert list --state sleeping
ok "usage errors exit 2 with a message"

# --- no command but serve, the TUI, demo and init creates a store
expect_exit 1 gh cert list
grep -q "gatehouse init" "$WORK/err" || fail "a missing store is not explained: $(cat "$WORK/err")"
[ "$(wc -l <"$WORK/err")" = 1 ] || fail "a missing store takes more than one line"
[ ! -e "$DATA" ] || fail "cert list created the data directory"
ok "commands on a data directory without a store fail in one line naming 'gatehouse init'"

# --- start the daemon on free loopback ports
"$BIN" serve --data "$DATA" --mqtts 127.0.0.1:0 --wss 127.0.0.1:0 --mqtt 127.0.0.1:0 --https 127.0.0.1:0 \
	--ssh 127.0.0.1:0 --http 127.0.0.1:0 >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_for 10 test -S "$DATA/admin.sock" || fail "daemon did not start"
[ "$(stat -c %a "$DATA")" = 700 ] || fail "data dir is not 0700"
[ "$(stat -c %a "$DATA/admin.sock")" = 600 ] || fail "admin socket is not 0600"
MQTTS=$(addr_of mqtts); WSS=$(addr_of wss)
MQTTS_PORT=${MQTTS##*:}; WSS_PORT=${WSS##*:}
expect_exit 1 "$BIN" serve --data "$DATA" --mqtts 127.0.0.1:0 --wss ""
ok "serve listens on mqtts $MQTTS and wss $WSS; a second daemon is refused"

# --- plain MQTT, only because --mqtt asked for it, and shown as such
MQTT_PORT=$(addr_of mqtt); MQTT_PORT=${MQTT_PORT##*:}
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t plain/test -m hello || fail "plain MQTT publish failed"
gh mtls status | has "n/a (plaintext)" || fail "mtls status does not flag the plaintext transport"
ok "plain MQTT works when asked for and is flagged as plaintext"

# --- get root certificate
gh ca export --out "$WORK/ca.pem"
openssl x509 -in "$WORK/ca.pem" -noout -subject >/dev/null || fail "ca.pem is not a certificate"
ok "ca export writes the root certificate"

# --- the authorization policy of a new data directory: default deny, each device its own topics
gh acl list --json | /usr/bin/python3 -c "import json,sys; p=json.load(sys.stdin); sys.exit(0 if p['default']=='deny' and [r['topic'] for r in p['rules']]==['kp1/+/+/\${cn}/#','devices/\${cn}/#'] else 1)" ||
	fail "the starter policy is not default deny with the two own-topic rules: $(gh acl list)"
expect_exit 2 gh acl add --allow --action publish --topic 'a/#/b'
expect_exit 2 gh acl add --allow --action publish --topic 'a' --who 'user:bob'
ok "a new data directory starts with default deny and own-topic rules; bad rules exit 2"

# --- one-way TLS (client-cert auth off); clients without a certificate need a rule
gh mtls off >/dev/null
ANON_RULE=$(gh acl add --allow --action pubsub --topic 'kp1/#' --who anonymous)
mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" -t 'kp1/#' -i nocert-sub -v >"$WORK/sub.out" 2>&1 &
SUB=$!; PIDS+=($SUB)
wait_for 5 events_has '"client_id": "nocert-sub"' || fail "cert-less subscriber did not connect with auth off"
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" -t kp1/demo/dcx/ep1/json -m '[{"temperature":21}]' ||
	fail "one-way TLS publish failed"
wait_for 5 grep -q temperature "$WORK/sub.out" || fail "subscriber did not receive the one-way TLS message"
ok "one-way TLS: mosquitto clients connect with ca.pem only, with the anonymous rule"

# --- switch client-cert auth on: the cert-less subscriber is dropped at once
out=$(gh mtls on --transport mqtts)
echo "$out" | has "dropped 1 session" || fail "mtls on said: $out"
wait_for 3 bash -c "! kill -0 $SUB 2>/dev/null || grep -qi 'error\|lost\|closed' '$WORK/sub.out'" || true
wait_for 3 events_has '"reason": "mtls switched on"' || fail "no disconnect event with cause 'mtls switched on'"
expect_fail mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" -t t -m x
wait_for 3 events_has '"reason": "no client certificate"' || fail "cert-less connect not refused with its reason"
gh acl remove "$ANON_RULE" >/dev/null
ok "mtls on drops the cert-less client and refuses new ones"

# --- issue a certificate (Kaa: Add TLS client certificate)
SERIAL=$(gh cert create --cn dev1 --ttl 90d --out "$WORK/dev1" 2>/dev/null)
[ -n "$SERIAL" ] || fail "cert create printed no serial"
for f in ca.pem client.crt client.key; do [ -f "$WORK/dev1/$f" ] || fail "missing $f"; done
[ "$(stat -c %a "$WORK/dev1/client.key")" = 600 ] || fail "client.key is not 0600"
[ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/dev1/client.crt")" = 2 ] || fail "client.crt is not leaf + chain"
expect_exit 1 gh cert create --cn dev1 --out "$WORK/dev1"
[ "$(state_of "$SERIAL")" = inactive ] || fail "new certificate is not inactive"
ok "cert create writes ca.pem, client.crt (chain), client.key (0600); state inactive"

# --- openssl s_client: the handshake with and without the certificate
echo | openssl s_client -connect "127.0.0.1:$MQTTS_PORT" -CAfile "$WORK/ca.pem" -cert "$WORK/dev1/client.crt" \
	-key "$WORK/dev1/client.key" -verify_return_error -brief 2>&1 | has "Verification: OK" || fail "s_client with cert failed"
echo | openssl s_client -connect "127.0.0.1:$MQTTS_PORT" -CAfile "$WORK/ca.pem" -tls1_1 >/dev/null 2>&1 &&
	fail "TLS 1.1 was accepted"
ok "openssl s_client completes mTLS with the issued certificate; TLS 1.1 is refused"

# --- the Python paho device from the tutorial, two-way TLS
D=$WORK/dev1
/usr/bin/python3 "$HERE/device.py" --port "$MQTTS_PORT" --ca "$D/ca.pem" --cert "$D/client.crt" --key "$D/client.key" \
	--client-id dev1-py --topic kp1/demo-v1/dcx/dev1/json --seconds 60 >"$WORK/dev1.out" 2>&1 &
PIDS+=($!)
wait_for 5 grep -q "connected rc=0" "$WORK/dev1.out" || fail "paho device did not connect: $(cat "$WORK/dev1.out")"
wait_for 5 bash -c "[ \"\$(\"$BIN\" --data '$DATA' cert list --json | grep -c '\"state\": \"active\"')\" -ge 1 ]" ||
	fail "certificate did not become active on first use"
[ "$(state_of "$SERIAL")" = active ] || fail "state is $(state_of "$SERIAL"), want active"
gh conn list --json | has '"client_id": "dev1-py"' || fail "conn list lacks the device"
ok "paho device connects with ca.pem/client.crt/client.key; certificate becomes active"

# --- isolation: a device can neither read nor write another device's topics
for cn in iso-a iso-b; do gh cert create --cn "$cn" --out "$WORK/$cn" >/dev/null 2>&1; done
tls_of() { echo --cafile "$WORK/$1/ca.pem" --cert "$WORK/$1/client.crt" --key "$WORK/$1/client.key"; }
# shellcheck disable=SC2046
mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" $(tls_of iso-b) -i iso-b-sub -t 'kp1/demo-v1/dcx/iso-b/#' -v >"$WORK/isob.out" 2>&1 &
PIDS+=($!)
wait_for 5 events_has '"client_id": "iso-b-sub"' || fail "iso-b's subscriber did not connect"
for f in 'kp1/demo-v1/dcx/iso-b/#' '#' 'kp1/#' '$SYS/#'; do
	# shellcheck disable=SC2046
	timeout 10 mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" $(tls_of iso-a) -i iso-a-sub -t "$f" -W 3 >"$WORK/isoa.out" 2>&1 || true
	grep -q "denied" "$WORK/isoa.out" || fail "iso-a could subscribe to $f: $(cat "$WORK/isoa.out")"
done
# shellcheck disable=SC2046
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" $(tls_of iso-a) -i iso-a-pub -t kp1/demo-v1/dcx/iso-b/json -m forged
# shellcheck disable=SC2046
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" $(tls_of iso-b) -i iso-b-pub -t kp1/demo-v1/dcx/iso-b/json -m genuine
wait_for 5 grep -q genuine "$WORK/isob.out" || fail "iso-b did not receive its own message"
! grep -q forged "$WORK/isob.out" || fail "iso-b received what iso-a published on its topic"
gh events --json | has '"type": "denied"' || fail "no denied event"
gh acl test --cn iso-a --action subscribe --topic 'kp1/#' | has '^deny: .*rule default' || fail "acl test does not explain the refusal"
ok "isolation: iso-a cannot subscribe to iso-b's topic, #, kp1/# or \$SYS/#, nor publish into iso-b's topic"

# --- devices over HTTPS: curl with the same certificate files, the same policy and lifecycle
gh cert create --cn http-dev --out "$WORK/http-dev" >/dev/null 2>&1
HTTPS_URL="https://$(addr_of https)"
curl_of() { echo --cacert "$WORK/$1/ca.pem" --cert "$WORK/$1/client.crt" --key "$WORK/$1/client.key"; }
# shellcheck disable=SC2046
mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" $(tls_of http-dev) -i http-dev-sub -t 'devices/http-dev/#' -v >"$WORK/httpsub.out" 2>&1 &
PIDS+=($!)
wait_for 5 events_has '"client_id": "http-dev-sub"' || fail "http-dev's MQTT subscriber did not connect"
# shellcheck disable=SC2046
out=$(curl -sS $(curl_of http-dev) --data-binary '{"temperature":21}' "$HTTPS_URL/v1/publish/devices/http-dev/telemetry?qos=1")
echo "$out" | has '"qos":1' || fail "HTTPS publish answered: $out"
wait_for 5 grep -q 'devices/http-dev/telemetry {"temperature":21}' "$WORK/httpsub.out" || fail "mosquitto_sub did not get the HTTPS publish: $(cat "$WORK/httpsub.out")"
# shellcheck disable=SC2046
curl -sS -N $(curl_of http-dev) "$HTTPS_URL/v1/subscribe/devices/http-dev/cmd/%23" >"$WORK/sse.out" 2>&1 &
SSE=$!; PIDS+=($SSE)
wait_for 5 grep -q "event: subscribed" "$WORK/sse.out" || fail "the event stream did not start: $(cat "$WORK/sse.out")"
gh conn list --json | has '"transport": "https"' || fail "conn list lacks the HTTPS session"
# shellcheck disable=SC2046
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" $(tls_of http-dev) -i http-dev-pub -t devices/http-dev/cmd/led -m on
wait_for 5 grep -q '"topic":"devices/http-dev/cmd/led","payload":"on"' "$WORK/sse.out" || fail "the event stream did not get the MQTT publish: $(cat "$WORK/sse.out")"
# shellcheck disable=SC2046
code=$(curl -sS -o "$WORK/deny.out" -w '%{http_code}' $(curl_of http-dev) --data-binary x "$HTTPS_URL/v1/publish/devices/iso-b/x")
[ "$code" = 403 ] && has '"reason":"publish devices/iso-b/x denied by rule default"' <"$WORK/deny.out" || fail "HTTPS publish outside the policy: $code $(cat "$WORK/deny.out")"
gh cert suspend http-dev >/dev/null
wait_for 2 grep -q '"reason":"suspended by operator"' "$WORK/sse.out" || fail "suspend did not end the event stream: $(cat "$WORK/sse.out")"
wait_for 2 bash -c "! kill -0 $SSE 2>/dev/null" || fail "curl -N still connected after suspend"
# shellcheck disable=SC2046
code=$(curl -sS -o "$WORK/susp.out" -w '%{http_code}' $(curl_of http-dev) --data-binary x "$HTTPS_URL/v1/publish/devices/http-dev/telemetry")
[ "$code" = 403 ] && has '"reason":"suspended"' <"$WORK/susp.out" || fail "suspended certificate over HTTPS: $code $(cat "$WORK/susp.out")"
gh mtls on --transport https | has "for https" || fail "mtls on --transport https failed"
code=$(curl -sS -o "$WORK/nocert.out" -w '%{http_code}' --cacert "$WORK/ca.pem" --data-binary x "$HTTPS_URL/v1/publish/devices/x")
[ "$code" = 401 ] && has '"reason":"no client certificate"' <"$WORK/nocert.out" || fail "no certificate over HTTPS: $code $(cat "$WORK/nocert.out")"
ok "HTTPS: curl posts telemetry mosquitto_sub receives, curl -N streams what mosquitto_pub sends, policy 403, suspend ends the stream and 403s, no cert 401"

# --- and over secure WebSocket
/usr/bin/python3 "$HERE/device.py" --port "$WSS_PORT" --transport websockets --ca "$D/ca.pem" --cert "$D/client.crt" \
	--key "$D/client.key" --client-id dev1-ws --seconds 60 >"$WORK/dev1ws.out" 2>&1 &
PIDS+=($!)
wait_for 5 grep -q "connected rc=0" "$WORK/dev1ws.out" || fail "paho wss device did not connect: $(cat "$WORK/dev1ws.out")"
[ "$(sessions_of "$SERIAL")" = 2 ] || fail "want 2 sessions on the certificate"
ok "the same certificate works over MQTT over secure WebSocket"

# --- suspend: both sessions drop within a second, reconnects are refused
out=$(gh cert suspend "${SERIAL:0:8}" --reason "e2e")
echo "$out" | has "dropped 2 sessions" || fail "suspend said: $out"
wait_for 1 grep -q "disconnected" "$WORK/dev1.out" || fail "device not dropped within 1s"
wait_for 1 grep -q "disconnected" "$WORK/dev1ws.out" || fail "wss device not dropped within 1s"
expect_fail mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$D/ca.pem" --cert "$D/client.crt" --key "$D/client.key" -t t -m x
wait_for 3 events_has '"reason": "suspended"' || fail "no refusal with reason suspended"
gh audit --json | has '"action": "cert.suspend"' || fail "suspend not in the audit log"
ok "suspend drops both live sessions at once and refuses the certificate at the handshake"

# --- reactivate lets it back; a follower sees it as one JSON object per line
"$BIN" --data "$DATA" events --follow --json >"$WORK/follow.out" 2>&1 &
FOLLOW=$!; PIDS+=($FOLLOW)
# The follower is subscribed once it streams a refusal made after it started.
follow_ready() {
	mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" -t t -m x >/dev/null 2>&1 || true
	grep -q '"type":"refused"' "$WORK/follow.out"
}
wait_for 5 follow_ready || fail "events --follow streams nothing: $(cat "$WORK/follow.out")"
gh cert reactivate "$SERIAL" >/dev/null
wait_for 3 grep -q '"type":"cert_state".*suspended -> active' "$WORK/follow.out" || fail "events --follow missed the reactivation: $(cat "$WORK/follow.out")"
kill -TERM $FOLLOW; wait $FOLLOW || fail "events --follow did not exit cleanly on SIGTERM"
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$D/ca.pem" --cert "$D/client.crt" --key "$D/client.key" -t kp1/x -m back ||
	fail "reactivated certificate refused"
ok "reactivate lets the device back"

# --- conn kick drops one session, audited; the certificate stays active and a CN names it
/usr/bin/python3 "$HERE/device.py" --port "$MQTTS_PORT" --ca "$D/ca.pem" --cert "$D/client.crt" --key "$D/client.key" \
	--client-id dev1-kick --seconds 60 >"$WORK/kick.out" 2>&1 &
PIDS+=($!)
wait_for 5 grep -q "connected rc=0" "$WORK/kick.out" || fail "device for the kick did not connect: $(cat "$WORK/kick.out")"
out=$(gh conn kick dev1-kick)
echo "$out" | has "kicked dev1-kick" || fail "conn kick said: $out"
wait_for 2 grep -q "disconnected" "$WORK/kick.out" || fail "kicked device not dropped"
wait_for 3 events_has '"reason": "kicked by operator' || fail "no disconnect with cause kicked by operator"
gh audit --json | has '"action": "session.kick"' || fail "the kick is not in the audit log"
[ "$(state_of "$SERIAL")" = active ] || fail "a kick changed the certificate to $(state_of "$SERIAL")"
gh cert show dev1 | has "$SERIAL" || fail "cert show by CN did not find dev1"
expect_fail gh conn kick nobody
ok "conn kick drops one session (audited), the certificate stays active; a CN names the certificate"

# --- revoke is final
out=$(gh cert revoke "$SERIAL" --json)
echo "$out" | has '"state": "revoked"' || fail "revoke said: $out"
expect_exit 1 gh cert reactivate "$SERIAL"
expect_exit 1 gh cert revoke "$SERIAL"
expect_fail mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$D/ca.pem" --cert "$D/client.crt" --key "$D/client.key" -t t -m x
ok "revoke is final: reactivate and a second revoke fail with exit 1, the handshake refuses it"

# --- a device that keeps its own key: openssl makes the CSR, gatehouse signs it
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/own.key" \
	-subj /CN=own-key-device -out "$WORK/own.csr" 2>/dev/null
OWN=$(gh cert sign --csr "$WORK/own.csr" --ttl 30d --out "$WORK/own.crt" 2>/dev/null)
[ -n "$OWN" ] || fail "cert sign printed no serial"
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" --cert "$WORK/own.crt" --key "$WORK/own.key" -t kp1/x -m signed ||
	fail "device with a signed CSR refused"
[ "$(state_of "$OWN")" = active ] || fail "signed certificate not active after use"
echo "garbage" >"$WORK/bad.csr"
expect_exit 1 gh cert sign --csr "$WORK/bad.csr"
ok "cert sign: a device with its own key (openssl CSR) connects; a malformed CSR is refused"

# --- a CA the operator brings: its devices are registered on first use
TD=$(cd "$HERE/.." && pwd)
expect_fail mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" --cert "$TD/foreign-client.pem" --key "$TD/foreign-client.key" -t t -m x
wait_for 3 events_has '"reason": "unknown CA"' || fail "an untrusted CA's device is not refused as unknown CA"
gh ca trust "$TD/foreign-ca.pem" --auto-register | has "Acme Devices CA" || fail "ca trust did not report the CA"
gh ca list | has trusted || fail "ca list lacks the trusted CA"
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" --cert "$TD/foreign-client.pem" --key "$TD/foreign-client.key" -t kp1/acme -m hi ||
	fail "a device of the trusted CA is refused"
gh cert list --json | has '"source": "auto-registered"' || fail "the trusted CA's device was not auto-registered"
gh cert suspend ac3e0001 >/dev/null
expect_fail mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/ca.pem" --cert "$TD/foreign-client.pem" --key "$TD/foreign-client.key" -t t -m x
ok "ca trust: an operator's CA is trusted, its device auto-registered, and suspending it works the same"

# --- the commonest mistake: plaintext MQTT on the TLS port
/usr/bin/python3 - "$MQTTS_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(bytes([0x10, 0x10, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 4]) + b"oops")
try:
    s.recv(16)
except OSError:
    pass
PY
wait_for 3 events_has '"reason": "plaintext MQTT on TLS port"' || fail "plaintext CONNECT not explained"
head -c 4096 /dev/urandom | timeout 3 bash -c "cat > /dev/tcp/127.0.0.1/$MQTTS_PORT" 2>/dev/null || true
gh mtls status >/dev/null || fail "daemon died after garbage"
ok "plaintext MQTT on the TLS port is refused with its reason; garbage does not hurt"

# --- bad input is refused with a clear error and loses nothing
echo "not a pem" >"$WORK/garbage.pem"
expect_exit 1 gh cert import "$WORK/garbage.pem"
expect_exit 1 gh ca trust "$WORK/garbage.pem"
expect_exit 1 gh cert show ffffffffffff
expect_exit 2 gh cert suspend
ok "malformed PEMs and unknown serials fail cleanly"

# --- the same flow in the TUI, attached to the daemon, driven through tmux
TM="tmux -L gatehouse-e2e"
screen() { $TM capture-pane -p -t tui; }
screen_has() { screen | has "$1"; }
keys() { for k in "$@"; do $TM send-keys -t tui "$k"; sleep 0.2; done; }
# 150 columns: the title shows the listeners and the policy first, and what
# the TUI is attached to only where room is left.
$TM new-session -d -s tui -x 150 -y 30 "$BIN --data $DATA"
wait_for 5 screen_has "daemon at" || fail "TUI did not attach: $(screen)"
keys n
wait_for 3 screen_has "New client certificate" || fail "no create form: $(screen)"
keys tuidev Tab Tab Tab "$WORK/tuidev" Enter
wait_for 5 screen_has "not kept" || fail "TUI create failed: $(screen)"
[ "$(stat -c %a "$WORK/tuidev/client.key")" = 600 ] || fail "TUI-written client.key is not 0600"
keys Escape / tuidev Enter
mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/tuidev/ca.pem" --cert "$WORK/tuidev/client.crt" \
	--key "$WORK/tuidev/client.key" -i tuidev-sub -t 'kp1/+/+/tuidev/#' >"$WORK/tuisub.out" 2>&1 &
TUISUB=$!; PIDS+=($TUISUB)
keys 2
wait_for 5 screen_has tuidev-sub || fail "TUI does not show the connection: $(screen)"
keys 1 s
wait_for 3 screen_has "suspended tuidev" || fail "TUI suspend not reported: $(screen)"
wait_for 2 bash -c "! kill -0 $TUISUB 2>/dev/null" || fail "mosquitto_sub survived the suspend"
keys 2
wait_for 3 screen_has "suspended by operator" || fail "the dropped row lacks its cause: $(screen)"
gh audit --json | has '(tui)' || fail "the TUI's suspend is not audited with its actor"
keys q
wait_for 3 bash -c "! $TM has-session -t tui 2>/dev/null" || fail "q did not quit the TUI"
ok "TUI in tmux: create a certificate, see its device connect, s drops it with its cause"

# --- the console over SSH: the real OpenSSH client drives the TUI in tmux
logged_addr() { sed -n "s/.*msg=listening transport=$1 addr=\([^ ]*\).*/\1/p" "$WORK/serve.log" | head -n1; }
SSH_PORT=$(logged_addr ssh); SSH_PORT=${SSH_PORT##*:}
[ -n "$SSH_PORT" ] || fail "serve did not log its ssh address"
[ "$(stat -c %a "$DATA/ssh_host_ed25519_key")" = 600 ] || fail "the SSH host key is not 0600"
for k in alice bob mallory; do ssh-keygen -q -t ed25519 -N '' -C "$k@e2e" -f "$WORK/$k"; done
{ cat "$WORK/alice.pub"; echo "viewer $(cat "$WORK/bob.pub")"; } >"$DATA/authorized_keys"
SSH_OPTS="-p $SSH_PORT -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR"
expect_fail ssh $SSH_OPTS -o BatchMode=yes -i "$WORK/mallory" 127.0.0.1 true
grep -q "Permission denied" "$WORK/out" || fail "an unknown key was not refused: $(cat "$WORK/out")"
SSHDEV=$(gh cert create --cn sshdev --out "$WORK/sshdev" 2>/dev/null)
one_session() { [ "$(sessions_of "$1")" = 1 ]; }
ssh_sub() {
	mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$WORK/sshdev/ca.pem" --cert "$WORK/sshdev/client.crt" \
		--key "$WORK/sshdev/client.key" -i sshdev-sub -t 'devices/sshdev/#' >/dev/null 2>&1 & # its own topics: default deny
	SSHSUB=$!; PIDS+=($SSHSUB)
	wait_for 5 one_session "$SSHDEV" ||
		fail "sshdev did not connect"
}
ssh_sub
sscreen() { $TM capture-pane -p -t "$1"; }
sscreen_has() { sscreen "$1" | has "$2"; }
skeys() { local s=$1; shift; for k in "$@"; do $TM send-keys -t "$s" "$k"; sleep 0.2; done; }
$TM new-session -d -s alice -x 150 -y 30 "ssh -tt $SSH_OPTS -i $WORK/alice 127.0.0.1"
wait_for 10 sscreen_has alice "in-process broker" || fail "no console over SSH: $(sscreen alice)"
# The console opens on Home; the Certificates view (1) filters with / and suspends with s.
skeys alice 1 / sshdev Enter s
wait_for 3 sscreen_has alice "suspended sshdev" || fail "suspend over SSH not reported: $(sscreen alice)"
wait_for 3 bash -c "! kill -0 $SSHSUB 2>/dev/null" || fail "sshdev's connection survived a suspend over SSH"
fp=$(ssh-keygen -lf "$WORK/alice.pub" | awk '{print $2}')
gh audit --serial "$SSHDEV" --json | has "\"actor\": \"ssh:$fp alice@e2e\"" || fail "the SSH suspend is not audited with the key: $(gh audit --limit 3)"
gh events --type cert_state --serial "$SSHDEV" | has "by ssh:$fp alice@e2e" || fail "Activity does not name the SSH operator"
gh cert reactivate "$SSHDEV" >/dev/null
ssh_sub
$TM new-session -d -s bob -x 150 -y 30 "ssh -tt $SSH_OPTS -i $WORK/bob 127.0.0.1"
wait_for 10 sscreen_has bob "viewer (read-only)" || fail "no viewer console: $(sscreen bob)"
skeys bob 1 / sshdev Enter s
wait_for 3 sscreen_has bob "changes are not allowed" || fail "the viewer was not told it is read-only: $(sscreen bob)"
[ "$(state_of "$SSHDEV")" = active ] || fail "a viewer key changed a certificate's state"
kill -0 "$SSHSUB" || fail "a viewer's s dropped the device"
skeys alice q; skeys bob q
wait_for 5 bash -c "! $TM has-session -t alice 2>/dev/null && ! $TM has-session -t bob 2>/dev/null" || fail "q did not end the SSH sessions"
gh events --type console --json | has "viewer console closed by ssh:" || fail "console sessions are not in the event log"
ok "SSH console: a suspend over OpenSSH drops the device, audited by key; a viewer cannot suspend; an unknown key is refused"

# --- metrics and probes
HTTP=$(logged_addr http)
[ -n "$HTTP" ] || fail "serve did not log its http address"
curl -fsS "http://$HTTP/metrics" >"$WORK/metrics"
grep -q '^gatehouse_disconnects_total{cause="suspended by operator"} [1-9]' "$WORK/metrics" || fail "no drop by cause in /metrics"
grep -q '^gatehouse_refusals_total{reason="no client certificate",transport="mqtts"} [1-9]' "$WORK/metrics" || fail "no refusal by reason in /metrics"
grep -q '^gatehouse_certificates{issuer=.*,state="active"} [1-9]' "$WORK/metrics" || fail "no certificates by state in /metrics"
grep -q '^gatehouse_suspend_drop_seconds_count [1-9]' "$WORK/metrics" || fail "no suspend-to-drop latency in /metrics"
[ "$(curl -fsS "http://$HTTP/readyz")" = ready ] || fail "/readyz is not ready"
[ "$(curl -fsS "http://$HTTP/healthz")" = ok ] || fail "/healthz is not ok"
ok "/metrics scraped with curl; /healthz and /readyz answer"

. "$HERE/revocation.sh"
. "$HERE/issuers.sh"
. "$HERE/jwt.sh"

# --- SIGHUP rotates the server certificate without a restart
# The server certificate arrives before client-cert auth refuses us, so a
# certificate-less s_client still sees it.
server_serial() { (echo | openssl s_client -connect "127.0.0.1:$MQTTS_PORT" 2>/dev/null | openssl x509 -noout -serial 2>/dev/null) || true; }
before=$(server_serial)
[ -n "$before" ] || fail "could not read the server certificate"
kill -HUP "${PIDS[0]}"
rotated() { [ "$(server_serial)" != "$before" ]; }
wait_for 5 rotated || fail "SIGHUP did not rotate the server certificate"
gh audit --json | has '"action": "server.rotate"' || fail "rotation not audited"
ok "SIGHUP rotates the server certificate in place, audited"

# --- stop the daemon; commands then open the store directly
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}" || fail "serve did not exit cleanly on SIGTERM"
[ ! -e "$DATA/admin.sock" ] || fail "admin socket left behind"
[ "$(state_of "$SERIAL")" = revoked ] || fail "offline cert list disagrees"
gh audit | has cert.revoke || fail "offline audit lacks the revoke"
ok "SIGTERM stops the daemon cleanly; commands work on the store without it"

# --- CA keys at rest: encrypted offline; from then on the store needs the passphrase
grep -q 'level=WARN msg="CA keys are not encrypted at rest' "$WORK/serve.log" || fail "serve did not warn about clear CA keys"
grep -qa 'PRIVATE KEY' "$DATA/gatehouse.db" || fail "the clear-key check below would prove nothing"
printf 'correct horse\n' >"$WORK/pass"; printf 'wrong\n' >"$WORK/wrong"; chmod 600 "$WORK/pass" "$WORK/wrong"
# Four keys: the root, the default issuing CA and issuers.sh's tenant-a and instance.
gh ca passphrase set --new-passphrase-file "$WORK/pass" | has "encrypted 4 CA keys" || fail "ca passphrase set"
! grep -qa 'PRIVATE KEY' "$DATA/gatehouse.db" || fail "a clear CA key is left in the store file"
expect_exit 1 gh cert list
grep -q -- '--ca-passphrase-file' "$WORK/err" || fail "a sealed store does not say how to give the passphrase: $(cat "$WORK/err")"
expect_exit 1 gh --ca-passphrase-file "$WORK/wrong" cert list
[ "$(cat "$WORK/err")" = "gatehouse: wrong CA passphrase for $DATA/gatehouse.db" ] || fail "wrong passphrase: $(cat "$WORK/err")"
gh --ca-passphrase-file "$WORK/pass" cert list --json | has "$SERIAL" || fail "the passphrase does not open the store"
export GATEHOUSE_CA_PASSPHRASE_FILE="$WORK/pass" # for the rest of the suite
ok "ca passphrase set encrypts the CA keys; a missing or wrong passphrase is one line, exit 1"
# --- read-only commands leave the store's bytes as they were; doctor checks it
sum_before=$(sha256sum <"$DATA/gatehouse.db")
gh cert list >/dev/null; gh audit >/dev/null; gh ca list >/dev/null; gh events >/dev/null
gh doctor | has "the store is healthy" || fail "doctor: $(gh doctor 2>&1)"
[ "$(sha256sum <"$DATA/gatehouse.db")" = "$sum_before" ] || fail "a read-only command changed the store"
ok "cert list, audit, ca list, events and doctor leave the store file unchanged"

# --- with no daemon the TUI runs the broker in-process, and quitting stops it
$TM new-session -d -s tui -x 100 -y 30 "$BIN --data $DATA --mqtts 127.0.0.1:0 --wss 127.0.0.1:0"
wait_for 5 screen_has "in-process broker" || fail "TUI did not start a broker: $(screen)"
wait_for 3 test -S "$DATA/admin.sock" || fail "in-process TUI serves no admin socket"
gh cert list --json | has tuidev || fail "a second terminal cannot script the in-process broker"
keys q
wait_for 5 bash -c "! test -e '$DATA/admin.sock'" || fail "quitting the TUI left the broker running"
gh cert list >/dev/null || fail "store still locked after the TUI quit"
ok "TUI with an in-process broker: scriptable from a second terminal, q stops it"

# --- demo mode, headless: simulated devices over real mTLS, scripted from here
DEMO="$WORK/demo"
"$BIN" demo --no-tui --devices 3 --data "$DEMO" --mqtts 127.0.0.1:0 --wss 127.0.0.1:0 >"$WORK/demo.log" 2>&1 &
PIDS+=($!)
dm() { "$BIN" --data "$DEMO" "$@"; }
live_devices() { [ "$(dm conn list --json | grep -c '"client_id": "device-')" = "$1" ]; }
wait_for 10 live_devices 3 || fail "demo devices did not connect: $(cat "$WORK/demo.log")"
dm events --json | has '"reason": "unknown CA"' || wait_for 10 bash -c "'$BIN' --data '$DEMO' events --json | grep -q 'unknown CA'" ||
	fail "the foreign device is not refused"
D2=$(dm cert list --json | /usr/bin/python3 -c "import json,sys; print([c['serial'] for c in json.load(sys.stdin) if c['cn']=='device-2'][0])")
dm cert suspend "$D2" | has "dropped 1 session" || fail "suspending device-2 did not drop it"
wait_for 10 bash -c "'$BIN' --data '$DEMO' events --json | grep -q '\"cn\": \"device-2\"' && '$BIN' --data '$DEMO' events --json | /usr/bin/python3 -c \"import json,sys; sys.exit(0 if any(e['type']=='refused' and e['reason']=='suspended' and e['cn']=='device-2' for e in json.load(sys.stdin)) else 1)\"" ||
	fail "device-2's retries are not refused as suspended"
dm cert reactivate "$D2" >/dev/null
wait_for 10 live_devices 3 || fail "device-2 did not come back after reactivation"
dm conn list --json | has '"msgs_in": [1-9]' || fail "demo devices publish nothing"
ok "demo: devices connect over mTLS, a suspended one is refused on retry and returns after reactivation"

# --- the README's quick start, pasted as a new user would
bash "$HERE/quickstart.sh" "$BIN" "$HERE/../../README.md" || fail "the README quick start does not run as written"
ok "the README quick start runs top to bottom as written"

echo "all $pass e2e checks passed"
