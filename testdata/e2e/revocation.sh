# Sourced by run.sh while the daemon serves --http at $HTTP: relying parties
# learn a suspension and a revocation through the CRL and OCSP, read by openssl.
R="$WORK/revocation"
mkdir -p "$R"
RS=$(gh cert create --cn revdev --out "$R/dev" 2>/dev/null)
awk '/BEGIN CERTIFICATE/{n++} n==2' "$R/dev/client.crt" >"$R/issuing.pem"
cat "$R/dev/ca.pem" "$R/issuing.pem" >"$R/chain.pem"
ocsp_says() {
	openssl ocsp -no_nonce -issuer "$R/issuing.pem" -cert "$R/dev/client.crt" -url "http://$HTTP/ocsp" \
		-CAfile "$R/dev/ca.pem" >"$R/ocsp.out" 2>&1 || fail "openssl ocsp failed: $(cat "$R/ocsp.out")"
	grep -q "Response verify OK" "$R/ocsp.out" || fail "OCSP response does not verify: $(cat "$R/ocsp.out")"
	grep -q "$1" "$R/ocsp.out" || fail "OCSP: want '$1', got: $(cat "$R/ocsp.out")"
}
crl_verify() {
	curl -fsS "http://$HTTP/crl/default.crl" | openssl crl -inform DER -out "$R/crl.pem" || fail "CRL does not parse"
	openssl verify -crl_check -CAfile "$R/chain.pem" -CRLfile "$R/crl.pem" "$R/dev/client.crt" >"$R/verify.out" 2>&1 || true
	grep -q "$1" "$R/verify.out" || fail "openssl verify -crl_check: want '$1', got: $(cat "$R/verify.out")"
}
ocsp_says "client.crt: good"
crl_verify "client.crt: OK"
gh cert suspend "$RS" >/dev/null
ocsp_says "Reason: certificateHold"
crl_verify "certificate revoked"
openssl crl -in "$R/crl.pem" -noout -text | has "Certificate Hold" || fail "the CRL does not hold the suspended certificate"
gh cert reactivate "$RS" >/dev/null
ocsp_says "client.crt: good"
crl_verify "client.crt: OK"
gh cert revoke "$RS" >/dev/null
ocsp_says "client.crt: revoked"
crl_verify "certificate revoked"
gh ca crl --out "$R/cli.crl"
openssl crl -inform DER -in "$R/cli.crl" -noout -text | grep -i "serial number: $RS" >/dev/null || fail "ca crl --out lacks the revoked serial"
ok "CRL and OCSP over --http, read by openssl: suspended is on hold, reactivated is good, revoked stays revoked"
