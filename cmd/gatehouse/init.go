package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

func newInit(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the data directory, the store and its CAs",
		Long: `Create the data directory (mode 0700), the store (0600) and a new root and
issuing CA, and print where they are. With a CA passphrase (from
` + passphraseSources + `) the CA keys are created
encrypted. Other commands never create a store: on a data directory without
one they fail and point here. Run on an existing store, init changes nothing
but a pending schema upgrade, and says which it did.`,
		Example: "  gatehouse init --data /var/lib/gatehouse",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			path := filepath.Join(dir, app.DBFile)
			_, statErr := os.Stat(path)
			existed := statErr == nil
			if existed && admin.Alive(dir) {
				return report(g, dir, path, false, "a gatehouse daemon serves it")
			}
			// A configured passphrase makes the new CA keys born encrypted:
			// the clear keys never touch the disk.
			pass, err := g.caPassphrase()
			if err != nil {
				return err
			}
			from := 0 // the schema an existing store is upgraded from
			if existed {
				if v, pending, _ := store.PendingUpgrade(path, 0); pending {
					from = v
				}
			}
			a, err := openApp(dir, admin.CurrentUser(), &app.Config{Access: app.AccessCreate, Logger: warnLogger(g.stderr), CAPassphrase: pass})
			if err != nil {
				return err
			}
			if err := a.Close(); err != nil {
				return err
			}
			if existed && from > 0 {
				if g.json {
					return g.printJSON(map[string]any{"data_dir": dir, "store": path, "created": false,
						"upgraded_from": from, "schema": store.SchemaVersion})
				}
				_, err := fmt.Fprintf(g.stdout, "upgraded the store at %s from schema %d to %d\n", path, from, store.SchemaVersion)
				return err
			}
			if existed {
				return report(g, dir, path, false, "nothing to do")
			}
			return report(g, dir, path, true, "created")
		},
	}
}

// report prints what init did: a new store, or the one already there.
func report(g *globals, dir, path string, created bool, why string) error {
	if g.json {
		return g.printJSON(map[string]any{"data_dir": dir, "store": path, "created": created})
	}
	if created {
		_, err := fmt.Fprintf(g.stdout, "created %s with a new root and issuing CA (data dir %s, mode 0700)\n", path, dir)
		return err
	}
	_, err := fmt.Fprintf(g.stdout, "a store already exists at %s: %s\n", path, why)
	return err
}
