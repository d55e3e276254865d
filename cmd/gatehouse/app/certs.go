package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// ErrUsage is what every usage error is (errors.Is): a mistake in what the
// caller asked for (a bad TTL, a bad key type, a file in the way, an
// ambiguous name) as opposed to an operational failure. The command line
// exits 2 for it; the admin API answers code "usage".
var ErrUsage = errors.New("usage")

// UsageError is the one usage error type of Gatehouse, for the service and
// its front ends alike. Its message is Err's.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error, so its own sentinels still match.
func (e UsageError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUsage) hold.
func (e UsageError) Is(target error) bool { return target == ErrUsage }

func usageError(err error) error { return UsageError{err} }

// countBySerial counts sessions per certificate serial.
func countBySerial(sessions []broker.Session) map[string]int {
	counts := map[string]int{}
	for _, s := range sessions {
		if s.Serial != "" {
			counts[s.Serial]++
		}
	}
	return counts
}

func (a *App) liveSessions() []broker.Session {
	if br := a.broker(); br != nil {
		return br.Sessions()
	}
	return nil
}

// ListCerts implements Service.
func (a *App) ListCerts(_ context.Context, state store.State) ([]CertView, error) {
	certs, err := a.certs.list(a.st)
	if err != nil {
		return nil, err
	}
	if state != "" {
		certs = slices.DeleteFunc(certs, func(c store.Cert) bool { return c.State != state })
	}
	counts := countBySerial(a.liveSessions())
	now := a.now()
	out := make([]CertView, len(certs))
	for i, c := range certs {
		a.seen.overlay(&c, counts[c.Serial], now)
		out[i] = view(c, counts[c.Serial], now)
	}
	return out, nil
}

// ShowCert implements Service.
func (a *App) ShowCert(ctx context.Context, serial string) (CertDetail, error) {
	c, err := a.st.GetCert(serial)
	if err != nil {
		return CertDetail{}, fmt.Errorf("show certificate %s: %w", serial, err)
	}
	hist, err := a.History(ctx, serial)
	if err != nil {
		return CertDetail{}, err
	}
	var live []broker.Session
	for _, s := range a.liveSessions() {
		if s.Serial == serial {
			live = append(live, s)
		}
	}
	a.seen.overlay(&c, len(live), a.now())
	return CertDetail{
		CertView:     view(c, len(live), a.now()),
		CertPEM:      c.CertPEM,
		LiveSessions: live,
		History:      hist,
	}, nil
}

// IssueClient implements Service.
func (a *App) IssueClient(ctx context.Context, req IssueRequest) (Bundle, error) {
	ttl, err := pki.ParseTTL(req.TTL)
	if err != nil {
		return Bundle{}, usageError(err)
	}
	kt, err := pki.ParseKeyType(req.KeyType)
	if err != nil {
		return Bundle{}, usageError(err)
	}
	iss, err := a.ca.IssueClient(pki.ClientRequest{CN: req.CN, TTL: ttl, KeyType: kt}, a.actorOf(ctx))
	if errors.Is(err, pki.ErrInvalidCN) {
		return Bundle{}, usageError(err)
	}
	if err != nil {
		return Bundle{}, err
	}
	return bundle(iss), nil
}

func bundle(iss pki.Issued) Bundle {
	return Bundle{Cert: iss.Cert, ChainPEM: string(iss.ChainPEM), KeyPEM: string(iss.KeyPEM), CAPEM: string(iss.CAPEM)}
}

// SignCSR implements Service.
func (a *App) SignCSR(ctx context.Context, csrPEM []byte, ttlText string) (Bundle, error) {
	ttl, err := pki.ParseTTL(ttlText)
	if err != nil {
		return Bundle{}, usageError(err)
	}
	iss, err := a.ca.SignCSR(csrPEM, ttl, a.actorOf(ctx))
	if err != nil {
		return Bundle{}, err
	}
	return bundle(iss), nil
}

// ImportCert implements Service.
func (a *App) ImportCert(ctx context.Context, certPEM []byte) (store.Cert, error) {
	c, err := a.ca.ImportClient(certPEM, a.actorOf(ctx))
	if err != nil {
		return store.Cert{}, err
	}
	return c, nil
}

// RootPEM implements Service.
func (a *App) RootPEM(context.Context) ([]byte, error) { return a.ca.RootPEM(), nil }

