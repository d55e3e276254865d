package pki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// issuer is an issuing CA this Authority signs with, and the root that
// anchors it: ours for the built-in issuer and those created here, the
// operator's offline root for an imported one.
type issuer struct {
	name      string // DefaultIssuer for the built-in one
	id        string // its CA record's ID
	cert      *x509.Certificate
	certPEM   []byte
	key       crypto.Signer
	rootPEM   []byte
	suspended bool
	idSuffix  string // "/hash" ending the IDs of the certificates it issued (store.CertID)
}

// issuerSet is the immutable set of issuers, swapped as a whole.
type issuerSet struct {
	def    *issuer
	server *issuer            // signs the server certificate; its root is what devices need
	byName map[string]*issuer // every issuer, the default included
}

// issuerName is what operators call issuers in commands and CRL paths.
var issuerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ErrIssuer means an issuer name is unknown, taken or malformed.
var ErrIssuer = errors.New("issuer")

func newIssuer(name string, ca store.CA, kp *caKeyPair, rootPEM []byte) *issuer {
	return &issuer{name: name, id: ca.ID, cert: kp.cert, certPEM: kp.certPEM, key: kp.key, rootPEM: rootPEM,
		suspended: ca.Suspended, idSuffix: store.CertID("", kp.cert.RawSubject)}
}

// loadIssuers reads every issuing CA from the store; def is the built-in
// one, already loaded by Init.
func (a *Authority) loadIssuers(cas []store.CA, def *issuer) error {
	set := &issuerSet{def: def, server: def, byName: map[string]*issuer{DefaultIssuer: def}}
	roots := map[string][]byte{} // name -> root PEM, for imported issuers
	for _, ca := range cas {
		if ca.Role == store.RoleRoot && ca.Name != "" {
			roots[ca.Name] = []byte(ca.CertPEM)
		}
	}
	for _, ca := range cas {
		if ca.Role != store.RoleIssuing {
			continue
		}
		if ca.Name == "" {
			def.suspended = ca.Suspended
			continue
		}
		kp, err := a.parseCAKeyPair(ca)
		if err != nil {
			return err
		}
		root, ok := roots[ca.Name]
		if !ok {
			root = def.rootPEM // created here, under our root
		}
		set.byName[ca.Name] = newIssuer(ca.Name, ca, kp, root)
	}
	st, err := a.st.Settings()
	if err != nil {
		return err
	}
	if iss, ok := set.byName[st.ServerIssuer]; ok {
		set.server = iss
	}
	a.issuers.Store(set)
	return nil
}

// SetServerIssuer makes the issuing CA called name sign the server
// certificate from its next issuance (the caller rotates it), so that
// devices verify the server with that CA's root: an imported issuer's
// offline root. Devices holding the previous ca.pem need the new one
// (ca export). Audited.
func (a *Authority) SetServerIssuer(name, actor string) error {
	iss, err := a.issuer(name)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	stored := iss.name
	if stored == DefaultIssuer {
		stored = ""
	}
	if _, err := a.st.UpdateSettings(func(s *store.Settings) error {
		s.ServerIssuer = stored
		return nil
	}, store.AuditRecord{At: a.opts.now(), Actor: actor, Action: "ca.server_issuer", Detail: "the server certificate is signed by issuing CA " + iss.name}); err != nil {
		return err
	}
	set := a.cloneIssuers()
	set.server = iss
	a.issuers.Store(set)
	return nil
}

// issuer returns the issuer called name; "" is the default one.
func (a *Authority) issuer(name string) (*issuer, error) {
	set := a.issuers.Load()
	if name == "" {
		return set.def, nil
	}
	if iss, ok := set.byName[name]; ok {
		return iss, nil
	}
	return nil, fmt.Errorf("%w: no issuing CA named %q (see gatehouse ca list): %w", ErrIssuer, name, store.ErrNotFound)
}

// issuerOf returns the issuer that issued the record c, if it is one of ours.
func (a *Authority) issuerOf(c store.Cert) (*issuer, bool) {
	for _, iss := range a.issuers.Load().byName {
		if strings.HasSuffix(c.ID, iss.idSuffix) {
			return iss, true
		}
	}
	return nil, false
}

