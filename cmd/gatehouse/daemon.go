package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/admin"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// brokerFlags are the listener and server-certificate flags shared by the
// TUI, serve and demo.
type brokerFlags struct {
	cfg    app.BrokerConfig
	events *store.EventRetention // serve's --events-keep and --events-max-age; nil: the default
	etcd   *store.EtcdConfig     // serve's --etcd: the store in etcd; nil: DATA/gatehouse.db
	node   string                // serve's --node, with etcd
}

func (f *brokerFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.cfg.MQTTS, "mqtts", ":8883", "MQTT over TLS listen address (empty disables)")
	fs.StringVar(&f.cfg.WSS, "wss", ":8884", "MQTT over secure WebSocket listen address, path /mqtt (empty disables)")
	fs.StringVar(&f.cfg.MQTT, "mqtt", "", "plain MQTT listen address, no TLS (off by default)")
	fs.StringVar(&f.cfg.HTTPS, "https", "", "HTTPS device API listen address: POST /v1/publish/TOPIC, GET /v1/subscribe/FILTER (server-sent events), client certificates as on mqtts (off by default)")
	fs.StringArrayVar(&f.cfg.WSSOrigins, "wss-origin", nil, "browser origin allowed on wss besides the broker's own, e.g. https://dash.example.com (repeatable; * for any)")
	fs.StringArrayVar(&f.cfg.SANs, "san", nil, "extra DNS name or IP for the server certificate (repeatable)")
	fs.StringVar(&f.cfg.ServerCertFile, "server-cert", "", "use this server certificate chain (PEM) instead of issuing one")
	fs.StringVar(&f.cfg.ServerKeyFile, "server-key", "", "private key for --server-cert")
	registerLimits(fs, &f.cfg.Limits)
	f.cfg.ExpiryWarning = app.DefaultExpiryWarning
	fs.Var(period{&f.cfg.ExpiryWarning}, "expiry-warning", "raise an expiring event this long before a certificate in use expires, e.g. 30d")
	fs.StringVar(&f.cfg.JWTAudience, "jwt-audience", pki.DefaultTokenAudience, "the aud claim a device token must carry (see token create)")
	fs.StringVar(&f.cfg.PublicURL, "public-url", "", "base URL where relying parties reach /crl and /ocsp; named in client certificates issued from now on (kept in the store)")
}

// daemon is a running broker with its admin socket: what `serve` runs
// headless and the TUI runs in-process when no daemon serves the data dir.
type daemon struct {
	app   *app.App
	admin *admin.Server
	dir   string
	stops []func() error // the appliance's front ends (HTTP, SSH), closed first
}

// startDaemon opens the store, starts the listeners and serves the admin
// socket. actor names who acts for callers without their own (the TUI).
func (g *globals) startDaemon(dir string, bf brokerFlags, log *slog.Logger, actor string) (*daemon, error) {
	if admin.Alive(dir) {
		return nil, fmt.Errorf("a gatehouse daemon already serves %s; use 'gatehouse' to attach or stop it first", dir)
	}
	if (bf.cfg.ServerCertFile == "") != (bf.cfg.ServerKeyFile == "") {
		return nil, usageErr{Err: fmt.Errorf("--server-cert and --server-key go together")}
	}
	if err := bf.cfg.Limits.Validate(); err != nil {
		return nil, usageErr{Err: fmt.Errorf("limits: %w", err)}
	}
	pass, err := g.caPassphrase()
	if err != nil {
		return nil, err
	}
	a, err := openApp(dir, actor, &app.Config{Logger: log, CAPassphrase: pass, Events: bf.events, Etcd: bf.etcd, Node: bf.node})
	if err != nil {
		return nil, err
	}
	if err := a.StartBroker(bf.cfg); err != nil {
		a.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w; choose other addresses with --mqtts/--wss/--https or stop what holds the port", err)
		}
		return nil, err
	}
	srv, err := admin.Listen(dir, a, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	go func() {
		if err := srv.Serve(); err != nil {
			log.Error("admin socket stopped", "err", err)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		log.Warn("cannot write pid file", "err", err)
	}
	return &daemon{app: a, admin: srv, dir: dir}, nil
}

// Close stops the admin socket, then the broker (dropping its sessions), then
// the store.
func (d *daemon) Close() error {
	for _, stop := range d.stops {
		_ = stop()
	}
	d.admin.Close()
	os.Remove(filepath.Join(d.dir, pidFile))
	return d.app.Close()
}
