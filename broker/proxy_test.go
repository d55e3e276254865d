package broker_test

import (
	"crypto/tls"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/pires/go-proxyproto"

	"github.com/gatehouse/gatehouse/broker"
)

// Behind a load balancer the PROXY header's source address is the
// device's, in the session and its events, but only from the networks
// given: a header from anywhere else, or none from a trusted proxy, is
// refused. A real paho client writes the header over loopback before TLS.
func TestProxyProtocol(t *testing.T) {
	const device = "203.0.113.7:40001"
	v2 := func(c net.Conn) error {
		h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(device)), c.RemoteAddr())
		_, err := h.WriteTo(c)
		return err
	}
	v1 := func(c net.Conn) error {
		_, err := c.Write([]byte("PROXY TCP4 198.51.100.9 127.0.0.1 5555 8883\r\n"))
		return err
	}
	tests := map[string]struct {
		from       string
		header     func(net.Conn) error
		wantRemote string // "" means refused
		wantReason string // the refusal's reason starts so
	}{
		"v2 from a trusted proxy":        {"127.0.0.0/8", v2, device, ""},
		"v1 from a trusted proxy":        {"127.0.0.1/32", v1, "198.51.100.9:5555", ""},
		"no header from a trusted proxy": {"127.0.0.0/8", nil, "", "proxy protocol: "},
		"spoofed header from a device":   {"10.0.0.0/8", v2, "", "not TLS"},
		"plain device, proxy elsewhere":  {"10.0.0.0/8", nil, "127.0.0.1:", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config) { c.ProxyFrom = []netip.Prefix{netip.MustParsePrefix(tc.from)} })
			cert, _ := e.issue(t, "dev-proxy")
			_, err := proxyConnect(t, e, &cert, "dev-proxy", tc.header)
			if tc.wantRemote == "" {
				if err == nil {
					t.Fatal("connected; want refused")
				}
				ev := e.ev.wait(t, 1, broker.EventRefused, "", "")
				if !strings.HasPrefix(ev[0].Reason, tc.wantReason) || len(e.b.Sessions()) != 0 {
					t.Fatalf("refused with %q (sessions %v), want a reason starting %q", ev[0].Reason, e.b.Sessions(), tc.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			ss := e.b.Sessions()
			if len(ss) != 1 || !strings.HasPrefix(ss[0].Remote, tc.wantRemote) {
				t.Fatalf("sessions %+v, want one from %s", ss, tc.wantRemote)
			}
			ev := e.ev.wait(t, 1, broker.EventConnected, "", "")
			if !strings.HasPrefix(ev[0].Remote, tc.wantRemote) {
				t.Fatalf("connected event from %q, want %s", ev[0].Remote, tc.wantRemote)
			}
		})
	}
}

// proxyConnect opens a paho session on mqtts whose connection first
// carries what header writes (nothing when nil), as HAProxy's would.
func proxyConnect(t *testing.T, e *env, cert *tls.Certificate, id string, header func(net.Conn) error) (*client, error) {
	t.Helper()
	tlsConf := e.tlsConfig(cert)
	tlsConf.ServerName = "localhost"
	return e.connectWith(t, broker.TransportMQTTS, cert, id, func(o *paho.ClientOptions) {
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			raw, err := net.DialTimeout("tcp", u.Host, wait)
			if err != nil {
				return nil, err
			}
			if header != nil {
				if err := header(raw); err != nil {
					raw.Close()
					return nil, err
				}
			}
			c := tls.Client(raw, tlsConf)
			_ = c.SetDeadline(time.Now().Add(wait))
			if err := c.Handshake(); err != nil {
				raw.Close()
				return nil, err
			}
			_ = c.SetDeadline(time.Time{})
			return c, nil
		})
	})
}

// The per-IP connection limit counts the devices' addresses from the PROXY
// header, not the load balancer's: two devices behind one proxy connect
// under a limit of one per IP, a second connection of one device does not.
func TestProxyProtocolPerIPLimitCountsDevices(t *testing.T) {
	e := newEnv(t, func(c *broker.Config) {
		c.ProxyFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.Limits = broker.DefaultLimits()
		c.Limits.MaxConnsPerIP = 1
	})
	from := func(addr string) func(net.Conn) error {
		return func(c net.Conn) error {
			h := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr)), c.RemoteAddr())
			_, err := h.WriteTo(c)
			return err
		}
	}
	for _, dev := range []struct{ cn, addr string }{{"dev-1", "203.0.113.1:1000"}, {"dev-2", "203.0.113.2:1000"}} {
		cert, _ := e.issue(t, dev.cn)
		if _, err := proxyConnect(t, e, &cert, dev.cn, from(dev.addr)); err != nil {
			t.Fatalf("%s through the proxy: %v", dev.cn, err)
		}
	}
	cert, _ := e.issue(t, "dev-1b")
	if _, err := proxyConnect(t, e, &cert, "dev-1b", from("203.0.113.1:1001")); err == nil {
		t.Fatal("a second connection from 203.0.113.1 passed a limit of one per IP")
	}
	ev := e.ev.wait(t, 1, broker.EventRefused, "", "")
	if !strings.HasSuffix(ev[0].Reason, "203.0.113.1") {
		t.Fatalf("refused with %q, want the per-IP limit of 203.0.113.1", ev[0].Reason)
	}
}