// Issuers lists the issuing CAs' names, the default first.
func (a *Authority) Issuers() []string {
	names := slices.Sorted(maps.Keys(a.issuers.Load().byName))
	return append([]string{DefaultIssuer}, slices.DeleteFunc(names, func(n string) bool { return n == DefaultIssuer })...)
}

// CreateIssuer creates another issuing CA under our root (Kaa issues one per
// tenant), named name; its subject CN is the name, so ACL rules select its
// certificates with ca:NAME.
func (a *Authority) CreateIssuer(name, actor string) (store.CA, error) {
	if err := a.freeName(name); err != nil {
		return store.CA{}, err
	}
	def := a.issuers.Load().def
	root, err := a.parseStoredRoot()
	if err != nil {
		return store.CA{}, err
	}
	key, err := generateKey(KeyECDSAP256, a.opts.rand)
	if err != nil {
		return store.CA{}, fmt.Errorf("create issuer %s: generate key: %w", name, err)
	}
	serial, err := a.newSerial()
	if err != nil {
		return store.CA{}, err
	}
	now := a.opts.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Gatehouse"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(IssuingValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if tmpl.NotAfter.After(root.cert.NotAfter) {
		tmpl.NotAfter = root.cert.NotAfter
	}
	der, err := x509.CreateCertificate(a.opts.rand, tmpl, root.cert, key.Public(), root.key)
	if err != nil {
		return store.CA{}, fmt.Errorf("create issuer %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return store.CA{}, fmt.Errorf("create issuer %s: %w", name, err)
	}
	rec := caRecord(cert, store.RoleIssuing, now)
	rec.Name = name
	if rec.KeyPEM, err = a.encodeCAKey(rec.ID, key); err != nil {
		return store.CA{}, err
	}
	audit := store.AuditRecord{At: now, Actor: actor, Action: "ca.issuer.create",
		Detail: fmt.Sprintf("issuing CA %q under our root, expires %s", name, cert.NotAfter.UTC().Format(time.DateOnly))}
	return a.addIssuers([]store.CA{rec}, audit, func(set *issuerSet) {
		set.byName[name] = newIssuer(name, rec, &caKeyPair{cert: cert, certPEM: []byte(rec.CertPEM), key: key}, def.rootPEM)
	})
}

