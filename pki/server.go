package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// ServerValidity is the lifetime of a server certificate, capped by the issuing CA.
const ServerValidity = 365 * day

// IssueServer issues a serverAuth certificate for the given DNS names and IP
// addresses (1 year, capped by the issuing CA). It is not stored: the server
// certificate is reissued at every start. Certificate holds leaf + intermediate.
func (a *Authority) IssueServer(sans []string) (*tls.Certificate, error) {
	if len(sans) == 0 {
		return nil, errors.New("issue server certificate: no DNS names or IP addresses given")
	}
	iss := a.issuers.Load().server
	now := a.opts.now()
	end := now.Add(ServerValidity)
	if end.After(iss.cert.NotAfter) {
		end = iss.cert.NotAfter
	}
	tmpl, err := a.leafTemplate(sans[0], now, end, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	for _, san := range sans {
		if ip := net.ParseIP(san); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	key, err := generateKey(a.opts.keyType, a.opts.rand)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: generate key: %w", err)
	}
	cert, err := a.sign(iss, tmpl, key.Public())
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	return &tls.Certificate{
		Certificate: [][]byte{cert.Raw, iss.cert.Raw},
		PrivateKey:  key,
		Leaf:        cert,
	}, nil
}

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
