package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/store"
)

// MaxCNLength is the longest common name accepted (RFC 5280 ub-common-name).
const MaxCNLength = 64

// ClientRequest asks for a new client certificate and key.
type ClientRequest struct {
	CN      string        // optional; "device-<6 hex>" when empty
	TTL     time.Duration // 0 means DefaultClientTTL
	KeyType KeyType       // "" means the Authority's default
	Issuer  string        // the issuing CA's name; "" means the default one
}

// Issued is a newly issued client certificate. The key is returned once and never stored.
type Issued struct {
	Cert     store.Cert
	ChainPEM []byte // leaf, then the issuing intermediate
	KeyPEM   []byte // PKCS#8; nil when the certificate was signed from a CSR
	CAPEM    []byte // our root: what the client needs to verify the server
}

// serialLimit bounds random serials to 128 bits.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// newSerial returns a random positive serial of at most 128 bits.
func (a *Authority) newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(a.opts.rand, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("generate serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// checkCN enforces RFC 5280's length bound and printable characters.
func checkCN(cn string) error {
	if !utf8.ValidString(cn) {
		return fmt.Errorf("common name %q: %w: not valid UTF-8", cn, ErrInvalidCN)
	}
	if n := utf8.RuneCountInString(cn); n > MaxCNLength {
		return fmt.Errorf("common name %.20q...: %w: %d characters, at most %d", cn, ErrInvalidCN, n, MaxCNLength)
	}
	for _, r := range cn {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("common name %q: %w: contains non-printable character %U", cn, ErrInvalidCN, r)
		}
	}
	if strings.TrimSpace(cn) != cn {
		return fmt.Errorf("common name %q: %w: leading or trailing space", cn, ErrInvalidCN)
	}
	return nil
}

func (a *Authority) defaultCN() (string, error) {
	b := make([]byte, 3)
	if _, err := a.opts.rand.Read(b); err != nil {
		return "", fmt.Errorf("generate common name: %w", err)
	}
	return "device-" + hex.EncodeToString(b), nil
}

// notAfter computes the end of validity for ttl from now, refusing lifetimes
// beyond the issuing CA with an error wrapping ErrTTL that names the maximum.
func (a *Authority) notAfter(iss *issuer, now time.Time, ttl time.Duration) (time.Time, error) {
	if ttl < 0 {
		return time.Time{}, fmt.Errorf("%w: negative lifetime %s", ErrTTL, ttl)
	}
	end := now.Add(ttl)
	if limit := iss.cert.NotAfter; end.After(limit) {
		maxDays := int(limit.Sub(now) / day)
		return time.Time{}, fmt.Errorf("%w: %s would end after the issuing CA expires on %s: at most %dd",
			ErrTTL, formatTTL(ttl), limit.UTC().Format(time.DateOnly), maxDays)
	}
	return end, nil
}

// Days is a remaining lifetime in whole days, rounded to the nearest, so a
// certificate issued for 30d has 30 days left a second later, not 29.
func Days(d time.Duration) int { return int((d + day/2) / day) }

func formatTTL(d time.Duration) string {
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// leafTemplate is the common shape of client and server leaves.
func (a *Authority) leafTemplate(cn string, now, end time.Time, eku x509.ExtKeyUsage) (*x509.Certificate, error) {
	serial, err := a.newSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              end,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{eku},
		BasicConstraintsValid: true,
	}, nil
}

// sign creates the leaf with our issuing CA and parses it back.
func (a *Authority) sign(iss *issuer, tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(a.opts.rand, tmpl, iss.cert, pub, iss.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse signed certificate: %w", err)
	}
	return cert, nil
}

// certRecord describes a client leaf as a store record in state inactive.
func certRecord(c *x509.Certificate, kt KeyType, src store.Source, now time.Time) store.Cert {
	sans := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	serial := FormatSerial(c.SerialNumber)
	return store.Cert{
		ID:          store.CertID(serial, c.RawIssuer),
		Serial:      serial,
		CN:          c.Subject.CommonName,
		SANs:        sans,
		Issuer:      c.Issuer.CommonName,
		NotBefore:   c.NotBefore,
		NotAfter:    c.NotAfter,
		Fingerprint: fingerprint(c.Raw),
		KeyType:     string(kt),
		State:       store.StateInactive,
		Source:      src,
		CreatedAt:   now,
		CertPEM:     string(encodeCert(c.Raw)),
	}
}

// register stores a new certificate record with a cert.create audit record,
// adds it to the snapshot and reports the change. Callers must not hold a.mu.
func (a *Authority) register(rec store.Cert, actor, detail string) error {
	audit := store.AuditRecord{At: rec.CreatedAt, Actor: actor, Action: "cert.create",
		Serial: rec.Serial, CertID: rec.ID, CN: rec.CN, To: rec.State, Detail: detail}
	e, err := entryOf(rec)
	if err != nil {
		return err
	}
	if err := a.create(rec, e, audit); err != nil {
		return err
	}
	a.opts.onChange(rec, audit)
	return nil
}

func (a *Authority) create(rec store.Cert, e entry, audit store.AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.st.CreateCert(rec, audit); err != nil {
		return err
	}
	a.snap.set(rec.ID, e)
	return nil
}

// IssueClient creates a key and a client certificate (clientAuth EKU) signed
// by the issuing CA, stores the record as inactive and returns the key once.
func (a *Authority) IssueClient(req ClientRequest, actor string) (Issued, error) {
	kt := req.KeyType
	if kt == "" {
		kt = a.opts.keyType
	}
	kt, err := ParseKeyType(string(kt))
	if err != nil {
		return Issued{}, fmt.Errorf("issue client certificate: %w", err)
	}
	cn := req.CN
	if cn == "" {
		if cn, err = a.defaultCN(); err != nil {
			return Issued{}, err
		}
	}
	if err := checkCN(cn); err != nil {
		return Issued{}, fmt.Errorf("issue client certificate: %w", err)
	}
	ica, err := a.issuer(req.Issuer)
	if err != nil {
		return Issued{}, fmt.Errorf("issue client certificate: %w", err)
	}
	now := a.opts.now()
	end, err := a.notAfter(ica, now, orDefaultTTL(req.TTL))
	if err != nil {
		return Issued{}, fmt.Errorf("issue client certificate %q: %w", cn, err)
	}
	key, err := generateKey(kt, a.opts.rand)
	if err != nil {
		return Issued{}, fmt.Errorf("issue client certificate %q: generate %s key: %w", cn, kt, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Issued{}, err
	}
	iss, err := a.issueLeaf(leafSpec{cn: cn, now: now, end: end, pub: key.Public(), kt: kt, src: store.SourceIssued, iss: ica}, actor)
	if err != nil {
		return Issued{}, fmt.Errorf("issue client certificate %q: %w", cn, err)
	}
	iss.KeyPEM = keyPEM
	return iss, nil
}

// leafSpec is what a client leaf is issued from.
type leafSpec struct {
	cn       string
	now, end time.Time
	pub      crypto.PublicKey
	csr      *x509.CertificateRequest // its SANs are copied; nil for our own keys
	kt       KeyType
	src      store.Source
	renews   string // serial of the certificate this one succeeds, if any
	iss      *issuer
}

// issueLeaf signs and registers a client leaf.
func (a *Authority) issueLeaf(spec leafSpec, actor string) (Issued, error) {
	tmpl, err := a.leafTemplate(spec.cn, spec.now, spec.end, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return Issued{}, err
	}
	if spec.csr != nil {
		tmpl.DNSNames, tmpl.IPAddresses = spec.csr.DNSNames, spec.csr.IPAddresses
	}
	if err := a.addRevocationURLs(tmpl, spec.iss); err != nil {
		return Issued{}, err
	}
	if spec.iss.suspended {
		return Issued{}, fmt.Errorf("%w: issuing CA %q is suspended", ErrIssuer, spec.iss.name)
	}
	cert, err := a.sign(spec.iss, tmpl, spec.pub)
	if err != nil {
		return Issued{}, err
	}
	rec := certRecord(cert, spec.kt, spec.src, spec.now)
	rec.Renews = spec.renews
	detail := fmt.Sprintf("%s %s certificate, expires %s", spec.src, spec.kt, cert.NotAfter.UTC().Format(time.DateOnly))
	if spec.renews != "" {
		detail += ", renews " + spec.renews
	}
	if err := a.register(rec, actor, detail); err != nil {
		return Issued{}, err
	}
	chain := append(encodeCert(cert.Raw), spec.iss.certPEM...)
	return Issued{Cert: rec, ChainPEM: chain, CAPEM: a.RootPEM()}, nil
}
