package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// errDamaged is doctor's exit: the findings above it say what is wrong.
var errDamaged = errors.New("the store is damaged: restore it from a backup as shown above")

// diagnosis is what doctor prints; its JSON is doctor's --json output.
type diagnosis struct {
	Store    string          `json:"store"`
	OK       bool            `json:"ok"`
	Findings []store.Finding `json:"findings"`
	Restore  string          `json:"restore,omitempty"`
	// Upgrade is set for a healthy store of an older schema: not damage, so
	// doctor exits 0, but its records are checked only once it is upgraded.
	Upgrade string `json:"upgrade,omitempty"`
}

// upgradePending is what doctor says of a store of an older schema.
const upgradePending = "upgrade pending: run 'gatehouse init' (or start 'gatehouse serve') once to upgrade it, then run doctor again to check its records"

func newDoctor(g *globals) *cobra.Command {
	var file string
	var ef etcdFlags
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check the store for damage, read-only, and say how to restore it",
		Long: `Check the store without changing a byte of it: its file mode, bbolt's page
consistency check, the schema version, that every record decodes and that the
CA certificates and keys parse. Exits 1 when something is damaged and says how
to restore from a backup made with 'gatehouse backup'. A healthy store of an
older schema is not damage: doctor says the upgrade is pending and exits 0. A running daemon holds
the store: stop it first, or check a backup file with --file. With --etcd it checks a cluster's
store in etcd, read-only, while its nodes serve.`,
		Example: "  gatehouse doctor\n  gatehouse doctor --file /var/backups/gatehouse-2026-12-01.db\n" +
			"  gatehouse doctor --etcd https://10.0.0.5:2379 --etcd-ca etcd-ca.pem --etcd-cert ops.pem --etcd-key ops-key.pem",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := ef.config()
			if err != nil {
				return err
			}
			if cfg != nil {
				if file != "" {
					return usageErr{Err: errors.New("--file and --etcd each name the store to check: give one")}
				}
				return g.doctorEtcd(*cfg)
			}
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			path := file
			if path == "" {
				path = filepath.Join(dir, app.DBFile)
				if admin.Alive(dir) {
					return fmt.Errorf("a gatehouse daemon serves %s and holds its store: stop it to check the store, or check a backup with --file", dir)
				}
			}
			pass, err := g.caPassphrase()
			if err != nil {
				return err
			}
			d, err := diagnose(path, pass)
			if err != nil {
				return err
			}
			if !d.OK {
				d.Restore = restoreAdvice(filepath.Join(dir, app.DBFile))
			}
			return g.reportDiagnosis(d)
		},
	}
	c.Flags().StringVar(&file, "file", "", "check this store file (a backup) instead of DATA/gatehouse.db")
	ef.register(c, "check the cluster's store in etcd at these client URLs (comma-separated) instead of DATA/gatehouse.db")
	return c
}

// doctorEtcd checks a cluster's store in etcd, read-only: etcd serves
// readers beside the nodes, so they need not stop. A damaged record is
// restored from an etcd snapshot.
func (g *globals) doctorEtcd(cfg store.EtcdConfig) error {
	pass, err := g.caPassphrase()
	if err != nil {
		return err
	}
	cfg.ReadOnly = true
	st, err := store.OpenEtcd(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := checkStore(diagnosis{Store: st.Path()}, st, pass)
	if err != nil {
		return err
	}
	if !d.OK {
		d.Restore = "restore etcd from your latest snapshot ('etcdctl snapshot save' makes them; 'etcdctl snapshot restore' " +
			"puts one back, https://etcd.io/docs/latest/op-guide/recovery/); changes since the snapshot are lost."
	}
	return g.reportDiagnosis(d)
}

// diagnose runs every check on the store file at path, read-only. The CA
// keys are decrypted with pass when they are encrypted; without it they are
// reported as encrypted, not as damage, and a wrong pass is an error rather
// than a finding: neither calls for a restore from backup.
func diagnose(path string, pass []byte) (diagnosis, error) {
	d := diagnosis{Store: path}
	add := func(f store.Finding) { d.Findings = append(d.Findings, f) }
	fi, err := os.Stat(path)
	if err != nil {
		add(store.Finding{Check: "file", Detail: err.Error()})
		return d, nil
	}
	add(store.Finding{Check: "file", OK: true, Detail: fmt.Sprintf("%d bytes", fi.Size())})
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		add(store.Finding{Check: "mode", OK: true, Detail: fmt.Sprintf("%04o: open to other users although it holds the CA keys; the next command run by its owner tightens it to 0600", perm)})
	} else {
		add(store.Finding{Check: "mode", OK: true, Detail: fmt.Sprintf("%04o", perm)})
	}
	st, err := store.Open(path, store.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		// A read-only open refuses an older schema; that store is not damaged.
		if v, pending, _ := store.PendingUpgrade(path, time.Second); pending {
			add(store.Finding{Check: "schema", OK: true, Detail: fmt.Sprintf("version %d, older than this gatehouse's %d", v, store.SchemaVersion)})
			d.OK, d.Upgrade = true, upgradePending
			return d, nil
		}
		add(store.Finding{Check: "open", Detail: err.Error()})
		return d, nil
	}
	defer st.Close()
	return checkStore(d, st, pass)
}

