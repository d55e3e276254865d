package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/crypto/ocsp"

	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// maxOCSPRequest bounds an OCSP request body: a real one is a few hundred bytes.
const maxOCSPRequest = 8 << 10

// CRL implements Service: the issuer's current DER CRL, built from the live
// store so a suspension shows at once.
func (a *App) CRL(_ context.Context, issuer string) ([]byte, error) {
	return a.ca.CRL(issuer)
}

// RevocationHandler serves what relying parties need to learn a revocation
// or a suspension: GET /crl/NAME.crl (DER, RFC 5280) and /ocsp (RFC 6960:
// POST with a DER body, or GET with the base64 request in the path).
func (a *App) RevocationHandler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /crl/{file}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutSuffix(r.PathValue("file"), ".crl")
		if !ok {
			http.NotFound(w, r)
			return
		}
		der, err := a.CRL(r.Context(), name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(der)
	})
	m.HandleFunc("POST /ocsp", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOCSPRequest))
		if err != nil {
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		a.answerOCSP(w, body)
	})
	m.HandleFunc("GET /ocsp/{req...}", func(w http.ResponseWriter, r *http.Request) {
		der, err := base64.StdEncoding.DecodeString(r.PathValue("req"))
		if err != nil || len(der) > maxOCSPRequest {
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		a.answerOCSP(w, der)
	})
	return m
}

// answerOCSP writes the signed answer, or the RFC 6960 error status that
// tells a client why there is none.
func (a *App) answerOCSP(w http.ResponseWriter, req []byte) {
	resp, err := a.ca.OCSP(req)
	switch {
	case errors.Is(err, pki.ErrMalformed):
		writeOCSP(w, ocsp.MalformedRequestErrorResponse)
	case errors.Is(err, pki.ErrUnknownIssuer):
		writeOCSP(w, ocsp.UnauthorizedErrorResponse)
	case err != nil:
		a.log.Error("answer OCSP", "err", err)
		writeOCSP(w, ocsp.InternalErrorErrorResponse)
	default:
		writeOCSP(w, resp)
	}
}

func writeOCSP(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(body)
}

// SetPublicURL records where relying parties reach the CRL and OCSP
// responder, so client certificates issued from now on name them; "" stops
// naming them. It is audited when it changes.
func (a *App) SetPublicURL(ctx context.Context, raw string) error {
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("public URL %q: want http(s)://host[:port][/path], e.g. http://pki.example.com:8080", raw)
		}
	}
	cur, err := a.st.Settings()
	if err != nil {
		return err
	}
	if cur.PublicURL == raw {
		return nil
	}
	_, err = a.st.UpdateSettings(func(s *store.Settings) error {
		s.PublicURL = raw
		return nil
	}, store.AuditRecord{At: a.now(), Actor: a.actorOf(ctx), Action: "settings.public_url", Detail: raw})
	return err
}
