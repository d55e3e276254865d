package app

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/etcdtest"
	"github.com/gatehouse/gatehouse/store"
)

// linkToEtcd is a TCP relay on loopback between a node and etcd that can be
// cut (the listener and every connection closed) and restored on the same
// port: a node cut off from etcd while the others still reach it.
type linkToEtcd struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newLink(t testing.TB, target string) *linkToEtcd {
	l := &linkToEtcd{t: t, target: target, conns: map[net.Conn]bool{}}
	l.listen("127.0.0.1:0")
	t.Cleanup(l.cut)
	return l
}

func (l *linkToEtcd) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	l.ln, l.addr = ln, ln.Addr().String()
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", l.target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns[c], l.conns[up] = true, true
			l.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listener and every relayed connection.
func (l *linkToEtcd) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ln.Close()
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

// restore listens again on the same port.
func (l *linkToEtcd) restore() { l.listen(l.addr) }

// A node cut off from etcd keeps refusing a device suspended before, refuses
// a write with a clear error and changes nothing, reports the outage in
// /readyz, and once etcd answers again applies the suspend another node made
// meanwhile: its device's session there drops.
func TestClusterNodeOfflineEnforcesLastStateAndCatchesUp(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	link := newLink(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	node := func(name string, endpoints []string) (*App, string) {
		a, err := Open(Config{DataDir: t.TempDir(), Actor: name, Node: name,
			Etcd: &store.EtcdConfig{Endpoints: endpoints, Prefix: "/gatehouse", Timeout: 2 * time.Second}})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		t.Cleanup(func() { a.Close() })
		if err := a.StartBroker(BrokerConfig{MQTTS: "127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
		ts, _ := a.Transports(context.Background())
		return a, ts[0].Addr
	}
	n1, _ := node("node1", srv.Endpoints())
	n2, addr2 := node("node2", []string{"http://" + link.addr})
	ctx := context.Background()

	gone, err := n1.IssueClient(ctx, IssueRequest{CN: "dev-gone", TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	live, err := n1.IssueClient(ctx, IssueRequest{CN: "dev-live", TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Transition(ctx, gone.Cert.ID, store.StateSuspended, "lost"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2 to learn the suspend", func() bool {
		st, _ := n2.Authority().State(gone.Cert.ID)
		return st == store.StateSuspended
	})
	waitFor(t, "node 2 to learn the other certificate", func() bool { _, ok := n2.Authority().State(live.Cert.ID); return ok })
	c := connectWith(t, addr2, live, live.KeyPEM, "dev-live")
	waitFor(t, "the first use to be stored", func() bool {
		st, _ := n1.Authority().State(live.Cert.ID)
		return st == store.StateActive
	})

	link.cut()
	waitLong(t, "node 2 to find etcd unreachable", func() bool { return n2.posture().Offline })
	if err := n2.Ready(); !strings.Contains(err.Error(), "etcd unreachable since") || !strings.Contains(err.Error(), "enforcing last known state") {
		t.Fatalf("readyz reason = %q", err)
	}
	if _, err := dial(t, addr2, gone, gone.KeyPEM, "dev-gone"); err == nil {
		t.Fatal("node 2 offline accepted a certificate suspended before the outage")
	}
	_, err = n2.Transition(ctx, live.Cert.ID, store.StateSuspended, "offline")
	if !errors.Is(err, store.ErrUnreachable) || !strings.Contains(err.Error(), "refused; nothing changed") {
		t.Fatalf("write while offline: err = %v, want etcd unreachable ... refused; nothing changed", err)
	}
	if st, _ := n1.Authority().State(live.Cert.ID); st != store.StateActive {
		t.Fatalf("the refused write changed the state to %s", st)
	}

	// Through node 1, which still reaches etcd.
	if _, err := n1.Transition(ctx, live.Cert.ID, store.StateSuspended, "stolen"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if !c.IsConnectionOpen() {
		t.Fatal("node 2 dropped the session while it could not know of the suspend")
	}
	link.restore()
	waitLong(t, "node 2 to apply the suspend made while it was offline", func() bool { return !c.IsConnectionOpen() })
	waitLong(t, "node 2 to be ready again", func() bool { return n2.Ready() == nil })
}

// waitLong is waitFor with room for the etcd client's reconnect backoff.
func waitLong(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