// reportDiagnosis prints d (as JSON with --json) and fails with errDamaged
// when it found damage.
func (g *globals) reportDiagnosis(d diagnosis) error {
	if g.json {
		if err := g.printJSON(d); err != nil {
			return err
		}
	} else {
		printDiagnosis(g, d)
	}
	if !d.OK {
		return errDamaged
	}
	return nil
}

// checkStore adds to d the checks of the open store st: every record, and
// that the CA keys parse (decrypted with pass when they are encrypted).
func checkStore(d diagnosis, st *store.Store, pass []byte) (diagnosis, error) {
	add := func(f store.Finding) { d.Findings = append(d.Findings, f) }
	findings, err := st.Verify()
	if err != nil { // etcd did not answer a read: not damage, and nothing to restore
		return d, fmt.Errorf("%w; the store was not checked: run doctor again", err)
	}
	for _, f := range findings {
		add(f)
	}
	var opts []pki.Option
	if pass != nil {
		opts = append(opts, pki.WithPassphrase(pass))
	}
	a, err := pki.Init(st, opts...)
	if errors.Is(err, pki.ErrNotSealed) { // a passphrase in the environment, a clear store
		a, err = pki.Init(st)
	}
	switch {
	case errors.Is(err, pki.ErrPassphraseRequired):
		add(store.Finding{Check: "CA keys", OK: true, Detail: "encrypted at rest; give the CA passphrase (--ca-passphrase-file) to check that they decrypt"})
	case errors.Is(err, pki.ErrWrongPassphrase):
		return d, explainedErr{"wrong CA passphrase for " + st.Path(), err} // as every command says it
	case store.Unanswered(err): // etcd stopped answering after the records were read: not damage
		return d, fmt.Errorf("%w; the store was not checked: run doctor again", err)
	case err != nil:
		add(store.Finding{Check: "CA keys", Detail: err.Error()})
	default:
		cas, err := a.CAs()
		if err != nil {
			return d, fmt.Errorf("list the CAs of %s: %w", st.Path(), err)
		}
		add(store.Finding{Check: "CA keys", OK: true, Detail: fmt.Sprintf("root and issuing CA keys parse; %d CAs in all", len(cas))})
	}
	d.OK = true
	for _, f := range d.Findings {
		d.OK = d.OK && f.OK
	}
	return d, nil
}

// restoreAdvice says, step by step, how to put a backup in place of live.
func restoreAdvice(live string) string {
	return fmt.Sprintf("stop gatehouse; move the damaged file aside (mv %[1]s %[1]s.damaged); "+
		"check your latest backup with 'gatehouse doctor --file BACKUP'; copy it into place "+
		"(install -m 600 BACKUP %[1]s); start gatehouse. Backups are made with 'gatehouse backup --out FILE' "+
		"(docs/operations.md); changes since the backup are lost.", live)
}

func printDiagnosis(g *globals, d diagnosis) {
	fmt.Fprintf(g.stdout, "store %s\n", termsafe.Clean(d.Store))
	for _, f := range d.Findings {
		mark := "ok     "
		if !f.OK {
			mark = "DAMAGED"
		}
		fmt.Fprintf(g.stdout, "  %s  %-14s %s\n", mark, f.Check, termsafe.Clean(f.Detail))
	}
	if d.Upgrade != "" {
		fmt.Fprintln(g.stdout, d.Upgrade)
		return
	}
	if d.OK {
		fmt.Fprintln(g.stdout, "the store is healthy")
		return
	}
	fmt.Fprintln(g.stdout, "to restore: "+termsafe.Clean(d.Restore))
}
