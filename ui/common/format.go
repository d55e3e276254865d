package common

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/pki"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/ui/styles"
)

// ShortSerial is the 8-hex-digit prefix operators see in tables; enough to
// be unique in practice and accepted by the CLI (DESIGN section 6). It takes
// a serial or a certificate ID (serial/issuerhash) and shows the serial.
func ShortSerial(serial string) string {
	serial, _, _ = strings.Cut(serial, "/")
	if len(serial) > 8 {
		return serial[:8]
	}
	return serial
}

// Duration renders d compactly at the coarsest useful unit: "42s", "17m",
// "5h", "364d". Hours run up to two days because "36h" reads better than
// "1d" for something about to expire. Days are rounded to the nearest, so a
// certificate issued for 30d reads "30d", not "29d", a second later.
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(pki.Days(d)) + "d"
}

// Until renders the time left until t, or how long ago it passed.
func Until(now, t time.Time) string {
	if t.Before(now) {
		return Duration(now.Sub(t)) + " ago"
	}
	return Duration(t.Sub(now))
}

// Ago renders how long ago t was; the zero time is "never".
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if d := now.Sub(t); d > 0 {
		return Duration(d) + " ago"
	}
	return "now"
}

// Count renders a message counter in at most five cells: 999, 1.2k, 3.4M.
func Count(n uint64) string {
	switch {
	case n < 1000:
		return strconv.FormatUint(n, 10)
	case n < 1_000_000:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/1e3)) + "k"
	}
	return trimZero(fmt.Sprintf("%.1f", float64(n)/1e6)) + "M"
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// Number renders a telemetry value in at most about eight cells: two
// decimals at most ("21.5", "44", "-3.25"), and exponent notation for very
// large or very small magnitudes, which would otherwise read as 0 or
// overflow a column.
func Number(v float64) string {
	if a := math.Abs(v); a >= 1e6 || (a < 0.01 && a != 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// Bytes renders a byte count with binary units: "512 B", "1.2 KiB", "3 MiB".
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return trimZero(fmt.Sprintf("%.1f", v)) + " " + "KMGTP"[i:i+1] + "iB"
}

// Plural renders "1 session", "2 sessions".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// Timestamp renders an absolute time in the local zone, to the minute.
func Timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// Fit truncates every line of s to width cells and returns exactly height
// lines, so a page can never push the footer off the screen.
func Fit(s string, width, height int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "…")
		}
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// EventStyle is how an event of type t is coloured in lists and strips.
func EventStyle(st *styles.Styles, t string) lipgloss.Style {
	switch t {
	case broker.EventConnected:
		return st.EventConnected
	case broker.EventDisconnected:
		return st.EventDisconnected
	case broker.EventRefused, broker.EventDenied, broker.EventDropped:
		return st.EventRefused
	}
	return st.EventOther
}

// Expiry is a certificate's EXPIRES cell and its style: the time left, marked
// with "!" and in the warning style when the certificate is in use and
// expires within app.DefaultExpiryWarning (readable without colour too).
func Expiry(st *styles.Styles, c store.Cert, now time.Time) (string, lipgloss.Style) {
	if app.Expiring(c, now, app.DefaultExpiryWarning) {
		return Until(now, c.NotAfter) + "!", st.ExpiresSoon
	}
	return Until(now, c.NotAfter), st.Cell
}
