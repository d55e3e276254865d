// Command mochi is the bare mochi-mqtt broker of the side-by-side benchmark
// (testdata/bench/compare.sh): the same mochi version as Gatehouse (go.mod),
// default options, one TLS listener that requires and verifies a client
// certificate against the same CA the other brokers use, and an allow-all
// hook (mochi's own auth.AllowHook would pull yaml.v3 into go.mod). It lives under testdata so that it is never part of the
// gatehouse binary nor of ./... builds.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8883", "TLS listener address")
	caFile := flag.String("ca", "", "CA (PEM) that client certificates must chain to")
	certFile := flag.String("cert", "", "server certificate chain (PEM)")
	keyFile := flag.String("key", "", "server private key (PEM)")
	flag.Parse()
	if err := run(*addr, *caFile, *certFile, *keyFile); err != nil {
		fmt.Fprintln(os.Stderr, "mochi:", err)
		os.Exit(1)
	}
}

func run(addr, caFile, certFile, keyFile string) error {
	if caFile == "" || certFile == "" || keyFile == "" {
		return fmt.Errorf("--ca, --cert and --key are required")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("load server certificate: %w", err)
	}
	// Logging at warn keeps the per-connect info lines out of the CPU figures,
	// as the other brokers' connection logging is off too.
	server := mqtt.New(&mqtt.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := server.AddHook(new(allowHook), nil); err != nil {
		return fmt.Errorf("add auth hook: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "mqtts", Address: addr, TLSConfig: &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}})
	if err := server.AddListener(tcp); err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	if err := server.Serve(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(os.Stderr, "mochi: ready on", addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	if err := server.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// allowHook lets every client connect and use every topic: mochi refuses
// everyone without an auth hook.
type allowHook struct{ mqtt.HookBase }

func (h *allowHook) ID() string { return "allow-all" }

func (h *allowHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *allowHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *allowHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
