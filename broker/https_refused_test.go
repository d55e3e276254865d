package broker_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
)

// ticketLog is a client session cache that remembers nothing and counts
// the session tickets the server issued.
type ticketLog struct {
	mu      sync.Mutex
	tickets int
}

func (l *ticketLog) Get(string) (*tls.ClientSessionState, bool) { return nil, false }

func (l *ticketLog) Put(_ string, cs *tls.ClientSessionState) {
	if cs != nil {
		l.mu.Lock()
		l.tickets++
		l.mu.Unlock()
	}
}

func (l *ticketLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tickets
}

// A client whose handshake was refused gets its 401 or 403, with
// Connection: close, on any path and method, routed or not, and no
// session ticket; an accepted client gets the routes' own answers and one.
func TestHTTPSRefusedPeerGetsOnlyItsRefusal(t *testing.T) {
	e := newEnv(t, withHTTPS(nil))
	good, _ := e.issue(t, "good")
	foreign, _ := pkitest.Foreign(t, "stranger")
	client := func(cert *tls.Certificate) (*http.Client, *ticketLog) {
		log := &ticketLog{}
		c := e.tlsConfig(cert)
		c.MinVersion = tls.VersionTLS13
		c.ClientSessionCache = log
		tr := &http.Transport{TLSClientConfig: c}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: wait}, log
	}
	requests := map[string]struct{ method, path string }{
		"unknown path":  {http.MethodGet, "/nope"},
		"root":          {http.MethodGet, "/"},
		"wrong method":  {http.MethodDelete, "/v1/publish/tele/x"},
		"publish route": {http.MethodPost, "/v1/publish/tele/x"},
	}
	for name, tc := range map[string]struct {
		cert   *tls.Certificate
		reason string // "": accepted
	}{
		"fail/no certificate": {nil, broker.ReasonNoClientCert},
		"fail/unknown CA":     {&foreign, pki.ReasonUnknownCA},
		"ok/issued":           {&good, ""},
	} {
		t.Run(name, func(t *testing.T) {
			c, log := client(tc.cert)
			for rname, rq := range requests {
				req, _ := http.NewRequest(rq.method, e.httpsURL(rq.path), strings.NewReader("1"))
				res, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", rname, err)
				}
				var body struct{ Reason string }
				_ = json.NewDecoder(res.Body).Decode(&body)
				res.Body.Close()
				if tc.reason == "" {
					if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
						t.Fatalf("%s: accepted client refused: %d %q", rname, res.StatusCode, body.Reason)
					}
					continue
				}
				if res.StatusCode != http.StatusUnauthorized || body.Reason != tc.reason || !res.Close {
					t.Fatalf("%s: %d %q, close %v; want 401 %q and Connection: close", rname, res.StatusCode, body.Reason, res.Close, tc.reason)
				}
			}
			if got := log.count(); (tc.reason == "") != (got > 0) {
				t.Fatalf("%d session tickets issued; want some only to the accepted client", got)
			}
		})
	}
}
