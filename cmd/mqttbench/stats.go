package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// latency summarises a set of durations in milliseconds; P50 is the median.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// summarize sorts d in place and returns its percentiles.
func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return latency{N: len(d), P50: ms(at(0.50)), P99: ms(at(0.99)), Max: ms(d[len(d)-1])}
}

// reservoir keeps a uniform sample of at most cap(samples) durations, so a
// long unpaced run does not grow without bound (Vitter's algorithm R).
type reservoir struct {
	seen    int
	samples []time.Duration
}

func newReservoir(size int) *reservoir { return &reservoir{samples: make([]time.Duration, 0, size)} }

func (r *reservoir) add(d time.Duration) {
	r.seen++
	if len(r.samples) < cap(r.samples) {
		r.samples = append(r.samples, d)
		return
	}
	if i := rand.IntN(r.seen); i < len(r.samples) {
		r.samples[i] = d
	}
}

// errorCounts counts errors by kind and keeps the first message of each.
type errorCounts struct {
	Total int               `json:"total"`
	Kinds map[string]int    `json:"kinds,omitempty"`
	First map[string]string `json:"first,omitempty"`
}

func (e *errorCounts) add(err error) {
	if e.Kinds == nil {
		e.Kinds, e.First = map[string]int{}, map[string]string{}
	}
	k := errKind(err)
	e.Total++
	e.Kinds[k]++
	if _, ok := e.First[k]; !ok {
		e.First[k] = err.Error()
	}
}

func (e *errorCounts) merge(o errorCounts) {
	for k, n := range o.Kinds {
		if e.Kinds == nil {
			e.Kinds, e.First = map[string]int{}, map[string]string{}
		}
		e.Total += n
		e.Kinds[k] += n
		if _, ok := e.First[k]; !ok {
			e.First[k] = o.First[k]
		}
	}
}

// seconds is a duration in seconds for JSON.
func seconds(d time.Duration) float64 { return d.Seconds() }

// rate is n per second over d, 0 for an empty interval.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
