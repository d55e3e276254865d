package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// countByCert counts sessions per certificate ID.
func countByCert(sessions []broker.Session) map[string]int {
	counts := map[string]int{}
	for _, s := range sessions {
		if s.CertID != "" {
			counts[s.CertID]++
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

// ListCerts implements Service: EachCert, collected.
func (a *App) ListCerts(ctx context.Context, state store.State) ([]CertView, error) {
	out := []CertView{}
	err := a.EachCert(ctx, CertFilter{State: state}, func(v CertView) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// ShowCert implements Service. ref is a certificate ID, or a serial that one
// certificate holds (what the TUI passes).
func (a *App) ShowCert(ctx context.Context, ref string) (CertDetail, error) {
	id, err := a.st.ResolveSerial(ref)
	if err != nil {
		return CertDetail{}, fmt.Errorf("show certificate %s: %w", ref, err)
	}
	c, err := a.st.GetCert(id)
	if err != nil {
		return CertDetail{}, fmt.Errorf("show certificate %s: %w", ref, err)
	}
	hist, err := a.History(ctx, id)
	if err != nil {
		return CertDetail{}, err
	}
	var live []broker.Session
	for _, s := range a.liveSessions() {
		if s.CertID == id {
			live = append(live, s)
		}
	}
	a.seen.overlay(&c, len(live), a.now())
	rights, err := a.certRights(c)
	if err != nil {
		return CertDetail{}, err
	}
	return CertDetail{
		CertView:     view(c, len(live), a.now()),
		CertPEM:      c.CertPEM,
		LiveSessions: live,
		History:      hist,
		Rights:       rights,
		Denials:      a.denials(c.ID),
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
	iss, err := a.ca.IssueClient(pki.ClientRequest{CN: req.CN, TTL: ttl, KeyType: kt, Issuer: req.Issuer}, a.actorOf(ctx))
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
	a.refreshPolicy() // ca:NAME rules may name it
	return cas, nil
}

// ListCAs implements Service.
func (a *App) ListCAs(context.Context) ([]store.CA, error) { return a.ca.CAs() }

// Audit implements Service. A q.CertID may be anything ResolveSerial takes.
func (a *App) Audit(_ context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	if q.CertID != "" {
		id, err := a.st.ResolveSerial(q.CertID)
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		q.CertID = id
	}
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

// History implements Service: the audit records of one certificate, given
// by ID or by a serial that one certificate holds.
func (a *App) History(ctx context.Context, ref string) ([]store.AuditRecord, error) {
	return a.Audit(ctx, store.AuditQuery{CertID: ref})
}

// CreateCert implements Service: issue, then write the device's files.
func (a *App) CreateCert(ctx context.Context, req CreateRequest) (CreateResult, error) {
	return CreateFiles(ctx, a, req, false)
}

// CreateFiles issues a certificate through svc and writes ca.pem, client.crt
// and client.key into req.OutDir (default ./<cn>/). It checks that the files
// are free and that the location is writable before issuing, so a refusal
// leaves neither a record nor a file and never loses a key.
func CreateFiles(ctx context.Context, svc Service, req CreateRequest, force bool) (CreateResult, error) {
	return writeIssued(req, force, func() (Bundle, error) {
		return svc.IssueClient(ctx, IssueRequest{CN: req.CN, TTL: req.TTL, KeyType: req.KeyType, Issuer: req.Issuer})
	})
}

// RenewFiles renews the certificate ref names (a new key made here, the same
// CN) and writes the successor's files as CreateFiles does; req.OutDir
// defaults to ./<cn>/, where the old files usually are (then force is
// needed). The old certificate works until the successor is first used.
func RenewFiles(ctx context.Context, svc Service, ref string, req CreateRequest, force bool) (CreateResult, error) {
	old, err := svc.ShowCert(ctx, ref)
	if err != nil {
		return CreateResult{}, err
	}
	req.CN = old.CN
	return writeIssued(req, force, func() (Bundle, error) {
		return svc.RenewCert(ctx, RenewRequest{Serial: old.ID, TTL: req.TTL})
	})
}

// writeIssued checks that req's files can be written, then issues with
// issue and writes them, so a refusal never costs a key.
func writeIssued(req CreateRequest, force bool, issue func() (Bundle, error)) (CreateResult, error) {
	dirFiles := req.P12 == "" || req.OutDir != "" // a PKCS#12 file alone, unless a directory is asked for too
	dir := req.OutDir
	if dir == "" && req.CN != "" { // a blank CN is generated, so its directory is new
		dir = dirFor(req.CN)
	}
	if dirFiles && !force && dir != "" {
		names := []string{pki.CAFile, pki.CertFile, pki.KeyFile}
		if req.Bundle {
			names = append(names, pki.BundleFile)
		}
		if err := pki.CheckClientFiles(dir, names...); err != nil {
			return CreateResult{}, err
		}
	}
	probe := dir
	if probe == "" {
		probe = "." // the generated CN's directory goes here
	}
	if dirFiles {
		if err := pki.CheckWritable(probe); err != nil {
			return CreateResult{}, err
		}
	}
	if req.P12 != "" {
		if err := pki.CheckOutFile(req.P12, force); err != nil {
			return CreateResult{}, err
		}
	}
	b, err := issue()
	if err != nil {
		return CreateResult{}, err
	}
	if dir == "" {
		dir = dirFor(b.Cert.CN)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // operators see exactly where the key went
	}
	files, err := writeDelivery(req, dir, dirFiles, b, force)
	if err != nil {
		return CreateResult{}, fmt.Errorf("certificate %s issued but its files could not be written (the key is lost; revoke it): %w", b.Cert.Serial, err)
	}
	res := CreateResult{Cert: b.Cert, Files: files}
	if root := gitWorkTree(filepath.Dir(files[len(files)-1])); root != "" {
		res.Warning = fmt.Sprintf("%s is inside the git work tree %s: keep client.key out of version control (move it, or add it to .gitignore)", dir, root)
	}
	return res, nil
}

// writeDelivery writes what req asks for of bundle b: the directory's files
// (and client.pem with req.Bundle) and the PKCS#12 file. The key's only copy
// is last in the returned paths.
func writeDelivery(req CreateRequest, dir string, dirFiles bool, b Bundle, force bool) ([]string, error) {
	var files []string
	if dirFiles {
		var err error
		files, err = pki.WriteClientFiles(dir, pki.Issued{
			Cert: b.Cert, ChainPEM: []byte(b.ChainPEM), KeyPEM: []byte(b.KeyPEM), CAPEM: []byte(b.CAPEM),
		}, force)
		if err != nil {
			return files, err
		}
		if req.Bundle {
			p := filepath.Join(dir, pki.BundleFile)
			if err := pki.WriteFile(p, pki.BundlePEM([]byte(b.ChainPEM), []byte(b.KeyPEM)), 0o600); err != nil {
				return files, err
			}
			files = append(files, p)
		}
	}
	if req.P12 != "" {
		der, err := pki.PKCS12([]byte(b.ChainPEM), []byte(b.KeyPEM), []byte(b.CAPEM), req.P12Password)
		if err != nil {
			return files, err
		}
		p := req.P12
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if err := pki.WriteFile(p, der, 0o600); err != nil {
			return files, err
		}
		files = append(files, p)
	}
	return files, nil
}

// gitWorkTree returns the root of the git work tree holding dir, or "".
func gitWorkTree(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
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
// ref is a certificate ID, or a serial that one certificate holds (what the
// TUI passes); another CA's certificate with the same serial is untouched.
func (a *App) Transition(ctx context.Context, ref string, to store.State, reason string) (TransitionResult, error) {
	id, err := a.st.ResolveSerial(ref)
	if err != nil {
		return TransitionResult{}, err
	}
	start := time.Now()
	br := a.broker()
	live := 0
	if br != nil {
		live = br.SessionCount(id)
	}
	c, err := a.ca.Transition(id, to, a.actorOf(ctx), reason, live)
	if err != nil {
		return TransitionResult{}, err
	}
	dropped := 0
	if br != nil && to != store.StateActive {
		dropped = br.DropSerial(id, dropCause(to, reason))
		if dropped > 0 {
			a.observeSuspendDrop(time.Since(start))
		}
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
