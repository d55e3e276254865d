package admin

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// serve runs the admin API for a fresh App and returns both ends.
func serve(t testing.TB) (*app.App, *Client) {
	t.Helper()
	dir := t.TempDir()
	a, err := app.Open(app.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Listen(dir, a, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	c, err := Dial(dir, "tui")
	if err != nil {
		t.Fatal(err)
	}
	return a, c
}

func TestErrorsKeepTheirMeaningOverTheSocket(t *testing.T) {
	_, c := serve(t)
	ctx := context.Background()
	b, err := c.IssueClient(ctx, app.IssueRequest{CN: "dev1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transition(ctx, b.Cert.Serial, store.StateRevoked, "test"); err != nil {
		t.Fatal(err)
	}
	// A CSR for the revoked certificate's key, and one for a weak key.
	csrFor := func(key crypto.Signer) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "again"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}
	block, _ := pem.Decode([]byte(b.KeyPEM))
	revokedKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		call func() error
		want error
	}{
		"fail/revoked key":      {func() error { _, err := c.SignCSR(ctx, csrFor(revokedKey.(crypto.Signer)), ""); return err }, pki.ErrKeyRevoked},
		"fail/weak key":         {func() error { _, err := c.SignCSR(ctx, csrFor(weakKey), ""); return err }, pki.ErrWeakKey},
		"fail/unknown CA name":  {func() error { _, err := c.UntrustCA(ctx, "Nobody CA"); return err }, store.ErrNotFound},
		"fail/revoked is final": {func() error { _, err := c.Transition(ctx, b.Cert.Serial, store.StateActive, ""); return err }, pki.ErrTransition},
		"fail/unknown serial":   {func() error { _, err := c.ShowCert(ctx, "ffffffffffff"); return err }, store.ErrNotFound},
		"fail/bad ttl":          {func() error { _, err := c.IssueClient(ctx, app.IssueRequest{TTL: "5x"}); return err }, app.ErrUsage},
		"fail/malformed pem":    {func() error { _, err := c.ImportCert(ctx, []byte("nope")); return err }, pki.ErrMalformed},
		"fail/bad transport":    {func() error { _, err := c.SetClientAuth(ctx, "coap", true); return err }, app.ErrUsage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want an error matching %v", err, tc.want)
			}
		})
	}
}

func TestAuditNamesThePeerAndTheClientKind(t *testing.T) {
	_, c := serve(t)
	ctx := context.Background()
	if _, err := c.IssueClient(ctx, app.IssueRequest{CN: "dev1"}); err != nil {
		t.Fatal(err)
	}
	recs, err := c.Audit(ctx, store.AuditQuery{Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("audit: %v %v", recs, err)
	}
	if want := CurrentUser() + " (tui)"; recs[0].Actor != want {
		t.Fatalf("actor %q, want %q", recs[0].Actor, want)
	}
}

func TestEventsStreamAsTheyHappen(t *testing.T) {
	a, c := serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Hub().Emit(broker.Event{At: time.Now(), Type: broker.EventRefused, Reason: "unknown CA", Remote: "10.0.0.9:5555"})
	select {
	case e := <-ch:
		if e.Type != broker.EventRefused || e.Reason != "unknown CA" || e.Remote != "10.0.0.9:5555" {
			t.Fatalf("got %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	snap, err := c.Snapshot(ctx)
	if err != nil || len(snap.Events) != 1 || len(snap.CAs) < 2 {
		t.Fatalf("snapshot: %v, %d events, %d CAs", err, len(snap.Events), len(snap.CAs))
	}
	cancel()
	for range ch { // the stream ends with the context
	}
}

func TestCreateCertWritesFilesOnTheClientSide(t *testing.T) {
	_, c := serve(t)
	out := t.TempDir() + "/dev7"
	res, err := c.CreateCert(context.Background(), app.CreateRequest{CN: "dev7", OutDir: out})
	if err != nil || len(res.Files) != 3 {
		t.Fatalf("create: %v %v", res, err)
	}
	if _, err := c.CreateCert(context.Background(), app.CreateRequest{CN: "dev7", OutDir: out}); err == nil {
		t.Fatal("second create over the same files succeeded")
	}
	certs, _ := c.ListCerts(context.Background(), "")
	if len(certs) != 1 {
		t.Fatalf("a refused create issued a certificate: %d certificates", len(certs))
	}
}
