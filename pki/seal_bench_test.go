package pki_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
)

// BenchmarkInit measures what opening the CA costs at every start, with the
// keys in the clear and sealed: the difference is the one scrypt derivation
// of the key-encryption key.
func BenchmarkInit(b *testing.B) {
	pass := []byte("correct horse battery staple")
	for name, opts := range map[string][]pki.Option{"clear": nil, "sealed": {pki.WithPassphrase(pass)}} {
		b.Run(name, func(b *testing.B) {
			_, st := pkitest.New(b, opts...)
			for b.Loop() {
				if _, err := pki.Init(st, opts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
