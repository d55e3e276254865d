package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
)

// offerCounter is a real client session cache that counts the sessions it
// hands back to the client for resumption.
type offerCounter struct {
	tls.ClientSessionCache
	offered atomic.Int32
}

func (c *offerCounter) Get(key string) (*tls.ClientSessionState, bool) {
	s, ok := c.ClientSessionCache.Get(key)
	if ok && s != nil {
		c.offered.Add(1)
	}
	return s, ok
}

// TLS session resumption works for an active certificate, and a resumed
// handshake is decided on the current state, trust and mode as a full one is:
// a certificate suspended, a CA untrusted or mTLS switched on since the
// session's first handshake refuses the resumption with the normal reason
// and event. Over TLS 1.2 and 1.3, which resume differently.
func TestSessionResumption(t *testing.T) {
	type setup struct {
		e    *env
		cert *tls.Certificate // nil: no client certificate
		id   string           // the certificate's ID
	}
	ours := func(t *testing.T, e *env) setup {
		cert, id := e.issue(t, "meter")
		return setup{e: e, cert: &cert, id: id}
	}
	partner := func(t *testing.T, e *env) setup {
		ca := newPartnerCA(t, "Partner CA")
		if _, err := e.a.Trust(ca.pem(), false, "test"); err != nil {
			t.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		cert := ca.sign(t, key, 0x3001, "partner-device")
		return setup{e: e, cert: &cert, id: idOf(t, cert)}
	}
	anonymous := func(t *testing.T, e *env) setup {
		if _, err := e.b.SetClientAuth(broker.TransportMQTTS, false); err != nil {
			t.Fatal(err)
		}
		return setup{e: e}
	}
	cases := map[string]struct {
		setup  func(*testing.T, *env) setup
		change func(*testing.T, setup)
		want   string // refusal reason; "": resumed
	}{
		"ok/active": {ours, func(*testing.T, setup) {}, ""},
		"refused/suspended": {ours, func(t *testing.T, s setup) {
			s.e.transition(t, s.id, "suspended")
		}, pki.ReasonSuspended},
		"refused/ca-untrusted": {partner, func(t *testing.T, s setup) {
			if _, err := s.e.a.Untrust("Partner CA", "test"); err != nil {
				t.Fatal(err)
			}
		}, pki.ReasonUnknownCA},
		"refused/mtls-switched-on": {anonymous, func(t *testing.T, s setup) {
			if _, err := s.e.b.SetClientAuth(broker.TransportMQTTS, true); err != nil {
				t.Fatal(err)
			}
		}, broker.ReasonNoClientCert},
	}
	for _, version := range []struct {
		name string
		max  uint16
	}{{"tls12", tls.VersionTLS12}, {"tls13", tls.VersionTLS13}} {
		for name, tc := range cases {
			t.Run(version.name+"/"+name, func(t *testing.T) {
				e := newEnv(t, nil)
				s := tc.setup(t, e)
				cache := &offerCounter{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
				cfg := e.tlsConfig(s.cert)
				cfg.MaxVersion, cfg.ClientSessionCache = version.max, cache
				addr := e.addr[broker.TransportMQTTS]
				first, err := dialRaw(addr, cfg, 4, "dev")
				if err != nil {
					t.Fatalf("first connect: %v", err)
				}
				if first.Conn.(*tls.Conn).ConnectionState().DidResume {
					t.Fatal("the first connect resumed")
				}
				_ = first.Close()
				waitFor(t, func() bool { return len(e.b.Sessions()) == 0 }, wait, "the first session to end")
				tc.change(t, s)

				again, err := dialRaw(addr, cfg, 4, "dev")
				if cache.offered.Load() != 1 {
					t.Fatalf("the client offered %d sessions for resumption, want 1", cache.offered.Load())
				}
				if tc.want == "" {
					if err != nil {
						t.Fatalf("reconnect: %v", err)
					}
					defer again.Close()
					if !again.Conn.(*tls.Conn).ConnectionState().DidResume {
						t.Fatal("the reconnect did not resume the TLS session")
					}
					return
				}
				if err == nil {
					_ = again.Close()
					t.Fatalf("resumed although %s", tc.want)
				}
				e.ev.wait(t, 1, broker.EventRefused, tc.want, s.id)
			})
		}
	}
}
