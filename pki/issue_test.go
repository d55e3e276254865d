package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
	"github.com/gatehouse/gatehouse/store"
)

func pools(t *testing.T, a *pki.Authority) (roots, inter *x509.CertPool) {
	t.Helper()
	roots, inter = x509.NewCertPool(), x509.NewCertPool()
	if !roots.AppendCertsFromPEM(a.RootPEM()) || !inter.AppendCertsFromPEM(a.IssuingPEM()) {
		t.Fatal("bad CA PEM")
	}
	return roots, inter
}

func TestIssueClientKeyTypes(t *testing.T) {
	a, st := pkitest.New(t)
	roots, inter := pools(t, a)
	for _, kt := range pki.KeyTypes {
		t.Run("ok/"+string(kt), func(t *testing.T) {
			iss, err := a.IssueClient(pki.ClientRequest{CN: "sensor " + string(kt), TTL: 90 * 24 * time.Hour, KeyType: kt}, "alice")
			if err != nil {
				t.Fatal(err)
			}
			pair := pkitest.ClientTLS(t, iss) // the key matches the leaf
			if len(pair.Certificate) != 2 {
				t.Fatalf("chain has %d certificates, want leaf + intermediate", len(pair.Certificate))
			}
			leaf, _ := x509.ParseCertificate(pair.Certificate[0])
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature || leaf.IsCA || leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() > 128 {
				t.Fatalf("leaf shape: ku=%v ca=%v serial=%v", leaf.KeyUsage, leaf.IsCA, leaf.SerialNumber)
			}
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got < 90*24*time.Hour || got > 90*24*time.Hour+2*time.Minute {
				t.Fatalf("validity %v", got)
			}
			if block, _ := pem.Decode(iss.KeyPEM); block == nil || block.Type != "PRIVATE KEY" {
				t.Fatal("key is not PKCS#8 PEM")
			}
			if !bytes.Equal(iss.CAPEM, a.RootPEM()) {
				t.Fatal("CAPEM is not the root")
			}
			c := iss.Cert
			if c.Serial != pki.FormatSerial(leaf.SerialNumber) || c.State != store.StateInactive || c.Source != store.SourceIssued || c.KeyType != string(kt) || c.Issuer != pki.DefaultIssuingName {
				t.Fatalf("record %+v", c)
			}
			if stored, err := st.GetCert(c.ID); err != nil || stored.Fingerprint != c.Fingerprint {
				t.Fatalf("stored %+v, %v", stored, err)
			}
			audit, _ := st.ListAudit(store.AuditQuery{Serial: c.Serial})
			if len(audit) != 1 || audit[0].Action != "cert.create" || audit[0].Actor != "alice" {
				t.Fatalf("audit %+v", audit)
			}
		})
	}
}

