package pki

import (
	"crypto/tls"
	"errors"
	"sync/atomic"
)

// ServerCert holds the current server certificate so the broker can rotate it
// without a restart. The zero value is empty; Set and GetCertificate are safe
// for concurrent use (one atomic pointer).
type ServerCert struct {
	p atomic.Pointer[tls.Certificate]
}

// Set publishes c; handshakes that start afterwards use it.
func (s *ServerCert) Set(c *tls.Certificate) { s.p.Store(c) }

// GetCertificate is a tls.Config.GetCertificate returning the current certificate.
func (s *ServerCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.p.Load()
	if c == nil {
		return nil, errors.New("no server certificate configured")
	}
	return c, nil
}
