package pki

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

func benchSerial(i int) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return strings.TrimLeft(hex.EncodeToString(sum[:16]), "0")
}

func bigSnapshot(n int) (*snapshot, []string) {
	serials := make([]string, n)
	states := []store.State{store.StateActive, store.StateActive, store.StateInactive, store.StateSuspended, store.StateRevoked}
	s, _ := newSnapshot(n, func(add func(string, entry)) error {
		for i := range serials {
			serials[i] = benchSerial(i)
			add(serials[i], entry{state: states[i%len(states)]})
		}
		return nil
	})
	return s, serials
}

// Readers never block and never see a torn shard while writers copy-on-write.
func TestSnapshotConcurrent(t *testing.T) {
	s, serials := bigSnapshot(2000)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if _, ok := s.get(serials[i%len(serials)]); !ok {
					t.Error("an existing serial vanished")
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := w; i < len(serials); i += 4 {
				s.set(serials[i], entry{state: store.StateRevoked})
			}
		})
	}
	writers.Wait()
	stop.Store(true)
	wg.Wait()
	for _, serial := range serials {
		if e, _ := s.get(serial); e.state != store.StateRevoked {
			t.Fatalf("%s lost its update: %s", serial, e.state)
		}
	}
}

// BenchmarkAllowed is the per-session check over 100,000 certificates, from
// all CPUs at once.
func BenchmarkAllowed(b *testing.B) {
	s, serials := bigSnapshot(100_000)
	a := &Authority{snap: s}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_ = a.Allowed(serials[i%len(serials)])
			i++
		}
	})
}

// BenchmarkSnapshotSet is the in-memory cost of one state change with 100,000
// certificates: one shard (about 400 entries) is copied, not the whole map.
func BenchmarkSnapshotSet(b *testing.B) {
	s, serials := bigSnapshot(100_000)
	i := 0
	for b.Loop() {
		s.set(serials[i%len(serials)], entry{state: store.StateSuspended})
		i++
	}
}