func TestIssueClientRefusals(t *testing.T) {
	a, _ := pkitest.New(t)
	for name, tc := range map[string]struct {
		req  pki.ClientRequest
		want error
		text string
	}{
		"fail/cn-65-chars":     {pki.ClientRequest{CN: strings.Repeat("x", 65)}, pki.ErrInvalidCN, "at most 64"},
		"fail/cn-control-char": {pki.ClientRequest{CN: "a\x00b"}, pki.ErrInvalidCN, "non-printable"},
		"fail/cn-newline":      {pki.ClientRequest{CN: "a\nb"}, pki.ErrInvalidCN, "non-printable"},
		"fail/cn-bad-utf8":     {pki.ClientRequest{CN: "a\xffb"}, pki.ErrInvalidCN, "UTF-8"},
		"fail/ttl-beyond-ca":   {pki.ClientRequest{CN: "x", TTL: 20 * 365 * 24 * time.Hour}, pki.ErrTTL, "at most 18"},
		"fail/negative-ttl":    {pki.ClientRequest{CN: "x", TTL: -time.Hour}, pki.ErrTTL, "negative"},
		"fail/unknown-key":     {pki.ClientRequest{CN: "x", KeyType: "dsa"}, nil, "unknown key type"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.IssueClient(tc.req, "test")
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
	t.Run("ok/generated-cn", func(t *testing.T) {
		iss, err := a.IssueClient(pki.ClientRequest{}, "test")
		if err != nil || !strings.HasPrefix(iss.Cert.CN, "device-") || len(iss.Cert.CN) != len("device-")+6 {
			t.Fatalf("CN %q, %v", iss.Cert.CN, err)
		}
	})
	t.Run("ok/64-char-unicode-cn", func(t *testing.T) {
		cn := strings.Repeat("é", 64)
		if iss, err := a.IssueClient(pki.ClientRequest{CN: cn}, "test"); err != nil || iss.Cert.CN != cn {
			t.Fatalf("CN %q, %v", iss.Cert.CN, err)
		}
	})
}

// The private key is handed out once and never written to the store: scan the
// raw database file for the key in DER and PEM form.
func TestKeyNeverStored(t *testing.T) {
	a, st := pkitest.New(t)
	var keys [][]byte
	for _, kt := range pki.KeyTypes {
		iss, err := a.IssueClient(pki.ClientRequest{KeyType: kt}, "test")
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(iss.KeyPEM)
		body := strings.Join(strings.Split(string(iss.KeyPEM), "\n")[1:3], "\n")
		keys = append(keys, block.Bytes, []byte(body))
	}
	path := st.Path()
	if err := st.Close(); err != nil { // flush; pkitest's cleanup Close then reports nothing new
		t.Fatal(err)
	}
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if bytes.Contains(db, k) {
			t.Fatalf("key material %d found in %s", i, path)
		}
	}
	if !bytes.Contains(db, []byte("cert.create")) {
		t.Fatal("scan is blind: the audit records are not visible in the file")
	}
}

func newCSR(t *testing.T, cn string, dns []string, ips []net.IP) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: cn, Organization: []string{"Ignored Org"}},
		DNSNames:       dns,
		IPAddresses:    ips,
		EmailAddresses: []string{"ignored@example.com"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignCSR(t *testing.T) {
	a, _ := pkitest.New(t)
	roots, inter := pools(t, a)
	der := newCSR(t, "thermostat", []string{"thermo.lan"}, []net.IP{net.ParseIP("10.0.0.7")})
	iss, err := a.SignCSR(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 48*time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if iss.KeyPEM != nil || iss.Cert.Source != store.SourceSigned || iss.Cert.CN != "thermostat" || iss.Cert.KeyType != string(pki.KeyECDSAP256) {
		t.Fatalf("issued %+v", iss.Cert)
	}
	block, _ := pem.Decode(iss.ChainPEM)
	leaf, _ := x509.ParseCertificate(block.Bytes)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if len(leaf.Subject.Organization) != 0 || len(leaf.EmailAddresses) != 0 || leaf.DNSNames[0] != "thermo.lan" || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) {
		t.Fatalf("copied more or less than CN and DNS/IP SANs: %+v %v %v", leaf.Subject, leaf.DNSNames, leaf.EmailAddresses)
	}

	tampered := bytes.Clone(der)
	tampered[len(tampered)-5] ^= 0xff // inside the signature
	for name, tc := range map[string]struct {
		in   []byte
		text string
	}{
		"fail/bad-signature": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), "signature"},
		"fail/wrong-type":    {readTestdata(t, "foreign-client.pem"), `"CERTIFICATE" is not a CERTIFICATE REQUEST`},
		"fail/not-pem":       {[]byte("hello"), "no PEM block"},
		"fail/garbage-der":   {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("junk")}), "malformed"},
		"fail/truncated":     {readTestdata(t, "pem/truncated.pem"), "no PEM block"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.SignCSR(tc.in, 0, "test")
			if !errors.Is(err, pki.ErrMalformed) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.text)
			}
		})
	}
}

