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

/usr/bin/python3 "$HERE/device.py" --port "$MQTTS_PORT" --ca "$J/ca.pem" --user jdev --token "$TOKEN" \
	--client-id jdev-py --topic jwt/jdev/py --seconds 1 >"$J/py.out" 2>&1 || fail "paho device with a token: $(cat "$J/py.out")"
grep -q "connected rc=0" "$J/py.out" && grep -q published "$J/py.out" || fail "paho device with a token did not publish: $(cat "$J/py.out")"
ok "Python paho with the token as its password and only the CA file publishes in jwt mode"

# HTTPS with Authorization: Bearer, in mode jwt on https; hdev is suspended at the end.
HURL="https://$(addr_of https)"
HTOKEN=$(gh token create --sub hdev --ttl 1h)
hcurl() { curl -sS --cacert "$J/ca.pem" "$@"; }
code=$(hcurl -o "$J/h401.out" -w '%{http_code}' -H "Authorization: Bearer $HTOKEN" --data-binary x "$HURL/v1/publish/jwt/hdev/t")
[ "$code" = 401 ] && has '"reason":"no client certificate"' <"$J/h401.out" || fail "a token alone over HTTPS in mode cert: $code $(cat "$J/h401.out")"
gh auth mode https jwt | has "auth mode jwt for https" || fail "auth mode https jwt did not say so"
mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$J/ca.pem" -u hdev -P "$HTOKEN" -i hdev-sub -t 'jwt/hdev/#' -v >"$J/hsub.out" 2>&1 &
PIDS+=($!)
wait_for 5 events_has '"client_id": "hdev-sub"' || fail "hdev's MQTT subscriber did not connect"
out=$(hcurl -H "Authorization: Bearer $HTOKEN" --data-binary 21.5 "$HURL/v1/publish/jwt/hdev/temp?qos=1")
echo "$out" | has '"qos":1' || fail "HTTPS publish with a token answered: $out"
wait_for 5 grep -q 'jwt/hdev/temp 21.5' "$J/hsub.out" || fail "mosquitto_sub did not get the HTTPS publish with a token: $(cat "$J/hsub.out")"
hcurl -N -H "Authorization: Bearer $HTOKEN" "$HURL/v1/subscribe/jwt/hdev/cmd/%23" >"$J/hsse.out" 2>&1 &
HSSE=$!
PIDS+=($HSSE)
wait_for 5 grep -q "event: subscribed" "$J/hsse.out" || fail "the event stream with a token did not start: $(cat "$J/hsse.out")"
code=$(hcurl -o "$J/hbad.out" -D "$J/hbad.hdr" -w '%{http_code}' -H "Authorization: Bearer not.a.token" --data-binary x "$HURL/v1/publish/jwt/hdev/t")
[ "$code" = 401 ] && has '"reason":"malformed token"' <"$J/hbad.out" && grep -qi 'www-authenticate: Bearer realm="gatehouse", error="invalid_token"' "$J/hbad.hdr" ||
	fail "a malformed token over HTTPS: $code $(cat "$J/hbad.hdr" "$J/hbad.out")"
gh token suspend hdev | has "dropped 2 sessions" || fail "token suspend did not drop hdev's MQTT and HTTPS sessions"
wait_for 3 grep -q '"reason":"suspended by operator"' "$J/hsse.out" || fail "token suspend did not end the event stream: $(cat "$J/hsse.out")"
wait_for 3 bash -c "! kill -0 $HSSE 2>/dev/null" || fail "curl -N with a suspended token still connected"
code=$(hcurl -o "$J/h403.out" -w '%{http_code}' -H "Authorization: Bearer $HTOKEN" --data-binary x "$HURL/v1/publish/jwt/hdev/t")
[ "$code" = 403 ] && has '"reason":"suspended"' <"$J/h403.out" || fail "a suspended subject over HTTPS: $code $(cat "$J/h403.out")"
gh auth mode https cert >/dev/null
ok "HTTPS: curl with Authorization: Bearer posts what mosquitto_sub receives and streams; bad token 401; token suspend ends the stream and 403s"

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
