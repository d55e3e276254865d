package demo

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestJitterStaysWithinHalfAndFullBackoff(t *testing.T) {
	d := &device{rng: rand.New(rand.NewPCG(1, 2))}
	for _, backoff := range []time.Duration{DefaultMinBackoff, time.Second, DefaultMaxBackoff} {
		lo, hi := backoff, time.Duration(0)
		for range 1000 {
			w := d.jitter(backoff)
			lo, hi = min(lo, w), max(hi, w)
		}
		if lo < backoff/2 || hi > backoff || hi-lo < backoff/4 {
			t.Fatalf("backoff %v: waits in [%v, %v], want spread over [%v, %v]", backoff, lo, hi, backoff/2, backoff)
		}
	}
}
