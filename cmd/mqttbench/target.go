package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// targetFlags are the flags that say where the broker is and who we are.
type targetFlags struct {
	host, serverName      string
	ports                 []int
	ca, cert, key, dir    string
	curves                string
	insecure, allowRemote bool
	keepalive, timeout    time.Duration
}

// identity is one client certificate the load is spread over.
type identity struct {
	name string // NAME of the cert-dir entry, or the certificate file's base name
	cn   string // the leaf's subject CN, for {cn} in topics
	tls  *tls.Config
}

// target is a resolved broker address (or several: one cluster's nodes) and
// the identities to connect with.
type target struct {
	addr      string   // what reports name: the addresses, comma-separated
	addrs     []string // dials take them in turn
	ids       []identity
	keepalive time.Duration
	timeout   time.Duration
	dials     *atomic.Uint64 // shared by copies (withResumption)
}

// nextAddr is the address for the next dial, round-robin, so that n
// sessions spread evenly over the nodes of a cluster.
func (t *target) nextAddr() string { return t.addrs[(t.dials.Add(1)-1)%uint64(len(t.addrs))] }

// id returns the identity for the i-th connection, round-robin.
func (t *target) id(i int) identity { return t.ids[i%len(t.ids)] }

// build validates the flags and loads the certificates; every failure is the
// caller's mistake (exit 2) except unreadable files, which are too.
func (f *targetFlags) build() (*target, error) {
	if len(f.ports) == 0 {
		return nil, usageErr{errors.New("--port: want at least one port")}
	}
	var addrs []string
	for _, p := range f.ports {
		if p < 1 || p > 65535 {
			return nil, usageErr{fmt.Errorf("--port %d: want 1-65535", p)}
		}
		addrs = append(addrs, net.JoinHostPort(f.host, strconv.Itoa(p)))
	}
	if err := checkLoopback(f.host, f.allowRemote); err != nil {
		return nil, err
	}
	if f.keepalive < time.Second || f.keepalive > 65535*time.Second {
		return nil, usageErr{fmt.Errorf("--keepalive %s: want 1s to 18h12m15s", f.keepalive)}
	}
	if f.timeout <= 0 || f.timeout > maxDuration {
		return nil, usageErr{fmt.Errorf("--timeout %s: want more than 0 and at most %s", f.timeout, maxDuration)}
	}
	curves, err := parseCurves(f.curves)
	if err != nil {
		return nil, err
	}
	base := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName, InsecureSkipVerify: f.insecure, CurvePreferences: curves}
	if base.ServerName == "" {
		base.ServerName = f.host
	}
	switch {
	case f.ca != "":
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, usageErr{fmt.Errorf("read --ca: %w", err)}
		}
		base.RootCAs = x509.NewCertPool()
		if !base.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usageErr{fmt.Errorf("--ca %s holds no PEM certificate", f.ca)}
		}
	case !f.insecure:
		return nil, usageErr{errors.New("--ca FILE is required to verify the broker (or --insecure-skip-verify, for tests only)")}
	}
	pairs, err := f.keyPairs()
	if err != nil {
		return nil, err
	}
	t := &target{addr: strings.Join(addrs, ","), addrs: addrs, dials: new(atomic.Uint64), keepalive: f.keepalive, timeout: f.timeout}
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.crt, p.key)
		if err != nil {
			return nil, usageErr{fmt.Errorf("load %s: %w", p.name, err)}
		}
		cfg := base.Clone()
		cfg.Certificates = []tls.Certificate{c}
		t.ids = append(t.ids, identity{name: p.name, cn: c.Leaf.Subject.CommonName, tls: cfg})
	}
	if len(t.ids) == 0 {
		t.ids = []identity{{name: "no certificate", tls: base}}
	}
	return t, nil
}

// curveNames are the key exchanges --curves takes, by the names OpenSSL and
// Go's documentation use.
var curveNames = map[string]tls.CurveID{
	"x25519":         tls.X25519,
	"p256":           tls.CurveP256,
	"p384":           tls.CurveP384,
	"x25519mlkem768": tls.X25519MLKEM768,
}

// parseCurves reads --curves: a comma-separated list in preference order, or
// empty for Go's default (which offers the post-quantum hybrid X25519MLKEM768
// first, something OpenSSL 3.0 brokers such as Debian's mosquitto do not
// implement; a side-by-side run pins one key exchange for every broker).
func parseCurves(list string) ([]tls.CurveID, error) {
	if list == "" {
		return nil, nil
	}
	var out []tls.CurveID
	for _, name := range strings.Split(list, ",") {
		id, ok := curveNames[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return nil, usageErr{fmt.Errorf("--curves: unknown key exchange %q: want x25519, p256, p384 or x25519mlkem768", name)}
		}
		out = append(out, id)
	}
	return out, nil
}

// pair names a certificate and key file.
type pair struct{ name, crt, key string }

// keyPairs lists --cert/--key, or every pair in --cert-dir sorted by name:
// NAME/client.crt + NAME/client.key (what `gatehouse cert create --out` writes)
// or NAME.crt + NAME.key.
func (f *targetFlags) keyPairs() ([]pair, error) {
	if (f.cert == "") != (f.key == "") {
		return nil, usageErr{errors.New("--cert and --key go together")}
	}
	if f.cert != "" && f.dir != "" {
		return nil, usageErr{errors.New("give --cert/--key or --cert-dir, not both")}
	}
	if f.cert != "" {
		return []pair{{name: filepath.Base(f.cert), crt: f.cert, key: f.key}}, nil
	}
	if f.dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, usageErr{fmt.Errorf("read --cert-dir: %w", err)}
	}
	var out []pair
	for _, e := range entries {
		name := e.Name()
		full := filepath.Join(f.dir, name)
		switch {
		case e.IsDir():
			crt, key := filepath.Join(full, "client.crt"), filepath.Join(full, "client.key")
			if exists(crt) && exists(key) {
				out = append(out, pair{name: name, crt: crt, key: key})
			}
		case strings.HasSuffix(name, ".crt"):
			stem := strings.TrimSuffix(name, ".crt")
			if key := filepath.Join(f.dir, stem+".key"); exists(key) {
				out = append(out, pair{name: stem, crt: full, key: key})
			}
		}
	}
	if len(out) == 0 {
		return nil, usageErr{fmt.Errorf("--cert-dir %s has no NAME/client.crt+client.key or NAME.crt+NAME.key pairs", f.dir)}
	}
	slices.SortFunc(out, func(a, b pair) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// checkLoopback refuses a host that is or resolves to anything but loopback
// unless allowRemote: a load generator aimed at the wrong machine is an attack.
func checkLoopback(host string, allowRemote bool) error {
	if host == "" {
		return usageErr{errors.New("--host is empty")}
	}
	if allowRemote {
		return nil
	}
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		var err error
		if ips, err = net.LookupIP(host); err != nil {
			return usageErr{fmt.Errorf("resolve --host %s: %w", host, err)}
		}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return usageErr{fmt.Errorf("--host %s is %s, not loopback: pass --allow-remote to load another machine", host, ip)}
		}
	}
	return nil
}
