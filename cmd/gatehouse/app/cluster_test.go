package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/internal/etcdtest"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
)

// twoNodes starts two Apps with brokers that share one store in a real
// (embedded) etcd, and returns them with their MQTTS addresses.
func twoNodes(t testing.TB) (n1, n2 *App, addr1, addr2 string) {
	t.Helper()
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	shared := store.EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/gatehouse"}
	n1, addr1 = startNode(t, "node1", shared)
	n2, addr2 = startNode(t, "node2", shared)
	return n1, n2, addr1, addr2
}

// startNode opens node name on the etcd store cfg and starts its broker
// (MQTTS on a free port), closed when the test ends; it returns the node
// and its MQTTS address.
func startNode(t testing.TB, name string, cfg store.EtcdConfig) (*App, string) {
	t.Helper()
	a, err := Open(Config{DataDir: t.TempDir(), Actor: name, Etcd: &cfg, Node: name})
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

// deviceOnNode2 issues a certificate of CN cn through n1 and connects a
// device with it, client ID cn, to n2 once n2 knows the certificate; it
// returns when n1 has seen the first use on n2.
func deviceOnNode2(t *testing.T, n1, n2 *App, addr2, cn string) (Bundle, paho.Client) {
	t.Helper()
	b, err := n1.IssueClient(context.Background(), IssueRequest{CN: cn, TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2 to learn the new certificate", func() bool { _, ok := n2.Authority().State(b.Cert.ID); return ok })
	c := connectWith(t, addr2, b, b.KeyPEM, cn)
	waitFor(t, "node 1 to see the first use on node 2", func() bool {
		st, _ := n1.Authority().State(b.Cert.ID)
		return st == store.StateActive
	})
	return b, c
}

// A certificate issued through node 1 is usable on node 2, and a suspend
// through node 1 drops the device's session on node 2 and keeps it out there.
func TestClusterSuspendThroughOneNodeDropsTheSessionOnAnother(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	b, c := deviceOnNode2(t, n1, n2, addr2, "dev-c")
	res, err := n1.Transition(ctx, b.Cert.ID, store.StateSuspended, "lost")
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 0 {
		t.Fatalf("node 1 dropped %d sessions, want 0: the device is on node 2", res.Dropped)
	}
	waitFor(t, "node 2 to drop the suspended device", func() bool { return !c.IsConnectionOpen() })
	if _, err := dial(t, addr2, b, b.KeyPEM, "dev-c-again"); err == nil {
		t.Fatal("node 2 accepted a suspended certificate")
	}
}

// A suspend and a reactivation through node 1 that both commit before node
// 2 applies either still drop the device's session on node 2: node 2
// applies each change as it was written, in commit order, not the state it
// would read when it gets to them (active again).
func TestClusterSuspendAndReactivateBeforeAnotherNodeAppliesDropTheSessionThere(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	b, c := deviceOnNode2(t, n1, n2, addr2, "dev-s")
	// Node 2 applies the watch on one goroutine, in order. Holding the lock
	// its auth-switch apply takes parks that goroutine on a settings change
	// committed first, while node 1 commits the suspend and the reactivation.
	n2.modeMu.Lock()
	resume := sync.OnceFunc(n2.modeMu.Unlock)
	defer resume()
	if _, err := n1.SetClientAuth(ctx, broker.TransportMQTTS, true); err != nil {
		t.Fatal(err)
	}
	for _, to := range []store.State{store.StateSuspended, store.StateActive} {
		if _, err := n1.Transition(ctx, b.Cert.ID, to, "test"); err != nil {
			t.Fatal(err)
		}
	}
	resume()
	waitFor(t, "node 2 to drop the device suspended meanwhile", func() bool { return !c.IsConnectionOpen() })
	waitFor(t, "node 2 to apply the reactivation", func() bool {
		st, _ := n2.Authority().State(b.Cert.ID)
		return st == store.StateActive
	})
	if _, err := dial(t, addr2, b, b.KeyPEM, "dev-s"); err != nil {
		t.Fatalf("node 2 refused the reactivated device: %v", err)
	}
}

// An issuer created and then suspended through node 1 is learnt and then
// enforced by node 2: its device's session there drops.
func TestClusterIssuerSuspendThroughOneNodeDropsSessionsOnAnother(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	if _, err := n1.CreateIssuer(ctx, "fleet"); err != nil {
		t.Fatal(err)
	}
	b, err := n1.IssueClient(ctx, IssueRequest{CN: "dev-f", TTL: "30d", Issuer: "fleet"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2 to learn the certificate", func() bool { _, ok := n2.Authority().State(b.Cert.ID); return ok })
	c := connectWith(t, addr2, b, b.KeyPEM, "dev-f")
	if _, err := n1.SuspendIssuer(ctx, "fleet", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 2 to drop the suspended issuer's device", func() bool { return !c.IsConnectionOpen() })
}

// A client-cert auth switch through node 1 applies to node 2's listener.
func TestClusterAuthSwitchThroughOneNodeAppliesOnAnother(t *testing.T) {
	n1, n2, _, _ := twoNodes(t)
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		if _, err := n1.SetClientAuth(ctx, broker.TransportMQTTS, on); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("node 2's mqtts client-cert auth to be %v", on), func() bool {
			return n2.broker().ClientAuth(broker.TransportMQTTS) == on
		})
	}
}

// BenchmarkClusterSuspendDrop measures a suspend through node 1 until the
// device's session on node 2 is closed: the store transaction, the watch
// and node 2's drop.
func BenchmarkClusterSuspendDrop(b *testing.B) {
	n1, _, _, addr2 := twoNodes(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		bundle, err := n1.IssueClient(ctx, IssueRequest{CN: "dev-b", TTL: "30d"})
		if err != nil {
			b.Fatal(err)
		}
		var c paho.Client
		waitFor(b, "node 2 to accept the new certificate", func() bool {
			c, err = dial(b, addr2, bundle, bundle.KeyPEM, "dev-b")
			return err == nil
		})
		b.StartTimer()
		if _, err := n1.Transition(ctx, bundle.Cert.ID, store.StateSuspended, "bench"); err != nil {
			b.Fatal(err)
		}
		for c.IsConnectionOpen() {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// Nodes started at the same moment on an empty etcd end up with one root
// and one issuing CA: the one whose CA was stored first; the others load it.
func TestClusterNodesStartingTogetherShareOneCA(t *testing.T) {
	srv, err := etcdtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	shared := &store.EtcdConfig{Endpoints: srv.Endpoints(), Prefix: "/gatehouse"}
	const nodes = 3
	apps := make([]*App, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range apps {
		wg.Go(func() { apps[i], errs[i] = Open(Config{DataDir: t.TempDir(), Actor: "test", Etcd: shared}) })
	}
	wg.Wait()
	for i, a := range apps {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		defer a.Close()
	}
	for i, a := range apps[1:] {
		if string(a.Authority().RootPEM()) != string(apps[0].Authority().RootPEM()) {
			t.Fatalf("node %d has a root of its own", i+1)
		}
	}
	cas, err := apps[0].Authority().CAs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cas) != 2 {
		t.Fatalf("%d CAs stored, want one root and one issuing: %+v", len(cas), cas)
	}
}

// A device that reconnects through node 2 while its session on node 1 is
// still up takes the session over: node 1 drops the old one, the registry
// names node 2, and node 1 leaves that entry alone when its session ends.
func TestClusterClientIDTakeoverAcrossNodes(t *testing.T) {
	n1, _, addr1, addr2 := twoNodes(t)
	ctx := context.Background()
	b, err := n1.IssueClient(ctx, IssueRequest{CN: "dev-t", TTL: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	old := connectWith(t, addr1, b, b.KeyPEM, "dev-t")
	owner := func() string {
		o, err := n1.reg.Load().Owner("dev-t")
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	waitFor(t, "node 1 to claim dev-t", func() bool { return owner() == "node1" })
	var moved paho.Client
	waitFor(t, "node 2 to accept the certificate", func() bool {
		moved, err = dial(t, addr2, b, b.KeyPEM, "dev-t")
		return err == nil
	})
	waitFor(t, "node 1 to drop the session taken over", func() bool { return !old.IsConnectionOpen() })
	waitFor(t, "node 2 to own dev-t", func() bool { return owner() == "node2" })
	waitFor(t, "node 1 to release its ended session", func() bool {
		n1.claims.mu.Lock()
		defer n1.claims.mu.Unlock()
		_, live := n1.claims.live["dev-t"]
		return !live
	})
	if o := owner(); o != "node2" || !moved.IsConnectionOpen() {
		t.Fatalf("after the takeover: owner %q, new session open %v", o, moved.IsConnectionOpen())
	}
}

// A token subject created at its first use on node 2 (one record written,
// which the nodes' watches need not reload every token record for) is
// suspended through node 1, and its session on node 2 drops.
func TestClusterTokenSubjectFirstSeenOnOneNodeSuspendedThroughAnother(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	if _, err := n1.SetAuthMode(ctx, broker.TransportMQTTS, broker.AuthJWT); err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if _, err := n1.TrustTokenKeys(ctx, "partner", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "p1", "aud": pki.DefaultTokenAudience, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "partner"
	raw, _ := tok.SignedString(k)
	var lost chan error
	waitFor(t, "node 2 to take the partner's token", func() bool {
		_, l, err := connectToken(t, n2, addr2, "p1", "p1", raw)
		lost = l
		return err == nil
	})
	waitFor(t, "the subject's first use to be recorded", func() bool {
		l, err := n1.Tokens(ctx)
		return err == nil && slices.ContainsFunc(l.Subjects, func(s TokenSubjectView) bool { return s.Subject == "p1" })
	})
	if _, err := n1.TokenTransition(ctx, "p1", store.StateSuspended, "lost"); err != nil {
		t.Fatalf("suspend through node 1: %v", err)
	}
	waitDropped(t, lost, "node 2's session of the suspended subject")
}

// A token subject suspended and reactivated through node 1, both committed
// before node 2 applies either, still loses its session on node 2: node 2
// applies each subject record as it was written, in commit order, not the
// state it would read when it gets to them (active again). A token revoked
// by its jti through node 1 then drops from node 2 too, and stays out.
func TestClusterTokenSubjectSuspendAndReactivateBeforeAnotherNodeAppliesDropTheSessionThere(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	if _, err := n1.SetAuthMode(ctx, broker.TransportMQTTS, broker.AuthJWT); err != nil {
		t.Fatal(err)
	}
	it, err := n1.CreateToken(ctx, TokenRequest{Subject: "t1", TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	var lost chan error
	waitFor(t, "node 2 to take the token node 1 issued", func() bool {
		_, l, err := connectToken(t, n2, addr2, "t1", "t1", it.Token)
		lost = l
		return err == nil
	})
	// Node 2 applies the watch on one goroutine, in order. Holding the lock
	// its auth-switch apply takes parks that goroutine on a settings change
	// committed first, while node 1 commits the suspend and the reactivation.
	n2.modeMu.Lock()
	resume := sync.OnceFunc(n2.modeMu.Unlock)
	defer resume()
	if _, err := n1.SetClientAuth(ctx, broker.TransportMQTTS, true); err != nil {
		t.Fatal(err)
	}
	for _, to := range []store.State{store.StateSuspended, store.StateActive} {
		if _, err := n1.TokenTransition(ctx, "t1", to, "test"); err != nil {
			t.Fatal(err)
		}
	}
	resume()
	waitDropped(t, lost, "node 2's session of the subject suspended meanwhile")
	waitFor(t, "node 2 to take the reactivated subject again", func() bool {
		_, l, err := connectToken(t, n2, addr2, "t1", "t1", it.Token)
		lost = l
		return err == nil
	})
	if _, err := n1.TokenTransition(ctx, it.Record.JTI, store.StateRevoked, "leaked"); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, lost, "node 2's session of the revoked token")
	if _, _, err := connectToken(t, n2, addr2, "t1", "t1", it.Token); err == nil {
		t.Fatal("node 2 accepted a revoked token")
	}
}

// A token subject suspended and a token revoked by its jti through node 1,
// both read first by node 2 through a reload of its own (a token it issued
// reads every token record), still lose their sessions on node 2 when node
// 2's watch delivers the changes: a record drops the sessions though the
// snapshot already held what it says.
func TestClusterTokenChangesReadFirstByAnotherNodesReloadDropTheSessionsThere(t *testing.T) {
	n1, n2, _, addr2 := twoNodes(t)
	ctx := context.Background()
	if _, err := n1.SetAuthMode(ctx, broker.TransportMQTTS, broker.AuthJWT); err != nil {
		t.Fatal(err)
	}
	lost := map[string]chan error{}
	jtis := map[string]string{}
	for _, sub := range []string{"t2", "t3"} {
		it, err := n1.CreateToken(ctx, TokenRequest{Subject: sub, TTL: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		jtis[sub] = it.Record.JTI
		waitFor(t, "node 2 to take the token node 1 issued for "+sub, func() bool {
			_, l, err := connectToken(t, n2, addr2, sub, sub, it.Token)
			lost[sub] = l
			return err == nil
		})
	}
	n2.modeMu.Lock() // parks node 2's watch, as above
	resume := sync.OnceFunc(n2.modeMu.Unlock)
	defer resume()
	if _, err := n1.SetClientAuth(ctx, broker.TransportMQTTS, true); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.TokenTransition(ctx, "t2", store.StateSuspended, "lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.TokenTransition(ctx, jtis["t3"], store.StateRevoked, "leaked"); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.CreateToken(ctx, TokenRequest{Subject: "other", TTL: "1h"}); err != nil {
		t.Fatal(err)
	}
	tokens := n2.Authority().Tokens()
	if tokens.Allowed("t2", "") == nil || tokens.Allowed("t3", jtis["t3"]) == nil {
		t.Fatal("node 2's reload did not read the suspend and the revocation: the test proves nothing")
	}
	resume()
	waitDropped(t, lost["t2"], "node 2's session of the subject its reload read suspended")
	waitDropped(t, lost["t3"], "node 2's session of the token its reload read revoked")
}