// ImportIssuer adds an issuing CA whose key the operator brings, signed by a
// root the operator keeps offline (Kaa's instance CA). chainPEM holds the
// issuing certificate first and its root last; keyPEM its private key.
func (a *Authority) ImportIssuer(name string, chainPEM, keyPEM []byte, actor string) (store.CA, error) {
	if err := a.freeName(name); err != nil {
		return store.CA{}, err
	}
	certs, err := parseCertsPEM(chainPEM)
	if err != nil {
		return store.CA{}, fmt.Errorf("import issuer %s: %w", name, err)
	}
	cert, root := certs[0], certs[len(certs)-1]
	switch {
	case len(certs) < 2:
		return store.CA{}, fmt.Errorf("import issuer %s: %w: give the issuing certificate followed by its root, which devices need", name, ErrMalformed)
	case !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return store.CA{}, fmt.Errorf("import issuer %s: %w: the first certificate may not sign certificates", name, ErrNotCA)
	case !isSelfSigned(root):
		return store.CA{}, fmt.Errorf("import issuer %s: %w: the last certificate is not a self-signed root", name, ErrMalformed)
	}
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	pool.AddCert(root)
	for _, c := range certs[1 : len(certs)-1] {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: a.opts.now()}); err != nil {
		return store.CA{}, fmt.Errorf("import issuer %s: %w: the issuing certificate does not chain to the root: %v", name, ErrMalformed, err)
	}
	if _, err := keyTypeOf(cert.PublicKey); err != nil {
		return store.CA{}, fmt.Errorf("import issuer %s: %w", name, err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return store.CA{}, fmt.Errorf("import issuer %s: %w", name, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return store.CA{}, fmt.Errorf("import issuer %s: %w: the key does not belong to the issuing certificate", name, ErrMalformed)
	}
	now := a.opts.now()
	rec := caRecord(cert, store.RoleIssuing, now)
	rec.Name = name
	if rec.KeyPEM, err = a.encodeCAKey(rec.ID, key); err != nil {
		return store.CA{}, err
	}
	rootRec := caRecord(root, store.RoleRoot, now)
	rootRec.Name = name
	audit := store.AuditRecord{At: now, Actor: actor, Action: "ca.issuer.import",
		Detail: fmt.Sprintf("issuing CA %q (%s) under the operator's root %q", name, cert.Subject, root.Subject)}
	return a.addIssuers([]store.CA{rootRec, rec}, audit, func(set *issuerSet) {
		set.byName[name] = newIssuer(name, rec, &caKeyPair{cert: cert, certPEM: []byte(rec.CertPEM), key: key}, []byte(rootRec.CertPEM))
	})
}

// SuspendIssuer refuses (suspended) or admits again every certificate the
// issuer issued, at the next handshake; the caller drops the live sessions
// (broker.Recheck). It returns the updated CA record.
func (a *Authority) SuspendIssuer(name string, suspended bool, actor string) (store.CA, error) {
	iss, err := a.issuer(name)
	if err != nil {
		return store.CA{}, err
	}
	action := map[bool]string{true: "ca.issuer.suspend", false: "ca.issuer.reactivate"}[suspended]
	a.mu.Lock()
	defer a.mu.Unlock()
	updated, err := a.st.UpdateCA(iss.id, func(ca *store.CA) { ca.Suspended = suspended },
		store.AuditRecord{At: a.opts.now(), Actor: actor, Action: action, Detail: fmt.Sprintf("issuing CA %q", iss.name)})
	if err != nil {
		return store.CA{}, fmt.Errorf("%s %s: %w", action, name, err)
	}
	set := a.cloneIssuers()
	next := *set.byName[iss.name]
	next.suspended = suspended
	set.byName[iss.name] = &next
	if iss.name == DefaultIssuer {
		set.def = &next
	}
	if set.server.name == iss.name {
		set.server = &next
	}
	a.issuers.Store(set)
	return updated, a.reloadTrust()
}

// freeName checks that name can name a new issuer.
func (a *Authority) freeName(name string) error {
	if !issuerName.MatchString(name) {
		return fmt.Errorf("%w: name %q: use 1 to 32 lowercase letters, digits and dashes", ErrIssuer, name)
	}
	if _, taken := a.issuers.Load().byName[name]; taken {
		return fmt.Errorf("%w: an issuing CA named %q exists: %w", ErrIssuer, name, store.ErrExists)
	}
	return nil
}

// addIssuers stores recs in one transaction, then publishes the issuer add
// makes and reloads the trust set.
func (a *Authority) addIssuers(recs []store.CA, audit store.AuditRecord, add func(*issuerSet)) (store.CA, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.st.PutCAs(recs, audit); err != nil {
		return store.CA{}, err
	}
	set := a.cloneIssuers()
	add(set)
	a.issuers.Store(set)
	rec := recs[len(recs)-1]
	rec.KeyPEM = ""
	return rec, a.reloadTrust()
}

func (a *Authority) cloneIssuers() *issuerSet {
	cur := a.issuers.Load()
	return &issuerSet{def: cur.def, server: cur.server, byName: maps.Clone(cur.byName)}
}

// parseStoredRoot loads our root with its key, to sign a new issuer.
func (a *Authority) parseStoredRoot() (*caKeyPair, error) {
	cas, err := a.st.ListCAs()
	if err != nil {
		return nil, err
	}
	for _, ca := range cas {
		if ca.Role == store.RoleRoot && ca.Name == "" {
			return a.parseCAKeyPair(ca)
		}
	}
	return nil, fmt.Errorf("%w: our root CA is missing from the store", store.ErrCorrupt)
}

// parsePrivateKey reads a PEM private key in PKCS#8, SEC 1 (EC) or PKCS#1
// (RSA) form, as openssl writes them.
func parsePrivateKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM private key", ErrMalformed)
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: a %T key cannot sign", ErrMalformed, k)
	}
	return signer, nil
}
