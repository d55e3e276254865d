package pki

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

// scrypt is slow by design: opening every CA key of a store derives the
// key-encryption key once, not once per key.
func TestKEKDerivedOncePerStore(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pass := []byte("correct horse")
	if _, err := Init(st, WithPassphrase(pass)); err != nil {
		t.Fatal(err)
	}
	a, err := Init(st, WithPassphrase(pass)) // opens root and issuing
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.keys.Load().keks); n != 1 {
		t.Fatalf("%d key-encryption keys derived, want 1", n)
	}
}

func TestParseKDFParams(t *testing.T) {
	tests := map[string]struct {
		in string
		ok bool
	}{
		"ok/default":              {"N=32768,r=8,p=1", true},
		"ok/stronger":             {"N=1048576,r=8,p=1", true},
		"fail/N not a power of 2": {"N=30000,r=8,p=1", false},
		"fail/memory over 1 GiB":  {"N=1048576,r=16,p=1", false},
		"fail/huge N":             {"N=4611686018427387904,r=8,p=1", false},
		"fail/zero r":             {"N=32768,r=0,p=1", false},
		"fail/too parallel":       {"N=32768,r=8,p=64", false},
		"fail/trailing junk":      {"N=32768,r=8,p=1,x", false},
		"fail/empty":              {"", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseKDFParams(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("parseKDFParams(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}
