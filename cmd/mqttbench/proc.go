package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for that interface on every architecture.
const userHZ = 100

// brokerProc reads a broker process's CPU and memory from /proc, so that a
// run reports what the broker spent on exactly the operations it counted
// (the generator's own set-up, such as the publishers' connects, left out).
// The zero value (no --broker-pid) reads nothing.
type brokerProc struct{ pid int }

// brokerStats is what a run reports about the broker process.
type brokerStats struct {
	PID         int     `json:"pid"`
	CPU         float64 `json:"cpu_us"`                  // utime+stime over the measured phase
	CPUPerOp    float64 `json:"cpu_us_per_op,omitempty"` // per connect, message published or connection opened
	RSSBefore   int     `json:"rss_before_kb,omitempty"` // idle: VmRSS before opening
	RSSHeld     int     `json:"rss_held_kb,omitempty"`   // idle: VmRSS with every connection held
	KBPerConn   float64 `json:"kb_per_conn,omitempty"`   // idle: (held - before) / opened
	cpuAtStart  time.Duration
	measureErrs []string
}

func (p brokerProc) enabled() bool { return p.pid > 0 }

// check fails early (a usage error) when the process cannot be read.
func (p brokerProc) check() error {
	if !p.enabled() {
		return nil
	}
	if _, err := p.cpu(); err != nil {
		return usageErr{fmt.Errorf("--broker-pid %d: %w", p.pid, err)}
	}
	return nil
}

// cpu is the process's utime+stime so far.
func (p brokerProc) cpu() (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/stat", p.pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	d, ok := parseStat(b)
	if !ok {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	return d, nil
}

// parseStat returns utime+stime from the text of /proc/PID/stat. The command
// name (field 2) is in parentheses and may hold spaces and parentheses: count
// the fields after the last closing one, where the state (field 3) is first.
func parseStat(b []byte) (time.Duration, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / userHZ, true
}

// rss is the process's VmRSS in KB.
func (p brokerProc) rss() (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", p.pid)
}

// start opens a measured phase; nil when disabled.
func (p brokerProc) start() *brokerStats {
	if !p.enabled() {
		return nil
	}
	s := &brokerStats{PID: p.pid}
	c, err := p.cpu()
	s.note(err)
	s.cpuAtStart = c
	return s
}

// stop closes the measured phase and divides by ops.
func (p brokerProc) stop(s *brokerStats, ops int) {
	if s == nil {
		return
	}
	c, err := p.cpu()
	s.note(err)
	s.CPU = float64(c-s.cpuAtStart) / float64(time.Microsecond)
	if ops > 0 {
		s.CPUPerOp = s.CPU / float64(ops)
	}
}

// sampleRSS records VmRSS into *into.
func (p brokerProc) sampleRSS(s *brokerStats, into *int) {
	if s == nil {
		return
	}
	kb, err := p.rss()
	s.note(err)
	*into = kb
}

func (s *brokerStats) note(err error) {
	if err != nil {
		s.measureErrs = append(s.measureErrs, err.Error())
	}
}

// err is the first failure to read the process, which makes the figures void.
func (s *brokerStats) err() error {
	if s == nil || len(s.measureErrs) == 0 {
		return nil
	}
	return fmt.Errorf("read broker process: %s", s.measureErrs[0])
}
