package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// token trust FILE names the issuer after the file when --name is not
// given (DESIGN.md section 9); a name it cannot take from the file is a
// usage error that points at --name.
func TestTokenTrustDefaultName(t *testing.T) {
	data := initData(t)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	write := func(name string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, tc := range map[string]struct {
		args []string
		code int
		want string // in stdout on success, stderr otherwise
	}{
		"ok/default from file":   {args: []string{write("partner-jwks.pem")}, code: exitOK, want: "of partner-jwks\n"},
		"ok/explicit name":       {args: []string{write("keys.pem"), "--name", "acme"}, code: exitOK, want: "of acme\n"},
		"fail/bad default name":  {args: []string{write("a+b.pem")}, code: exitUsage, want: "--name"},
		"fail/bad explicit name": {args: []string{write("ok.pem"), "--name", "a/b"}, code: exitUsage, want: "issuer name"},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := gh(t, data, append([]string{"token", "trust"}, tc.args...)...)
			got := out
			if code != exitOK {
				got = errOut
				if strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
					t.Fatalf("stderr is not one line: %q", errOut)
				}
			}
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tc.code, tc.want)
			}
		})
	}
}
