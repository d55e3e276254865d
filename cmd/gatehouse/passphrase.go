package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// Where the CA passphrase comes from, after --ca-passphrase-file.
const (
	passphraseEnv        = "GATEHOUSE_CA_PASSPHRASE_FILE"
	passphraseCredential = "gatehouse-ca-passphrase" // systemd LoadCredential= name
	passphraseSources    = "--ca-passphrase-file FILE, $" + passphraseEnv + " or the systemd credential " + passphraseCredential
)

// maxPassphrase bounds what is read from a passphrase file.
const maxPassphrase = 4096

// caPassphraseFile names the file the CA passphrase is read from:
// --ca-passphrase-file, else $GATEHOUSE_CA_PASSPHRASE_FILE, else the systemd
// credential $CREDENTIALS_DIRECTORY/gatehouse-ca-passphrase when present;
// "" when none is configured.
func (g *globals) caPassphraseFile() string {
	if g.caPassFile != "" {
		return g.caPassFile
	}
	if f := os.Getenv(passphraseEnv); f != "" {
		return f
	}
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		f := filepath.Join(dir, passphraseCredential)
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	return ""
}

// caPassphrase reads the configured CA passphrase; nil when none is configured.
func (g *globals) caPassphrase() ([]byte, error) {
	f := g.caPassphraseFile()
	if f == "" {
		return nil, nil
	}
	return readPassphrase(f)
}

// readPassphrase reads a passphrase file, trailing newlines trimmed. An empty
// passphrase is refused: it would encrypt the keys under nothing.
func readPassphrase(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read CA passphrase: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassphrase+1))
	if err != nil {
		return nil, fmt.Errorf("read CA passphrase %s: %w", file, err)
	}
	if len(b) > maxPassphrase {
		return nil, fmt.Errorf("CA passphrase file %s is longer than %d bytes: is it the right file?", file, maxPassphrase)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("CA passphrase file %s is empty: write the passphrase into it", file)
	}
	return b, nil
}

// explainedErr replaces an error's text with what the operator should do,
// keeping it matchable with errors.Is.
type explainedErr struct {
	msg string
	err error
}

func (e explainedErr) Error() string { return e.msg }
func (e explainedErr) Unwrap() error { return e.err }

// explainCAKeys turns the pki errors about sealed CA keys into one line
// naming the store and what to do.
func explainCAKeys(err error, dir string) error {
	db := filepath.Join(dir, app.DBFile)
	switch {
	case errors.Is(err, pki.ErrWrongPassphrase):
		return explainedErr{"wrong CA passphrase for " + db, err}
	case errors.Is(err, pki.ErrPassphraseRequired):
		return explainedErr{fmt.Sprintf("CA keys in %s are encrypted: give the passphrase with %s", db, passphraseSources), err}
	case errors.Is(err, pki.ErrNotSealed):
		return explainedErr{fmt.Sprintf("CA keys in %s are not encrypted, yet a CA passphrase was given: encrypt them with 'gatehouse ca passphrase set', or give none", db), err}
	}
	return err
}

func newCAPassphrase(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "passphrase",
		Short: "Encrypt the CA keys at rest, or change their passphrase",
		Long: `Encrypt the CA private keys in the store with AES-256-GCM under a key derived
from a passphrase (scrypt). Every command that opens the store itself (serve,
the TUI, or any command while no daemon runs) then needs the passphrase, from
` + passphraseSources + `.
Commands that talk to a running daemon need none. Both subcommands convert every
key in one transaction and refuse while a daemon runs: stop it first.`,
		Example: "  gatehouse ca passphrase set --new-passphrase-file /etc/gatehouse/pass\n" +
			"  gatehouse ca passphrase change --ca-passphrase-file /etc/gatehouse/pass --new-passphrase-file new",
		Args: cobra.NoArgs,
		RunE: needsSubcommand,
	}
	c.AddCommand(newCAPassphraseSet(g), newCAPassphraseChange(g))
	return c
}

