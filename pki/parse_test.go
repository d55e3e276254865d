package pki_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/pki"
)

func TestParseTTL(t *testing.T) {
	const day = 24 * time.Hour
	for name, tc := range map[string]struct {
		in   string
		want time.Duration
	}{
		"ok/empty-is-default": {"", pki.DefaultClientTTL},
		"ok/hours":            {"720h", 720 * time.Hour},
		"ok/minutes":          {"90m", 90 * time.Minute},
		"ok/days":             {"90d", 90 * day},
		"ok/year":             {"1y", 365 * day},
		"ok/mixed-go":         {"1h30m", 90 * time.Minute},
		"ok/spaces":           {" 7d ", 7 * day},
		"fail/unit":           {"5x", 0},
		"fail/zero":           {"0", 0},
		"fail/zero-days":      {"0d", 0},
		"fail/negative":       {"-5h", 0},
		"fail/negative-days":  {"-5d", 0},
		"fail/fraction-days":  {"1.5d", 0},
		"fail/no-number":      {"d", 0},
		"fail/huge-days":      {"99999999999d", 0},
		"fail/huge-years":     {"5000y", 0},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := pki.ParseTTL(tc.in)
			if tc.want != 0 {
				if err != nil || got != tc.want {
					t.Fatalf("= %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			want := `invalid TTL "` + strings.TrimSpace(tc.in) + `": use hours like 720h or days like 90d`
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v, want %q", err, want)
			}
		})
	}
}

func TestParseKeyType(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want pki.KeyType
	}{
		"ok/default":    {"", pki.KeyECDSAP256},
		"ok/ecdsa":      {"ecdsa-p256", pki.KeyECDSAP256},
		"ok/rsa-2048":   {"rsa-2048", pki.KeyRSA2048},
		"ok/rsa-3072":   {"RSA-3072", pki.KeyRSA3072},
		"ok/ed25519":    {"ed25519", pki.KeyEd25519},
		"fail/rsa-1024": {"rsa-1024", ""},
		"fail/dsa":      {"dsa", ""},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := pki.ParseKeyType(tc.in)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("= %q, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "ecdsa-p256, rsa-2048, rsa-3072, ed25519") {
				t.Fatalf("err = %v, want the valid types listed", err)
			}
		})
	}
}
