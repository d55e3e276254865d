package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/store"
)

// nodeName is what --node accepts: it names the node in logs and, later,
// in etcd keys, so it stays one plain word.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// etcdFlags say how to reach a cluster's store in etcd: serve's and
// doctor's --etcd, --etcd-ca, --etcd-cert and --etcd-key.
type etcdFlags struct {
	endpoints, ca, cert, key string
}

func (f *etcdFlags) register(c *cobra.Command, what string) {
	fs := c.Flags()
	fs.StringVar(&f.endpoints, "etcd", "", what)
	fs.StringVar(&f.ca, "etcd-ca", "", "CA certificate (PEM) that etcd's server certificate chains to")
	fs.StringVar(&f.cert, "etcd-cert", "", "client certificate (PEM) for etcd")
	fs.StringVar(&f.key, "etcd-key", "", "private key for --etcd-cert")
}

// clusterFlags are serve's cluster-mode flags: the store in etcd, shared
// by every node.
type clusterFlags struct {
	etcdFlags
	node          string
	proxyProtocol bool
	proxyFrom     string
}

func (f *clusterFlags) register(c *cobra.Command) {
	f.etcdFlags.register(c, "cluster mode: keep the store in etcd at these client URLs (comma-separated) instead of DATA/gatehouse.db")
	fs := c.Flags()
	fs.StringVar(&f.node, "node", "", "this node's name in the cluster (required with --etcd)")
	fs.BoolVar(&f.proxyProtocol, "proxy-protocol", false, "read a PROXY protocol header (v1 or v2, HAProxy send-proxy-v2) on the mqtts, wss and https listeners, from --proxy-from only")
	fs.StringVar(&f.proxyFrom, "proxy-from", "", "with --proxy-protocol: the load balancers' addresses or networks (comma-separated CIDRs or IPs) whose PROXY headers are believed")
}

// proxy is the networks whose PROXY headers the listeners believe: nil
// without --proxy-protocol. The two flags go together.
func (f *clusterFlags) proxy() ([]netip.Prefix, error) {
	if !f.proxyProtocol {
		if f.proxyFrom != "" {
			return nil, usageErr{Err: fmt.Errorf("--proxy-from needs --proxy-protocol")}
		}
		return nil, nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(f.proxyFrom, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, usageErr{Err: fmt.Errorf("--proxy-from %q: want a CIDR such as 10.0.0.0/24 or an IP address", s)}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, usageErr{Err: fmt.Errorf("--proxy-protocol needs --proxy-from CIDR,...: the load balancers allowed to send PROXY headers")}
	}
	return out, nil
}

// etcdEndpoints splits --etcd's comma-separated URLs and says whether they
// are https://. They must all be one or the other: the etcd client takes
// the first one's scheme for every endpoint, so a mixed list would send the
// store in the clear to an https:// endpoint, or TLS to an http:// one.
func etcdEndpoints(list string) (endpoints []string, secure bool, err error) {
	schemes := map[bool]string{}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		// HOST:PORT without a scheme is plain TCP, as the etcd client takes it.
		scheme, _, ok := strings.Cut(e, "://")
		switch {
		case !ok:
			if _, _, err := net.SplitHostPort(e); err != nil || strings.Contains(e, "/") {
				return nil, false, fmt.Errorf("--etcd %q: want http:// or https:// URLs (or HOST:PORT, plain TCP), e.g. https://10.0.0.5:2379", e)
			}
			secure = false
		case scheme == "http" || scheme == "https":
			secure = scheme == "https"
		default:
			return nil, false, fmt.Errorf("--etcd %q: want http:// or https:// URLs (or HOST:PORT, plain TCP), e.g. https://10.0.0.5:2379", e)
		}
		schemes[secure] = e
		endpoints = append(endpoints, e)
	}
	if len(endpoints) == 0 {
		return nil, false, fmt.Errorf("--etcd %q: no endpoint", list)
	}
	if len(schemes) > 1 {
		return nil, false, fmt.Errorf("--etcd mixes %s and %s: use https:// for every endpoint (or http:// for every one)", schemes[false], schemes[true])
	}
	return endpoints, secure, nil
}

// etcd is the store configuration the flags ask for: nil without --etcd.
// Flags that do not go together are usage errors; unreadable TLS files are
// operational ones.
func (f *clusterFlags) etcd() (*store.EtcdConfig, error) {
	if f.endpoints == "" && f.node != "" {
		return nil, usageErr{Err: fmt.Errorf("--node and --etcd-ca/--etcd-cert/--etcd-key need --etcd ENDPOINTS")}
	}
	if f.endpoints != "" && !nodeName.MatchString(f.node) {
		return nil, usageErr{Err: fmt.Errorf("--etcd needs --node NAME (letters, digits, '.', '_', '-'; got %q)", f.node)}
	}
	return f.etcdFlags.config()
}

// config is the store configuration the flags ask for: nil without --etcd.
func (f *etcdFlags) config() (*store.EtcdConfig, error) {
	if f.endpoints == "" {
		if f.ca != "" || f.cert != "" || f.key != "" {
			return nil, usageErr{Err: fmt.Errorf("--etcd-ca/--etcd-cert/--etcd-key need --etcd ENDPOINTS")}
		}
		return nil, nil
	}
	if (f.cert == "") != (f.key == "") {
		return nil, usageErr{Err: fmt.Errorf("--etcd-cert and --etcd-key go together")}
	}
	endpoints, secure, err := etcdEndpoints(f.endpoints)
	if err != nil {
		return nil, usageErr{Err: err}
	}
	cfg := &store.EtcdConfig{Endpoints: endpoints}
	if !secure {
		if f.ca != "" || f.cert != "" {
			return nil, usageErr{Err: fmt.Errorf("--etcd-ca/--etcd-cert/--etcd-key need https:// endpoints: etcd's client sends no TLS to %s", endpoints[0])}
		}
		return cfg, nil
	}
	// https:// without --etcd-ca verifies etcd against the system's roots.
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pemBytes, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("read --etcd-ca: %w", err)
		}
		cfg.TLS.RootCAs = x509.NewCertPool()
		if !cfg.TLS.RootCAs.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--etcd-ca %s holds no PEM certificate", f.ca)
		}
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("load --etcd-cert %s: %w", f.cert, err)
		}
		cfg.TLS.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
