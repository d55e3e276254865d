package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// Exit codes of the command-line contract.
const (
	exitOK    = 0
	exitError = 1 // operational error
	exitUsage = 2 // the command line was wrong
)

// usageErr marks an error as the caller's mistake (exit 2); it is the
// service's usage error, so both sides of the admin socket agree.
type usageErr = app.UsageError

// globals are the flags every command shares.
type globals struct {
	data   string
	json   bool
	stdout io.Writer
	stderr io.Writer

	caPassFile string // --ca-passphrase-file
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	if isUsage(err) {
		fmt.Fprintln(stderr, "gatehouse: "+oneLine(err)+" (see 'gatehouse --help')")
		return exitUsage
	}
	fmt.Fprintln(stderr, "gatehouse: "+oneLine(err))
	return exitError
}

// isUsage reports a mistake in the command line: a usage error, an unknown
// command or flag, or a serial prefix that names several certificates (as
// an ambiguous CN does).
func isUsage(err error) bool {
	var amb *store.AmbiguousError
	return errors.Is(err, app.ErrUsage) || errors.As(err, &amb) ||
		strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.HasPrefix(err.Error(), "unknown shorthand flag")
}

// oneLine keeps error output to a single line, as scripts expect, with any
// control or bidi character a certificate or client put in it escaped.
func oneLine(err error) string {
	return termsafe.Clean(strings.Join(strings.Fields(err.Error()), " "))
}

func newRoot(g *globals) *cobra.Command {
	var bf brokerFlags
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "An mTLS MQTT endpoint and the certificates that guard it",
		Long: `Gatehouse runs an MQTT broker over TLS and secure WebSocket whose clients
authenticate with certificates from its own small PKI. Suspend or revoke a
certificate and its connections drop at once.

Without a subcommand it opens the operator TUI: attached to the daemon serving
the data directory if one runs, otherwise with an in-process broker.`,
		Example: `  gatehouse                          # TUI (starts the broker if no daemon runs)
  gatehouse serve                    # headless daemon
  gatehouse cert create --cn dev1    # writes ./dev1/{ca.pem,client.crt,client.key}
  gatehouse cert suspend 3f2a9c      # drops its live connections`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTUI(cmd.Context(), g, bf)
		},
	}
	root.SetVersionTemplate(currentBuild().String() + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr{Err: err} })
	root.PersistentFlags().StringVar(&g.data, "data", "", "data directory (default $GATEHOUSE_DATA or $XDG_DATA_HOME/gatehouse)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.PersistentFlags().StringVar(&g.caPassFile, "ca-passphrase-file", "", "file with the passphrase of encrypted CA keys (default $"+passphraseEnv+" or the systemd credential "+passphraseCredential+")")
	bf.register(root)
	root.AddCommand(newServe(g), newCert(g), newCA(g), newMTLS(g), newConn(g), newEvents(g), newAudit(g), newVersion(g), newDemo(g), newBackup(g), newConfig(g),
		newInit(g), newDoctor(g), newACL(g), newAuth(g), newToken(g), newCluster(g))
	markUsage(root)
	return root
}

// dataDir resolves --data, $GATEHOUSE_DATA, $XDG_DATA_HOME/gatehouse, ~/.local/share/gatehouse.
func (g *globals) dataDir() (string, error) {
	switch {
	case g.data != "":
		return filepath.Abs(g.data)
	case os.Getenv("GATEHOUSE_DATA") != "":
		return filepath.Abs(os.Getenv("GATEHOUSE_DATA"))
	case os.Getenv("XDG_DATA_HOME") != "":
		return filepath.Join(os.Getenv("XDG_DATA_HOME"), "gatehouse"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find a data directory: %w; pass --data DIR", err)
	}
	return filepath.Join(home, ".local", "share", "gatehouse"), nil
}

// service connects to the daemon serving the data directory, or opens its
// existing store read-write when none runs; it never creates a store. The
// returned func releases it.
func (g *globals) service() (app.Service, func(), error) {
	return g.serviceFor(app.AccessExisting)
}

// serviceFor is service with the store opened as access says when no daemon
// runs: read-only commands pass app.AccessReadOnly and leave the file as is.
func (g *globals) serviceFor(access app.Access) (app.Service, func(), error) {
	dir, err := g.dataDir()
	if err != nil {
		return nil, nil, err
	}
	if admin.Alive(dir) {
		c, err := admin.Dial(dir, "cli")
		if err != nil {
			return nil, nil, err
		}
		return c, func() {}, nil
	}
	pass, err := g.caPassphrase()
	if err != nil {
		return nil, nil, err
	}
	a, err := openApp(dir, admin.CurrentUser(), &app.Config{Access: access, Logger: warnLogger(g.stderr), CAPassphrase: pass})
	if err != nil {
		return nil, nil, err
	}
	return a, func() { a.Close() }, nil
}

// openApp opens the store in dir, explaining a lock held by another process.
// With the store open no daemon can be running, so a leftover socket is stale.
func openApp(dir, actor string, cfg *app.Config) (*app.App, error) {
	c := app.Config{DataDir: dir, Actor: actor}
	if cfg != nil {
		c = *cfg
		c.DataDir, c.Actor = dir, actor
	}
	a, err := app.Open(c)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w%s; stop it or talk to it through %s", err, lockHolder(dir), filepath.Join(dir, admin.SocketName))
	}
	if err != nil {
		return nil, explainCAKeys(err, dir)
	}
	os.Remove(filepath.Join(dir, admin.SocketName))
	return a, nil
}

// pidFile records the process that holds the store, to name it in lock errors.
const pidFile = "gatehouse.pid"

func lockHolder(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return ""
	}
	return " (pid " + strings.TrimSpace(string(b)) + "?)"
}

// resolve expands each serial prefix argument through svc.
func resolve(ctx context.Context, svc app.Service, prefixes []string) ([]string, error) {
	out := make([]string, 0, len(prefixes))
	for _, p := range prefixes {
		s, err := svc.ResolveSerial(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", p, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// markUsage makes every positional-argument error a usage error (exit 2).
func markUsage(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageErr{Err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsage(sub)
	}
}

// withService adapts fn into a cobra RunE that first connects to the daemon
// (or opens the existing store) and releases it afterwards.
func (g *globals) withService(fn func(cmd *cobra.Command, svc app.Service, args []string) error) func(*cobra.Command, []string) error {
	return g.runWith(app.AccessExisting, fn)
}

// withReader is withService for commands that only read: without a daemon
// the store is opened read-only and its bytes stay unchanged.
func (g *globals) withReader(fn func(cmd *cobra.Command, svc app.Service, args []string) error) func(*cobra.Command, []string) error {
	return g.runWith(app.AccessReadOnly, fn)
}

func (g *globals) runWith(access app.Access, fn func(cmd *cobra.Command, svc app.Service, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		svc, done, err := g.serviceFor(access)
		if err != nil {
			return err
		}
		defer done()
		return fn(cmd, svc, args)
	}
}

// needsSubcommand is the RunE of commands that only group others: run bare,
// they say which subcommands exist.
func needsSubcommand(cmd *cobra.Command, _ []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usageErr{Err: fmt.Errorf("%s needs a subcommand: %s", cmd.Name(), strings.Join(names, ", "))}
}
