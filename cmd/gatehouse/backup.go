package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

func newBackup(g *globals) *cobra.Command {
	var out string
	var force bool
	c := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a consistent copy of the store, while the broker runs",
		Long: `Write a consistent copy of the store (certificates, CA keys, settings and the
audit log) to FILE, mode 0600, from one read transaction: the daemon keeps
serving. The copy holds the CA keys: keep it as private as the data directory.
Restore by stopping Gatehouse and putting the file in place of DATA/gatehouse.db.`,
		Example: "  gatehouse backup --out /var/backups/gatehouse-$(date +%F).db",
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if out == "" {
				return usageErr{Err: errors.New("--out FILE is required")}
			}
			if _, err := os.Stat(out); err == nil && !force {
				return fmt.Errorf("%s already exists: choose another --out or pass --force", out)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("check %s: %w", out, err)
			}
			return nil
		},
		RunE: g.withService(func(cmd *cobra.Command, svc app.Service, _ []string) error {
			n, err := writeBackup(cmd, svc, out)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"file": out, "bytes": n})
			}
			_, err = fmt.Fprintf(g.stdout, "wrote %s (%d bytes); it holds the CA keys: keep it private\n", out, n)
			return err
		}),
	}
	c.Flags().StringVar(&out, "out", "", "file to write")
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return c
}

// writeBackup streams the copy into a private temporary file next to out and
// renames it into place only once complete, so out is never half-written.
func writeBackup(cmd *cobra.Command, svc app.Service, out string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".gatehouse-backup-*")
	if err != nil {
		return 0, fmt.Errorf("create backup file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := svc.Backup(cmd.Context(), tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return n, fmt.Errorf("write backup %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return n, fmt.Errorf("write backup %s: %w", out, err)
	}
	return n, nil
}
