package app

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/gatehouse/gatehouse/store"
)

// The HTTP side of revocation as a relying party uses it: the CRL by its
// path, OCSP by POST and by GET, and RFC 6960 error statuses for bad requests.
func TestRevocationHandler(t *testing.T) {
	a, _ := openTestApp(t)
	ctx := context.Background()
	b, err := a.IssueClient(ctx, IssueRequest{CN: "ocsp-dev"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(ctx, b.Cert.Serial, store.StateSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.RevocationHandler())
	defer srv.Close()

	leaf := parsePEMCert(t, []byte(b.Cert.CertPEM))
	issuer := parsePEMCert(t, a.Authority().IssuingPEM())

	res, err := http.Get(srv.URL + "/crl/default.crl")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(res.Body)
	res.Body.Close()
	crl, err := x509.ParseRevocationList(der)
	if err != nil || res.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET /crl/default.crl: %v, content type %q", err, res.Header.Get("Content-Type"))
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("CRL entries %+v, want the suspended certificate", crl.RevokedCertificateEntries)
	}
	if res, err := http.Get(srv.URL + "/crl/tenant9.crl"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /crl/tenant9.crl: %v %v, want 404", err, res.Status)
	}

	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte) []byte {
		res, err := http.Post(srv.URL+"/ocsp", "application/ocsp-request", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return out
	}
	for name, raw := range map[string][]byte{
		"ok/post": post(req),
		"ok/get":  get(t, srv.URL+"/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(req))),
	} {
		resp, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.CertificateHold {
			t.Errorf("%s: status %d reason %d, want revoked/certificateHold", name, resp.Status, resp.RevocationReason)
		}
	}
	var rerr ocsp.ResponseError
	if _, err := ocsp.ParseResponse(post([]byte("garbage")), nil); !errors.As(err, &rerr) || rerr.Status != ocsp.Malformed {
		t.Errorf("garbage request: %v, want the malformed status", err)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return out
}

func parsePEMCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// With a public URL set, issued client certificates name the CRL and the
// OCSP responder; a bad URL is refused and changes nothing.
func TestPublicURLNamedInIssuedCertificates(t *testing.T) {
	a, _ := openTestApp(t)
	ctx := context.Background()
	before, err := a.IssueClient(ctx, IssueRequest{CN: "before"})
	if err != nil {
		t.Fatal(err)
	}
	if c := parsePEMCert(t, []byte(before.Cert.CertPEM)); len(c.CRLDistributionPoints)+len(c.OCSPServer) != 0 {
		t.Fatalf("without a public URL the certificate names %v %v", c.CRLDistributionPoints, c.OCSPServer)
	}
	for _, bad := range []string{"pki.example.com", "ftp://pki.example.com", "http://", "http://h/?q=1"} {
		if err := a.SetPublicURL(ctx, bad); err == nil {
			t.Errorf("SetPublicURL(%q) accepted", bad)
		}
	}
	if err := a.SetPublicURL(ctx, "http://pki.example.com:8080/"); err != nil {
		t.Fatal(err)
	}
	after, err := a.IssueClient(ctx, IssueRequest{CN: "after"})
	if err != nil {
		t.Fatal(err)
	}
	c := parsePEMCert(t, []byte(after.Cert.CertPEM))
	if len(c.CRLDistributionPoints) != 1 || c.CRLDistributionPoints[0] != "http://pki.example.com:8080/crl/default.crl" {
		t.Errorf("CRL distribution points %v", c.CRLDistributionPoints)
	}
	if len(c.OCSPServer) != 1 || c.OCSPServer[0] != "http://pki.example.com:8080/ocsp" {
		t.Errorf("OCSP servers %v", c.OCSPServer)
	}
	recs, err := a.Audit(ctx, store.AuditQuery{Limit: 1})
	if err != nil || len(recs) == 0 || recs[0].Action != "cert.create" {
		t.Fatalf("audit %v %v", recs, err)
	}
	recs, _ = a.Audit(ctx, store.AuditQuery{Limit: 2})
	if recs[1].Action != "settings.public_url" || recs[1].Detail != "http://pki.example.com:8080/" {
		t.Errorf("the URL change was not audited: %+v", recs[1])
	}
}
