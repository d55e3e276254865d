package demo

import (
	"math"
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

// TestWalkLooksLikeASensor: the values stay within mean±spread and move, so
// the telemetry chart shows a live signal rather than a flat line or noise.
func TestWalkLooksLikeASensor(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tests := map[string]walk{
		"ok/temperature": {value: 21, mean: 21, step: 0.2, spread: 3},
		"ok/humidity":    {value: 45, mean: 45, step: 0.8, spread: 10},
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			lo, hi, prev, maxJump := w.mean, w.mean, w.value, 0.0
			for range 10000 {
				v := w.next(rng)
				lo, hi = min(lo, v), max(hi, v)
				maxJump = max(maxJump, math.Abs(v-prev))
				prev = v
			}
			if lo < w.mean-w.spread || hi > w.mean+w.spread || hi-lo < w.step*5 {
				t.Fatalf("values in [%.2f, %.2f], want a moving signal within %.1f±%.1f", lo, hi, w.mean, w.spread)
			}
			if maxJump > 2*w.step {
				t.Fatalf("a step of %.2f, want smooth steps of at most %.2f", maxJump, 2*w.step)
			}
		})
	}
}