// TrustCA implements Service.
func (a *App) TrustCA(ctx context.Context, pemChain []byte, strict bool) ([]store.CA, error) {
	cas, err := a.ca.Trust(pemChain, strict, a.actorOf(ctx))
	if err != nil {
		return nil, err
	}
	return cas, nil
}

// ListCAs implements Service.
func (a *App) ListCAs(context.Context) ([]store.CA, error) { return a.ca.CAs() }

// Audit implements Service.
func (a *App) Audit(_ context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	recs, err := a.st.ListAudit(q)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return recs, nil
}

// Backup implements Service. The audit record is written first, so the copy
// carries the record of its own making.
func (a *App) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if _, err := a.st.AppendAudit(store.AuditRecord{At: a.now(), Actor: a.actorOf(ctx), Action: "store.backup"}); err != nil {
		return 0, fmt.Errorf("audit backup: %w", err)
	}
	return a.st.Backup(w)
}

// History implements Service.
func (a *App) History(ctx context.Context, serial string) ([]store.AuditRecord, error) {
	return a.Audit(ctx, store.AuditQuery{Serial: serial})
}

// CreateCert implements Service: issue, then write the device's files.
func (a *App) CreateCert(ctx context.Context, req CreateRequest) (CreateResult, error) {
	return CreateFiles(ctx, a, req, false)
}

// CreateFiles issues a certificate through svc and writes ca.pem, client.crt
// and client.key into req.OutDir (default ./<cn>/). It checks the files are
// free before issuing, so a refusal never loses a key.
func CreateFiles(ctx context.Context, svc Service, req CreateRequest, force bool) (CreateResult, error) {
	dir := req.OutDir
	if dir == "" && req.CN != "" { // a blank CN is generated, so its directory is new
		dir = dirFor(req.CN)
	}
	if !force && dir != "" {
		if err := pki.CheckClientFiles(dir); err != nil {
			return CreateResult{}, err
		}
	}
	b, err := svc.IssueClient(ctx, IssueRequest{CN: req.CN, TTL: req.TTL, KeyType: req.KeyType})
	if err != nil {
		return CreateResult{}, err
	}
	if dir == "" {
		dir = dirFor(b.Cert.CN)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // operators see exactly where the key went
	}
	files, err := pki.WriteClientFiles(dir, pki.Issued{
		Cert: b.Cert, ChainPEM: []byte(b.ChainPEM), KeyPEM: []byte(b.KeyPEM), CAPEM: []byte(b.CAPEM),
	}, force)
	if err != nil {
		return CreateResult{}, fmt.Errorf("certificate %s issued but its files could not be written (the key is lost; revoke it): %w", b.Cert.Serial, err)
	}
	return CreateResult{Cert: b.Cert, Files: files}, nil
}

// dirFor is the default output directory for a CN: ./<cn>/, as one path
// element, so a CN such as "../x" or "a/b" cannot send the key elsewhere.
func dirFor(cn string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == filepath.Separator {
			return '_'
		}
		return r
	}, cn)
	if strings.Trim(name, ".") == "" {
		name = strings.ReplaceAll(name, ".", "_")
	}
	return filepath.Join(".", name)
}

// Transition implements Service: the lifecycle change is committed with its
// audit record first, then every live session of the certificate is dropped.
func (a *App) Transition(ctx context.Context, serial string, to store.State, reason string) (TransitionResult, error) {
	br := a.broker()
	live := 0
	if br != nil {
		live = br.SessionCount(serial)
	}
	c, err := a.ca.Transition(serial, to, a.actorOf(ctx), reason, live)
	if err != nil {
		return TransitionResult{}, err
	}
	dropped := 0
	if br != nil && to != store.StateActive {
		dropped = br.DropSerial(serial, dropCause(to, reason))
	}
	return TransitionResult{Cert: c, Dropped: dropped}, nil
}

// dropCause is the disconnect reason shown to operators.
func dropCause(to store.State, reason string) string {
	cause := string(to) + " by operator"
	if reason != "" {
		cause += ": " + reason
	}
	return cause
}

// ExportCA implements Service.
func (a *App) ExportCA(ctx context.Context, path string) error {
	return WriteRootPEM(ctx, a, path)
}

// WriteRootPEM writes the root certificate from svc to path (mode 0644: it is public).
func WriteRootPEM(ctx context.Context, svc Service, path string) error {
	pem, err := svc.RootPEM(ctx)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, pem, 0o644); err != nil {
		return fmt.Errorf("export CA to %s: %w", path, err)
	}
	return nil
}
