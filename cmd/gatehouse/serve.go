package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

func newServe(g *globals) *cobra.Command {
	var bf brokerFlags
	var af applianceFlags
	var cf clusterFlags
	var logFormat, logLevel string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker headless (systemd, appliances, scripts)",
		Long: `Run the broker without a TUI. Logs go to stderr. Commands and the TUI in
other terminals talk to it through DATA/admin.sock. SIGINT or SIGTERM stops it
cleanly: listeners close, sessions drop, the store closes.

Every flag may also be set by an environment variable GATEHOUSE_<NAME>
(--log-level: GATEHOUSE_LOG_LEVEL) or a key of the TOML config file (--config,
default DATA/gatehouse.toml when present): flag > env > file > default. See
'gatehouse config show'.

SIGHUP re-reads the config file, applies --log-level live, rotates the server
certificate (re-reads --server-cert/--server-key, or issues a fresh one)
without dropping anyone, and logs every other changed setting as needing a
restart.

Cluster mode: --etcd ENDPOINTS --node NAME keeps the store in etcd (keys under
/gatehouse) instead of DATA/gatehouse.db, shared by every node started so. A
suspend, revoke, auth switch or policy change made through any node applies on
every node: the device's sessions drop wherever they are. A device reconnecting
through another node takes its session over from the node that held it.`,
		Example: `  gatehouse serve --data /var/lib/gatehouse
  gatehouse serve --mqtts 127.0.0.1:8883 --wss "" --san broker.example.com --log-format json
  gatehouse serve --ssh :2222 --http 127.0.0.1:9090
  gatehouse serve --etcd https://10.0.0.5:2379 --node gh1 --etcd-ca etcd-ca.pem --etcd-cert gh1.pem --etcd-key gh1-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			cfg, err := applyConfig(cmd, dir, os.Getenv)
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			log, err := newLogger(g.stderr, logFormat, logLevel, level)
			if err != nil {
				return err
			}
			if cfg.File != "" {
				log.Info("config", "file", cfg.File)
			}
			bf.events = &af.events
			if bf.etcd, err = cf.etcd(); err != nil {
				return err
			}
			if bf.cfg.ProxyFrom, err = cf.proxy(); err != nil {
				return err
			}
			if bf.cfg.ProxyFrom != nil {
				log.Info("proxy protocol on the TLS listeners", "from", cf.proxyFrom)
			}
			if bf.etcd != nil {
				bf.node = cf.node
				log = log.With("node", cf.node)
				log.Info("cluster mode", "etcd", strings.Join(bf.etcd.Endpoints, ","), "prefix", store.DefaultEtcdPrefix)
				if bf.etcd.TLS == nil {
					log.Warn("the connection to etcd is plain TCP: the store (and the CA keys, unless a CA passphrase seals them) crosses the network in the clear; use https:// endpoints with --etcd-ca, --etcd-cert and --etcd-key")
				}
			}
			d, err := g.startDaemon(dir, bf, log, "")
			if err != nil {
				return err
			}
			for _, w := range d.app.Warnings() {
				log.Warn(w)
			}
			if err := d.startAppliance(af, log); err != nil {
				d.Close()
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			transports, _ := d.app.Transports(cmd.Context())
			for _, t := range transports {
				log.Info("listening", "transport", t.Name, "addr", t.Addr, "client_cert_auth", t.ClientAuth)
			}
			log.Info("ready", "data", dir, "admin_socket", d.admin.Path(),
				"ca", fmt.Sprintf("gatehouse ca export --data %s --out ca.pem", dir))
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			for {
				select {
				case <-hup:
					reload(g, cmd, dir, level, log, func() ([]string, error) { return d.app.SetLimits(bf.cfg.Limits) })
					if err := d.app.RotateServerCert(app.WithActor(ctx, admin.CurrentUser()+" (SIGHUP)")); err != nil {
						log.Error("server certificate not rotated", "err", err)
					} else {
						log.Info("server certificate rotated")
					}
				case <-ctx.Done():
					log.Info("stopping")
					return d.Close()
				}
			}
		},
	}
	bf.register(c)
	af.register(c)
	cf.register(c)
	registerConfigFlag(c)
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return c
}

// newLogger builds the daemon's structured logger at level, which it sets
// from the level's name (and SIGHUP may change later).
func newLogger(w io.Writer, format, levelName string, level *slog.LevelVar) (*slog.Logger, error) {
	if err := setLevel(level, levelName); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErr{Err: fmt.Errorf("unknown --log-format %q: use text or json", format)}
}

func setLevel(level *slog.LevelVar, name string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(name)); err != nil {
		return usageErr{Err: fmt.Errorf("unknown --log-level %q: use debug, info, warn or error", name)}
	}
	level.Set(lv)
	return nil
}

// logFile opens DATA/gatehouse.log for the TUI's logs: the terminal belongs
// to the TUI, so nothing may write to it while it runs.
func logFile(dir string) (*os.File, error) {
	if err := app.PrivateDir(dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "gatehouse.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}
