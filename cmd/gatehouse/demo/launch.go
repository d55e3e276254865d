package demo

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/gatehouse/gatehouse/broker"
)

// Backend is what Launch needs from a running Gatehouse. *app.App satisfies
// it, and so does the admin socket client.
type Backend interface {
	Issuer
	Transports(ctx context.Context) ([]broker.TransportInfo, error)
	SetClientAuth(ctx context.Context, transport string, on bool) (int, error)
	RootPEM(ctx context.Context) ([]byte, error)
}

// Launch sets the stage and starts a fleet: client-cert auth goes on for every
// TLS transport, so that the no-cert device is refused rather than let in, and
// the devices connect to the mqtts listener, trusting the root of b. cfg's
// Issuer, Addr and RootPEM are filled in from b. The fleet runs until ctx
// ends or Stop is called.
func Launch(ctx context.Context, b Backend, cfg Config) (*Fleet, error) {
	transports, err := b.Transports(ctx)
	if err != nil {
		return nil, fmt.Errorf("list transports: %w", err)
	}
	for _, t := range transports {
		if t.TLS && !t.ClientAuth {
			if _, err := b.SetClientAuth(ctx, t.Name, true); err != nil {
				return nil, fmt.Errorf("switch client-cert auth on for %s: %w", t.Name, err)
			}
		}
		if t.Name == broker.TransportMQTTS && t.Addr != "" {
			if cfg.Addr, err = DialAddr(t.Addr); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Addr == "" {
		return nil, errors.New("the demo devices connect over mqtts and no mqtts listener is running")
	}
	if cfg.RootPEM, err = b.RootPEM(ctx); err != nil {
		return nil, fmt.Errorf("read the root CA: %w", err)
	}
	cfg.Issuer = b
	f, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := f.Start(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// DialAddr turns a listener's bound address into one a local device can dial:
// an unspecified host (":8883", "0.0.0.0:8883", "[::]:8883") becomes loopback.
func DialAddr(bound string) (string, error) {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "", fmt.Errorf("listener address %q: %w", bound, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// FallbackAddr is where a demo listens when its preferred port is taken.
const FallbackAddr = "127.0.0.1:0"

// PreferAddr returns addr when it can be bound right now, otherwise
// FallbackAddr, so that `make demo` starts on a machine where another broker
// holds 8883. An empty addr (transport off) stays empty.
func PreferAddr(addr string) string {
	if addr == "" {
		return ""
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return FallbackAddr
	}
	l.Close()
	return addr
}
