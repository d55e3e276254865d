package main

import (
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/pki"
)

// period is a flag value for spans given like TTLs: "720h", "30d", "1y".
type period struct{ d *time.Duration }

// String prints the span in days when it is whole days, as it is usually given.
func (p period) String() string {
	if p.d == nil || *p.d == 0 {
		return ""
	}
	if day := 24 * time.Hour; *p.d%day == 0 {
		return strconv.Itoa(int(*p.d/day)) + "d"
	}
	return p.d.String()
}

// Set parses s as pki.ParseTTL does.
func (p period) Set(s string) error {
	d, err := pki.ParseTTL(s)
	if err != nil {
		return err
	}
	*p.d = d
	return nil
}

// Type names the value in help.
func (p period) Type() string { return "period" }
