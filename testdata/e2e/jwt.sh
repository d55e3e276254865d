# Sourced by run.sh while the daemon serves mqtts on $MQTTS_PORT with
# client-cert auth on: a device with only a JWT and the CA file connects once
# the transport's auth mode is jwt, and drops at once when its subject is
# suspended. Leaves mqtts in mode cert, as it found it.
J="$WORK/jwt"
mkdir -p "$J"
gh ca export --out "$J/ca.pem"
RULE=$(gh acl add --allow --action pubsub --topic 'jwt/${sub}/#' --who 'sub:*')
TOKEN=$(gh token create --sub jdev --ttl 1h)
jpub() { mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$J/ca.pem" "$@" -t jwt/jdev/t -m x; }
expect_fail jpub -u jdev -P "$TOKEN"
gh auth mode mqtts jwt | has "auth mode jwt for mqtts" || fail "auth mode mqtts jwt did not say so"
gh auth mode --json | has '"mode": "jwt"' || fail "auth mode does not show jwt"
jpub -u jdev -P "$TOKEN" || fail "a device with only a JWT cannot publish in jwt mode"
jpub -V mqttv5 -P "$TOKEN" || fail "MQTT 5 with the token as its password alone cannot publish"
expect_fail jpub -u jdev -P not.a.token
wait_for 3 events_has '"reason": "malformed token"' || fail "no refusal names the malformed token"
expect_fail jpub -u someone-else -P "$TOKEN"
wait_for 3 events_has "\"reason\": \"user name is not the token's subject\"" || fail "no refusal names the user name mismatch"
ok "mosquitto_pub with only the CA file and a JWT publishes in jwt mode; bad tokens are refused with their reason"

mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$J/ca.pem" -u jdev -P "$TOKEN" -i jdev-sub -t 'jwt/jdev/#' >"$J/sub.out" 2>&1 &
JSUB=$!
PIDS+=("$JSUB")
wait_for 5 sh -c "'$BIN' --data '$DATA' conn list | grep -q jdev-sub" || fail "the JWT subscriber did not connect"
gh conn list --json | has '"credential": "jwt"' || fail "conn list does not show the jwt credential"
gh token list | has "jdev" || fail "token list does not list the subject"
gh token suspend jdev | has "dropped 1 session" || fail "token suspend did not drop the live session"
wait_for 5 sh -c "! kill -0 $JSUB 2>/dev/null" || fail "mosquitto_sub of a suspended subject is still connected"
expect_fail jpub -u jdev -P "$TOKEN"
gh token reactivate jdev >/dev/null
jpub -u jdev -P "$TOKEN" || fail "the subject is not back after reactivation"
JTI=$(gh token list --json | /usr/bin/python3 -c "import json,sys; print([t['jti'] for t in json.load(sys.stdin)['issued'] if t['sub']=='jdev'][0])")
gh token revoke "$JTI" | has "revoked token $JTI" || fail "token revoke JTI did not say so"
expect_fail jpub -u jdev -P "$TOKEN"
wait_for 3 events_has '"reason": "token revoked"' || fail "no refusal names the revoked token"
gh audit | has "token.suspend" || fail "the token suspend is not audited"
gh auth mode mqtts cert >/dev/null
gh acl remove "$RULE" >/dev/null
ok "token suspend drops the JWT session at once; reactivate admits it again; a revoked jti is refused"
