# Sourced by run.sh while the daemon serves mqtts on $MQTTS_PORT: a second
# issuer and an operator's imported issuer (signed by an offline root) issue
# certificates that real clients use; suspending an issuer drops its fleet.
I="$WORK/issuers"
mkdir -p "$I"
gh ca issuer create tenant-a >/dev/null
gh cert create --cn ten-1 --issuer tenant-a --out "$I/ten-1" >/dev/null 2>&1
pubas() { mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$I/$1/ca.pem" --cert "$I/$1/client.crt" --key "$I/$1/client.key" -t "devices/$1/t" -m x; }
pubas ten-1 || fail "a device of the second issuer cannot publish"
mosquitto_sub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$I/ten-1/ca.pem" --cert "$I/ten-1/client.crt" --key "$I/ten-1/client.key" \
	-i ten-1-sub -t 'devices/ten-1/#' >"$I/sub.out" 2>&1 &
SUBPID=$!
PIDS+=("$SUBPID")
wait_for 5 sh -c "'$BIN' --data '$DATA' conn list | grep -q ten-1-sub" || fail "the second issuer's subscriber did not connect"
gh ca issuer suspend tenant-a | has "dropped 1 session" || fail "suspending the issuer did not drop its device"
wait_for 5 sh -c "! kill -0 $SUBPID 2>/dev/null" || fail "mosquitto_sub of a suspended issuer is still connected"
! pubas ten-1 2>/dev/null || fail "a device of a suspended issuer was admitted"
events_has '"issuer suspended"' || fail "no refusal names the suspended issuer"
gh ca issuer reactivate tenant-a >/dev/null
pubas ten-1 || fail "the issuer's device is not back after reactivation"

( cd "$I" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key -out root.pem -subj "/CN=Offline Root" \
		-days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign 2>/dev/null &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inst.key -out inst.csr -subj /CN=instance 2>/dev/null &&
	printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=keyCertSign,cRLSign\n' >ext.cnf &&
	openssl x509 -req -in inst.csr -CA root.pem -CAkey root.key -CAcreateserial -days 1825 -extfile ext.cnf -out inst.pem 2>/dev/null &&
	cat inst.pem root.pem >chain.pem ) || fail "openssl could not make the offline root"
gh ca issuer import instance --cert "$I/chain.pem" --key "$I/inst.key" >/dev/null
gh cert create --cn inst-1 --issuer instance --out "$I/inst-1" >/dev/null 2>&1
openssl verify -CAfile "$I/root.pem" -untrusted "$I/inst.pem" "$I/inst-1/client.crt" >/dev/null || fail "the imported issuer's certificate does not chain to the offline root"
pubas inst-1 || fail "a device of the imported issuer cannot publish"
gh ca issuer server instance >/dev/null
gh ca export --out "$I/offline-ca.pem"
cmp -s "$I/offline-ca.pem" "$I/root.pem" || fail "ca export does not give the offline root once the imported issuer signs the server"
mosquitto_pub -h 127.0.0.1 -p "$MQTTS_PORT" --cafile "$I/root.pem" --cert "$I/inst-1/client.crt" --key "$I/inst-1/client.key" \
	-t devices/inst-1/t -m y || fail "the server certificate does not chain to the offline root"
gh ca issuer server default >/dev/null
ok "a second issuer and an imported one (offline root, which then signs the server too) work with mosquitto; suspending an issuer drops and refuses its fleet"
