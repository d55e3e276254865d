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

	"github.com/gatehouse/gatehouse/broker"
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
		return startNode(t, name, store.EtcdConfig{Endpoints: endpoints, Prefix: "/gatehouse", Timeout: 2 * time.Second})
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
	roam, err := n1.IssueClient(ctx, IssueRequest{CN: "dev-roam", TTL: "30d"})
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
	connectWith(t, addr2, roam, roam.KeyPEM, "dev-roam-first").Disconnect(0)
	waitFor(t, "the first uses to be stored", func() bool {
		st, _ := n1.Authority().State(live.Cert.ID)
		st2, _ := n1.Authority().State(roam.Cert.ID)
		return st == store.StateActive && st2 == store.StateActive
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

	// An active device connects through the offline node; its claim waits.
	connectWith(t, addr2, roam, roam.KeyPEM, "dev-roam")

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
	waitLong(t, "node 2 to claim the session that connected while it was offline", func() bool {
		owner, err := n1.reg.Load().Owner("dev-roam")
		return err == nil && owner == "node2"
	})
	// The refusal node 2 saw while offline was kept and is in its log in etcd now.
	waitLong(t, "the offline refusal to reach the event log", func() bool {
		evs, err := n2.Events(ctx, EventQuery{Types: []string{broker.EventRefused}, Serial: gone.Cert.Serial})
		return err == nil && len(evs) > 0
	})
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

// Token changes through node 1 apply on node 2: the auth mode switch, the
// signing key node 1 created (node 2 accepts its tokens), a subject
// suspended and a jti revoked (their sessions on node 2 drop).
func TestClusterTokenChangesThroughOneNodeApplyOnAnother(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	if _, err := n1.SetAuthMode(ctx, broker.TransportMQTTS, broker.AuthEither); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2's mqtts auth mode to be either", func() bool {
		return n2.broker().AuthMode(broker.TransportMQTTS) == broker.AuthEither
	})
	connect := func(sub string) (string, chan error) {
		it, err := n1.CreateToken(ctx, TokenRequest{Subject: sub, TTL: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		var lost chan error
		waitFor(t, "node 2 to accept "+sub+"'s token", func() bool {
			_, lost, err = connectToken(t, n2, addr2, sub, sub, it.Token)
			return err == nil
		})
		return it.Record.JTI, lost
	}
	_, lostA := connect("dev-a")
	jtiB, lostB := connect("dev-b")

	if _, err := n1.TokenTransition(ctx, "dev-a", store.StateSuspended, "lost"); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, lostA, "the suspended subject's session on node 2")
	if _, err := n1.TokenTransition(ctx, jtiB, store.StateRevoked, "leaked"); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, lostB, "the revoked token's session on node 2")
	if n2.broker().SubjectSessions("dev-b") != 0 {
		t.Fatal("node 2 still holds a session of the revoked token")
	}
}

// Cluster status through either node lists both nodes with their
// listeners and sessions, and the etcd endpoint as healthy; a single
// appliance says it is standalone.
func TestClusterStatusListsNodesSessionsAndEndpoints(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	b, err := n1.IssueClient(ctx, IssueRequest{CN: "dev-s", TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2 to learn the certificate", func() bool { _, ok := n2.Authority().State(b.Cert.ID); return ok })
	connectWith(t, addr2, b, b.KeyPEM, "dev-s")
	var st ClusterStatus
	waitLong(t, "node 1 to see node 2's session in its heartbeat", func() bool {
		if st, err = n1.ClusterStatus(ctx); err != nil {
			t.Fatal(err)
		}
		return len(st.Nodes) == 2 && st.Nodes[1].Sessions == 1
	})
	if st.Standalone || st.Node != "node1" || st.Posture == nil || st.Posture.Offline || st.Head == 0 {
		t.Fatalf("status = %+v", st)
	}
	for i, name := range []string{"node1", "node2"} {
		n := st.Nodes[i]
		if n.Name != name || len(n.Addrs) != 1 || !strings.HasPrefix(n.Addrs[0], "mqtts=127.0.0.1:") || n.Started.IsZero() || n.Lag < 0 {
			t.Fatalf("node %d = %+v", i, n)
		}
	}
	if st.Nodes[0].Sessions != 0 {
		t.Fatalf("node 1 sessions = %d, want 0", st.Nodes[0].Sessions)
	}
	if len(st.Endpoints) != 1 || !st.Endpoints[0].Healthy || !st.Endpoints[0].Leader || st.Endpoints[0].Version == "" {
		t.Fatalf("endpoints = %+v", st.Endpoints)
	}

	single, _ := openTestApp(t)
	st, err = single.ClusterStatus(ctx)
	if err != nil || !st.Standalone || !strings.HasSuffix(st.Store, "gatehouse.db") || st.Nodes != nil {
		t.Fatalf("standalone status = %+v, %v", st, err)
	}
}

// A second process under a node name that a live node serves under does not
// start (it would share the node's event log and registry entries); once
// that node stopped, the name is free at once.
func TestClusterRefusesASecondNodeOfTheSameName(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	open := func() *App {
		a, err := Open(Config{DataDir: t.TempDir(), Actor: "twin", Node: "twin",
			Etcd: &store.EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/gatehouse"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	first, second := open(), open()
	if err := first.StartBroker(BrokerConfig{MQTTS: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	err = second.StartBroker(BrokerConfig{MQTTS: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "node twin already runs") || !strings.Contains(err.Error(), "mqtts=127.0.0.1:") {
		t.Fatalf("second node of the same name: %v, want node twin already runs (with its listeners)", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.StartBroker(BrokerConfig{MQTTS: "127.0.0.1:0"}); err != nil {
		t.Fatalf("the name is free once its node stopped: %v", err)
	}
}
