package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui"
)

// TestTUIOnRealStack does the tutorial in the TUI against a real store,
// broker and paho client: create a certificate, connect with the written
// files, see the session, press s, see it drop with its cause.
func TestTUIOnRealStack(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "dev1")
	d := startTestDaemon(t, data, "tui")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	tm := teatest.NewTestModel(t, ui.New(d.app, ui.WithContext(ctx)), teatest.WithInitialTermSize(100, 30))
	waitFor := func(want string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
			teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	key := func(k tea.KeyType) { tm.Send(tea.KeyMsg{Type: k}) }
	runes := func(s string) { tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}) }

	waitFor("in-process broker")
	runes("n")
	waitFor("New client certificate")
	tm.Type("dev1")
	key(tea.KeyTab)
	key(tea.KeyTab)
	key(tea.KeyTab)
	tm.Type(out)
	key(tea.KeyEnter)
	waitFor("not kept")
	key(tea.KeyEsc)

	lost := make(chan error, 1)
	client := connectDevice(t, d, out, "dev1-paho", func(_ paho.Client, err error) { lost <- err })
	defer client.Disconnect(0)

	runes("2")
	waitFor("dev1-paho")
	runes("1")
	runes("s")
	waitFor("suspended dev1")
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the device was not dropped after pressing s")
	}
	runes("2")
	waitFor("suspended by operator")

	certs, err := d.app.ListCerts(ctx, store.StateSuspended)
	if err != nil || len(certs) != 1 || certs[0].CN != "dev1" {
		t.Fatalf("store after s: %v, %+v", err, certs)
	}
	audit, err := d.app.Audit(ctx, store.AuditQuery{Serial: certs[0].Serial})
	if err != nil || len(audit) == 0 || audit[0].Action != "cert.suspend" || audit[0].Actor != "tui" || audit[0].Dropped != 1 {
		t.Fatalf("audit after s: %v, %+v", err, audit)
	}
	runes("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// connectDevice connects a paho client to the daemon's mqtts listener with
// the ca.pem, client.crt and client.key in dir, as a device would.
func connectDevice(t *testing.T, d *daemon, dir, id string, onLost paho.ConnectionLostHandler) paho.Client {
	t.Helper()
	c, err := dialDevice(d, dir, id, onLost)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

// tryConnect connects a device once and disconnects it; it returns the
// refusal, if any.
func tryConnect(d *daemon, dir, id string) error {
	c, err := dialDevice(d, dir, id, nil)
	if err == nil {
		c.Disconnect(0)
	}
	return err
}

// dialDevice connects a paho client over mqtts with the files in dir.
func dialDevice(d *daemon, dir, id string, onLost paho.ConnectionLostHandler) (paho.Client, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	var addr string
	ts, _ := d.app.Transports(context.Background())
	for _, tr := range ts {
		if tr.Name == broker.TransportMQTTS {
			addr = tr.Addr
		}
	}
	opts := paho.NewClientOptions().AddBroker("ssl://" + strings.Replace(addr, "[::]", "127.0.0.1", 1)).SetClientID(id).
		SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}).
		SetAutoReconnect(false).SetConnectionLostHandler(onLost)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", id, tok.Error())
	}
	return c, nil
}

// TestHomeViewOnRealStack is the presenter's promise on a real store, broker
// and paho client, without leaving the home view: create a certificate, see
// its device connect, suspend it (asked, saying it drops one session), see
// the session struck through with its cause and the retry refused.
func TestHomeViewOnRealStack(t *testing.T) {
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "dev1")
	d := startTestDaemon(t, data, "tui")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	tm := teatest.NewTestModel(t, ui.New(d.app, ui.WithContext(ctx)), teatest.WithInitialTermSize(80, 24))
	waitFor := func(want ...string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
			for _, w := range want {
				if !bytes.Contains(b, []byte(w)) {
					return false
				}
			}
			return true
		}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	runes := func(s string) { tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}) }

	waitFor("[0 Home]", "Recent activity")
	runes("n")
	waitFor("New client certificate")
	tm.Type("dev1")
	for range 3 {
		tm.Send(tea.KeyMsg{Type: tea.KeyTab})
	}
	tm.Type(out)
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor("not kept")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})

	lost := make(chan error, 1)
	client := connectDevice(t, d, out, "dev1-home", func(_ paho.Client, err error) { lost <- err })
	defer client.Disconnect(0)
	waitFor("dev1-home")

	runes("js") // one burst: select dev1, then suspend
	waitFor("suspend dev1? drops 1 session")
	runes("y")
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the device was not dropped")
	}
	waitFor("✗ suspended by operator", "suspended dev1")
	if err := tryConnect(d, out, "dev1-retry"); err == nil {
		t.Fatal("a suspended certificate connected again")
	}
	waitFor("refused      dev1") // the retry, in the activity strip
	runes("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestTUIRevokeAndPurge revokes from the home view with p on a real stack:
// the device's retained message is deleted after the revoke, by its
// certificate's ID, and audited as the TUI's.
func TestTUIRevokeAndPurge(t *testing.T) {
	data := t.TempDir()
	d := startTestDaemon(t, data, "tui")
	serial, cfg := deviceFiles(t, data, "dev1")
	dev := pahoConnect(t, mqttsAddr(t, d), "dev1-retain", cfg)
	if tok := dev.Publish("devices/dev1/state", 1, true, "on"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tm := teatest.NewTestModel(t, ui.New(d.app, ui.WithContext(ctx)), teatest.WithInitialTermSize(100, 30))
	waitFor := func(want string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) },
			teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	waitFor("dev1-retain")
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jx")})
	waitFor("revoke dev1? final; drops 1 session")
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("p")})
	waitFor("purged 1 retained message")

	audit, err := d.app.Audit(ctx, store.AuditQuery{Serial: serial, Limit: 2})
	if err != nil || len(audit) != 2 || audit[0].Action != "cert.purge_retained" || audit[0].Actor != "tui" ||
		!strings.Contains(audit[0].Detail, "1 retained message") || audit[1].Action != "cert.revoke" {
		t.Fatalf("audit after p: %+v, %v", audit, err)
	}
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
