package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
)

// TestServeRefusesBadLimits: a limit out of range is a usage error (exit 2)
// named on one line, before any store or listener exists.
func TestServeRefusesBadLimits(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"fail/tiny packet limit":   {[]string{"--max-packet-size", "10"}, "limits: max packet size 10: want at least 128 bytes"},
		"fail/negative rate":       {[]string{"--max-msg-rate", "-1"}, "limits: max message rate -1"},
		"fail/keepalive past MQTT": {[]string{"--max-keepalive", "70000"}, "limits: max keepalive 70000"},
		"fail/not a number":        {[]string{"--max-conns", "many"}, `invalid argument "many"`},
	} {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			args := append([]string{"serve", "--mqtts", "127.0.0.1:0", "--wss", ""}, tc.args...)
			out, errOut, code := gh(t, data, args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") > 2 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, exitUsage, tc.want)
			}
			if _, err := os.Stat(filepath.Join(data, app.DBFile)); err == nil {
				t.Fatal("a refused serve created a store")
			}
		})
	}
}

// TestLimitFlagsReachTheBroker parses --max-subscriptions as serve would and
// sees a device's second subscription refused (SUBACK 0x80 for MQTT 3.1.1).
func TestLimitFlagsReachTheBroker(t *testing.T) {
	var bf brokerFlags
	c := &cobra.Command{}
	bf.register(c)
	if err := c.Flags().Parse([]string{"--mqtts", "127.0.0.1:0", "--wss", "", "--max-subscriptions", "1"}); err != nil {
		t.Fatal(err)
	}
	if bf.cfg.Limits.MaxPacketSize != broker.DefaultMaxPacketSize {
		t.Fatalf("--max-packet-size defaults to %d, want %d", bf.cfg.Limits.MaxPacketSize, broker.DefaultMaxPacketSize)
	}
	data, dev := t.TempDir(), filepath.Join(t.TempDir(), "dev1")
	d, err := (&globals{}).startDaemon(data, bf, slog.New(slog.DiscardHandler), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	mustGH(t, data, "cert", "create", "--cn", "dev1", "--out", dev)
	cl := connectDevice(t, d, dev, "dev1", nil)
	defer cl.Disconnect(0)
	tok := cl.SubscribeMultiple(map[string]byte{"devices/dev1/a": 1, "devices/dev1/b": 1}, nil)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	codes := tok.(*paho.SubscribeToken).Result()
	if codes["devices/dev1/a"]+codes["devices/dev1/b"] != 1+0x80 {
		t.Fatalf("SUBACK codes %v: want one granted (1) and one refused (0x80)", codes)
	}
}

// TestDemoFleetFitsThePerIPCap: the demo's devices all connect from this
// host, so its per-IP cap grows to fit them unless the operator set one.
func TestDemoFleetFitsThePerIPCap(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		devices int
		want    int
	}{
		"ok/small fleet keeps the default": {nil, 5, broker.DefaultMaxConnsPerIP},
		"ok/large fleet raises it":         {nil, 500, 500 + demoConnsSlack},
		"ok/explicit cap is kept":          {[]string{"--max-conns-per-ip", "3"}, 500, 3},
		"ok/explicit off stays off":        {[]string{"--max-conns-per-ip", "0"}, 500, 0},
	} {
		t.Run(name, func(t *testing.T) {
			var bf brokerFlags
			c := &cobra.Command{}
			bf.register(c)
			if err := c.Flags().Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			fitDemoFleet(c.Flags(), &bf.cfg.Limits, tc.devices)
			if got := bf.cfg.Limits.MaxConnsPerIP; got != tc.want {
				t.Fatalf("per-IP cap %d, want %d", got, tc.want)
			}
		})
	}
}
