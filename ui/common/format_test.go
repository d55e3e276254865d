package common

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/styles"
)

func TestDuration(t *testing.T) {
	tests := map[string]struct {
		in   time.Duration
		want string
	}{
		"ok/seconds":          {42 * time.Second, "42s"},
		"ok/minutes":          {17*time.Minute + 59*time.Second, "17m"},
		"ok/hours":            {5*time.Hour + 30*time.Minute, "5h"},
		"ok/hours up to 2d":   {47 * time.Hour, "47h"},
		"ok/days":             {364*24*time.Hour + 11*time.Hour, "364d"},
		"ok/days round":       {29*24*time.Hour + 23*time.Hour + 59*time.Minute, "30d"},
		"ok/negative as size": {-3 * time.Minute, "3m"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Duration(tt.in); got != tt.want {
				t.Fatalf("Duration(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUntilAndAgo(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if got := Until(now, now.Add(5*time.Hour)); got != "5h" {
		t.Fatalf("Until future = %q", got)
	}
	if got := Until(now, now.Add(-72*time.Hour)); got != "3d ago" {
		t.Fatalf("Until past = %q", got)
	}
	if got := Ago(now, time.Time{}); got != "never" {
		t.Fatalf("Ago zero = %q", got)
	}
	if got := Ago(now, now.Add(-90*time.Second)); got != "1m ago" {
		t.Fatalf("Ago = %q", got)
	}
}

func TestCount(t *testing.T) {
	for in, want := range map[uint64]string{0: "0", 999: "999", 1000: "1k", 1234: "1.2k", 3_400_000: "3.4M"} {
		if got := Count(in); got != want {
			t.Fatalf("Count(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestNumber(t *testing.T) {
	tests := map[string]struct {
		in   float64
		want string
	}{
		"ok/integer":           {44, "44"},
		"ok/one decimal":       {21.5, "21.5"},
		"ok/rounds to two":     {21.534999, "21.53"},
		"ok/negative":          {-3.25, "-3.25"},
		"ok/zero":              {0, "0"},
		"ok/large as exponent": {12_345_678, "1.23e+07"},
		"ok/tiny keeps digits": {0.000123, "0.000123"},
		"ok/tiny negative":     {-0.004, "-0.004"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Number(tt.in); got != tt.want {
				t.Fatalf("Number(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1229: "1.2 KiB", 5 << 20: "5 MiB", 3 << 40: "3 TiB"} {
		if got := Bytes(in); got != want {
			t.Fatalf("Bytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestFit(t *testing.T) {
	got := Fit("abcdef\nxy\nz\nextra", 4, 3)
	if got != "abc…\nxy\nz" {
		t.Fatalf("Fit = %q", got)
	}
	if n := strings.Count(Fit("a", 4, 3), "\n"); n != 2 {
		t.Fatalf("Fit pads to %d lines, want 3", n+1)
	}
}

func TestExpiryWarnsInUseCertificatesOnly(t *testing.T) {
	st := styles.DefaultStyles()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		state store.State
		left  time.Duration
		want  string
	}{
		"warn/active, 10 days":   {store.StateActive, 10 * 24 * time.Hour, "10d!"},
		"warn/inactive, 2 days":  {store.StateInactive, 47 * time.Hour, "47h!"},
		"calm/active, 90 days":   {store.StateActive, 90 * 24 * time.Hour, "90d"},
		"calm/revoked, 10 days":  {store.StateRevoked, 10 * 24 * time.Hour, "10d"},
		"calm/suspended, 2 days": {store.StateSuspended, 47 * time.Hour, "47h"},
	} {
		t.Run(name, func(t *testing.T) {
			got, _ := Expiry(st, store.Cert{State: tc.state, NotAfter: now.Add(tc.left)}, now)
			if got != tc.want {
				t.Errorf("Expiry = %q, want %q", got, tc.want)
			}
		})
	}
}