func newCAPassphraseSet(g *globals) *cobra.Command {
	var newFile string
	c := &cobra.Command{
		Use:   "set [--new-passphrase-file FILE]",
		Short: "Encrypt the CA keys of a store that has no passphrase",
		Long: `Encrypt every CA key of the store under a passphrase, read from
--new-passphrase-file or else from ` + passphraseSources + `.
It never creates a store: for a new one with encrypted keys, give the
passphrase to 'gatehouse init'.`,
		Example: "  gatehouse ca passphrase set --new-passphrase-file /etc/gatehouse/pass",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := passphraseDir(g)
			if err != nil {
				return err
			}
			file := newFile
			if file == "" {
				file = g.caPassphraseFile()
			}
			if file == "" {
				return usageErr{Err: fmt.Errorf("set needs the new passphrase: give it with --new-passphrase-file FILE or %s", passphraseSources)}
			}
			pass, err := readPassphrase(file)
			if err != nil {
				return err
			}
			db := filepath.Join(dir, app.DBFile)
			if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
				// Only init, serve, the TUI and demo create a store; init
				// with the passphrase makes its keys born encrypted.
				return fmt.Errorf("%w in %s: create one with its CA keys encrypted: 'gatehouse init --data %s --ca-passphrase-file %s'", store.ErrNoStore, dir, dir, file)
			}
			a, err := openApp(dir, admin.CurrentUser(), &app.Config{Access: app.AccessExisting})
			if errors.Is(err, pki.ErrPassphraseRequired) {
				return fmt.Errorf("CA keys in %s are already encrypted: change the passphrase with 'gatehouse ca passphrase change --new-passphrase-file FILE'", db)
			}
			if err != nil {
				return err
			}
			n, err := a.SetCAPassphrase(cmd.Context(), pass)
			return finishConversion(g, a, err, db, file, n, "encrypted")
		},
	}
	c.Flags().StringVar(&newFile, "new-passphrase-file", "", "file holding the passphrase to encrypt the CA keys with")
	return c
}

func newCAPassphraseChange(g *globals) *cobra.Command {
	var newFile string
	c := &cobra.Command{
		Use:   "change --new-passphrase-file FILE",
		Short: "Re-encrypt the CA keys under a new passphrase",
		Long: `Re-encrypt every CA key under the passphrase in --new-passphrase-file. The
current passphrase comes from ` + passphraseSources + `.`,
		Example: "  gatehouse ca passphrase change --ca-passphrase-file old --new-passphrase-file new",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newFile == "" {
				return usageErr{Err: errors.New("--new-passphrase-file FILE is required")}
			}
			dir, err := passphraseDir(g)
			if err != nil {
				return err
			}
			oldPass, err := g.caPassphrase()
			if err != nil {
				return err
			}
			if oldPass == nil {
				return usageErr{Err: fmt.Errorf("change needs the current passphrase: give it with %s", passphraseSources)}
			}
			pass, err := readPassphrase(newFile)
			if err != nil {
				return err
			}
			db := filepath.Join(dir, app.DBFile)
			if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no store at %s: nothing to change", db)
			}
			a, err := openApp(dir, admin.CurrentUser(), &app.Config{Access: app.AccessExisting, CAPassphrase: oldPass})
			if errors.Is(err, pki.ErrNotSealed) {
				return fmt.Errorf("CA keys in %s are not encrypted yet: encrypt them with 'gatehouse ca passphrase set --new-passphrase-file FILE'", db)
			}
			if err != nil {
				return err
			}
			n, err := a.SetCAPassphrase(cmd.Context(), pass)
			return finishConversion(g, a, err, db, newFile, n, "re-encrypted")
		},
	}
	c.Flags().StringVar(&newFile, "new-passphrase-file", "", "file holding the new passphrase")
	return c
}

// passphraseDir is the data directory, refused while a daemon serves it:
// the daemon holds the store and its keys are in use.
func passphraseDir(g *globals) (string, error) {
	dir, err := g.dataDir()
	if err != nil {
		return "", err
	}
	if admin.Alive(dir) {
		return "", fmt.Errorf("a gatehouse daemon serves %s and holds its store: stop it, run this again, then start it with --ca-passphrase-file", dir)
	}
	return dir, nil
}

// finishConversion closes the store after a conversion (err is its
// outcome), compacts the file so that no freed page keeps the old form of
// the keys, and reports.
func finishConversion(g *globals, a *app.App, err error, db, file string, n int, verb string) error {
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := store.Compact(db, store.Options{}); err != nil {
		return fmt.Errorf("CA keys %s, but the old form may remain in freed pages of %s until it is compacted (run 'gatehouse ca passphrase change' with the same passphrase to retry): %w", verb, db, err)
	}
	if g.json {
		return g.printJSON(map[string]any{"file": db, "keys": n})
	}
	_, err = fmt.Fprintf(g.stdout, "%s %d CA keys in %s; give the passphrase to what opens the store: gatehouse serve --ca-passphrase-file %s\n", verb, n, db, file)
	return err
}
