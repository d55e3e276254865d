package broker_test

import (
	"crypto/tls"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/pki/pkitest"
)

// Offered one TLS 1.2 suite at a time, out of every suite Go knows, the gate
// agrees exactly to ECDHE with AES-GCM or ChaCha20-Poly1305, for ECDSA and
// RSA server keys; TLS 1.3 is unchanged.
func TestTLS12CipherSuites(t *testing.T) {
	rsaCA, _ := pkitest.New(t, pki.WithKeyType(pki.KeyRSA2048))
	rsaServer, err := rsaCA.IssueServer([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	var all []*tls.CipherSuite
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			all = append(all, s)
		}
	}
	for name, tc := range map[string]struct {
		server *tls.Certificate // nil: the default ECDSA server certificate
		want   []string
	}{
		"ecdsa-server": {nil, []string{
			"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
			"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
			"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
		}},
		"rsa-server": {rsaServer, []string{
			"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
			"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
			"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config) {
				if tc.server != nil {
					c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return tc.server, nil }
				}
			})
			cert, _ := e.issue(t, "suite-probe")
			handshake := func(cfg *tls.Config) error {
				c, err := tls.Dial("tcp", e.addr[broker.TransportMQTTS], cfg)
				if err == nil {
					c.Close()
				}
				return err
			}
			var got []string
			for _, s := range all {
				cfg := &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert},
					MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}}
				if handshake(cfg) == nil {
					got = append(got, s.Name)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("TLS 1.2 suites that negotiate: %v, want %v", got, tc.want)
			}
			if err := handshake(&tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}); err != nil {
				t.Fatalf("TLS 1.3: %v", err)
			}
		})
	}
}
