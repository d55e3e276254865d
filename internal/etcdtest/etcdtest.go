// Package etcdtest runs a real etcd server inside a test process: one member
// of the embedded server (go.etcd.io/etcd/server/v3/embed) on loopback ports,
// for the tests of the store's etcd engine and of cluster mode. Only tests
// import it, so the gatehouse binary does not carry the etcd server.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a running embedded etcd.
type Server struct {
	etcd *embed.Etcd
	dir  string
}

// Start starts a single-member etcd whose data lives in a fresh temporary
// directory, and waits until it serves.
func Start() (*Server, error) {
	dir, err := os.MkdirTemp("", "gatehouse-etcd-")
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	s, err := start(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func start(dir string) (*Server, error) {
	peer, err := freeURL()
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = dir
	// Silent: what goes wrong reaches the tests as errors.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true // test data: speed over durability
	client := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("start etcd: %w", err)
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("start etcd: not ready after 30s")
	}
	return &Server{etcd: e, dir: dir}, nil
}

// freeURL is a loopback URL on a port that was free a moment ago: etcd
// advertises its peer URL before it listens, so port 0 cannot be used there.
func freeURL() (url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, err
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

// Endpoints are the client URLs to give the etcd client.
func (s *Server) Endpoints() []string {
	var out []string
	for _, l := range s.etcd.Clients {
		out = append(out, "http://"+l.Addr().String())
	}
	return out
}

// Close stops the server and removes its data.
func (s *Server) Close() {
	s.etcd.Close()
	os.RemoveAll(s.dir)
}
