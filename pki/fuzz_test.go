package pki_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/pki/pkitest"
)

// FuzzImport feeds arbitrary bytes to every PEM entry point: importing a
// client certificate, trusting a CA chain and signing a CSR. None may panic,
// and every refusal of unparseable input must be an error, not a success.
func FuzzImport(f *testing.F) {
	a, _ := pkitest.New(f)
	iss := pkitest.Issue(f, a, "seed")
	f.Add(iss.ChainPEM)
	f.Add(iss.CAPEM)
	f.Add(append(append([]byte{}, iss.ChainPEM...), a.RootPEM()...))
	files, err := filepath.Glob(filepath.Join("..", "testdata", "*.pem"))
	if err != nil {
		f.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join("..", "testdata", "pem", "*.pem"))
	for _, p := range append(files, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := a.ImportClient(data, "fuzz"); err == nil && c.Serial == "" {
			t.Fatal("import succeeded without a serial")
		}
		if cas, err := a.Trust(data, false, "fuzz"); err == nil && len(cas) == 0 {
			t.Fatal("trust succeeded without a CA")
		}
		if iss, err := a.SignCSR(data, 0, "fuzz"); err == nil && iss.Cert.Serial == "" {
			t.Fatal("CSR signed without a serial")
		}
	})
}