func TestImportClient(t *testing.T) {
	a, st := pkitest.New(t)
	foreign := readTestdata(t, "foreign-client.pem")
	if _, err := a.ImportClient(foreign, "alice"); !errors.Is(err, pki.ErrUntrusted) || reason(err) != pki.ReasonUnknownCA {
		t.Fatalf("untrusted import: %v", err)
	}
	if _, err := a.Trust(readTestdata(t, "foreign-ca.pem"), true, "alice"); err != nil {
		t.Fatal(err)
	}
	c, err := a.ImportClient(foreign, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.Serial != "ac3e0001" || c.CN != "acme-sensor-1" || c.State != store.StateInactive || c.Source != store.SourceImported || c.Issuer != "Acme Devices CA" {
		t.Fatalf("record %+v", c)
	}
	if s, ok := a.State(c.ID); !ok || s != store.StateInactive || !strings.HasPrefix(c.ID, "ac3e0001/") {
		t.Fatalf("snapshot %s %v", s, ok)
	}
	if stored, err := st.GetCert(c.ID); err != nil || stored.Fingerprint != c.Fingerprint {
		t.Fatalf("stored %+v %v", stored, err)
	}
	if _, err := a.ImportClient(foreign, "alice"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second import: %v", err)
	}
	ours := pkitest.Issue(t, a, "ours")
	for name, tc := range map[string]struct {
		in   []byte
		want error
		text string
	}{
		"fail/server-only-eku":  {readTestdata(t, "foreign-server.pem"), pki.ErrUntrusted, "wrong key usage"},
		"fail/ca-certificate":   {readTestdata(t, "foreign-ca.pem"), nil, "use ca trust"},
		"fail/already-ours":     {ours.ChainPEM, store.ErrExists, "exists"},
		"fail/truncated":        {readTestdata(t, "pem/truncated.pem"), pki.ErrMalformed, "no PEM CERTIFICATE block"},
		"fail/wrong-type":       {readTestdata(t, "pem/wrong-type.pem"), pki.ErrMalformed, `"PRIVATE KEY" is not a CERTIFICATE`},
		"fail/garbage-base64":   {readTestdata(t, "pem/garbage-base64.pem"), pki.ErrMalformed, "no PEM CERTIFICATE block"},
		"fail/bad-der":          {readTestdata(t, "pem/bad-der.pem"), pki.ErrMalformed, "certificate 1"},
		"fail/empty":            {readTestdata(t, "pem/empty.pem"), pki.ErrMalformed, "no PEM CERTIFICATE block"},
		"fail/trailing-garbage": {readTestdata(t, "pem/trailing-garbage.pem"), pki.ErrMalformed, "unparseable data after certificate 1"},
		"fail/expired":          {pkitest.Expired(t, a).ChainPEM, pki.ErrUntrusted, "expired"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := a.ImportClient(tc.in, "test")
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestIssueServerHandshake(t *testing.T) {
	a, _ := pkitest.New(t)
	if _, err := a.IssueServer(nil); err == nil {
		t.Fatal("no SANs accepted")
	}
	sc, err := a.IssueServer([]string{"localhost", "127.0.0.1", "::1", "broker.lan"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Certificate) != 2 || sc.Leaf.DNSNames[1] != "broker.lan" || len(sc.Leaf.IPAddresses) != 2 || sc.Leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Fatalf("server leaf %v %v %v", sc.Leaf.DNSNames, sc.Leaf.IPAddresses, sc.Leaf.ExtKeyUsage)
	}
	var holder pki.ServerCert
	if _, err := holder.GetCertificate(nil); err == nil {
		t.Fatal("empty holder returned a certificate")
	}
	holder.Set(sc)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.RootPEM())
	handshake := func(client tls.Certificate) error {
		cConn, sConn := net.Pipe()
		defer cConn.Close()
		defer sConn.Close()
		server := tls.Server(sConn, &tls.Config{
			GetCertificate:   holder.GetCertificate,
			ClientAuth:       tls.RequireAnyClientCert,
			MinVersion:       tls.VersionTLS12,
			VerifyConnection: func(cs tls.ConnectionState) error { return a.Check(cs.PeerCertificates) },
		})
		errc := make(chan error, 1)
		go func() {
			err := server.Handshake()
			if err == nil { // as the broker does: first use once the key is proved
				err = a.FirstUse(server.ConnectionState().PeerCertificates)
			}
			errc <- err
		}()
		cli := tls.Client(cConn, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{client}})
		// The server's verdict is what matters: with TLS 1.3 the client may
		// only learn of a refusal on its first read.
		_ = cli.Handshake()
		_ = cli.Close()
		return <-errc
	}
	iss := pkitest.Issue(t, a, "pipe-client")
	if err := handshake(pkitest.ClientTLS(t, iss)); err != nil {
		t.Fatalf("good client refused: %v", err)
	}
	if s, _ := a.State(iss.Cert.ID); s != store.StateActive {
		t.Fatalf("state after handshake %s", s)
	}
	if _, err := a.Transition(iss.Cert.ID, store.StateSuspended, "test", "", 0); err != nil {
		t.Fatal(err)
	}
	if err := handshake(pkitest.ClientTLS(t, iss)); reason(err) != pki.ReasonSuspended {
		t.Fatalf("suspended client: %v", err)
	}
	// Rotation: a new certificate takes effect for the next handshake.
	sc2, err := a.IssueServer([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	holder.Set(sc2)
	if got, _ := holder.GetCertificate(nil); got != sc2 {
		t.Fatal("rotation not visible")
	}
}

func TestInitReloads(t *testing.T) {
	a, st := pkitest.New(t, pki.WithNames("Acme Root", "Acme Issuing"))
	serial := certIn(t, a, store.StateSuspended)
	b, err := pki.Init(st, pki.WithNames("ignored", "ignored"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.RootPEM(), b.RootPEM()) || !bytes.Equal(a.IssuingPEM(), b.IssuingPEM()) {
		t.Fatal("second Init created new CAs")
	}
	if s, ok := b.State(serial); !ok || s != store.StateSuspended {
		t.Fatalf("snapshot not loaded: %s %v", s, ok)
	}
	cas, err := b.CAs()
	if err != nil || len(cas) != 2 || cas[0].Role != store.RoleRoot || cas[1].Role != store.RoleIssuing || cas[0].Subject != "CN=Acme Root,O=Gatehouse" {
		t.Fatalf("CAs %+v, %v", cas, err)
	}
	for _, ca := range cas {
		if ca.KeyPEM != "" {
			t.Fatal("CAs leaked a key")
		}
	}
	root, _ := pem.Decode(a.RootPEM())
	rc, _ := x509.ParseCertificate(root.Bytes)
	if d := rc.NotAfter.Sub(rc.NotBefore); d < pki.RootValidity || !rc.IsCA {
		t.Fatalf("root validity %v", d)
	}
}
