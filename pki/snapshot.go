package pki

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/store"
)

// snapshotShards is the number of independently swapped shards. A state change
// copies one shard (about n/256 entries), not the whole map.
const snapshotShards = 256

// entry is what the handshake needs to know about a stored certificate.
type entry struct {
	state store.State
	fp    [32]byte // SHA-256 of the DER: a different certificate with the same ID is not this one
	// rev is the store revision that wrote the state (store.Cert.Revision):
	// Apply ignores a record older than it. 0 when unknown (loaded at
	// start, or a store file).
	rev int64
}

// snapshot is the in-memory certificate ID (store.CertID) -> state map read
// at every handshake.
//
// Concurrency contract: get is lock-free and wait-free (one atomic load and a
// map read) and may run on any number of goroutines. Each shard's map is
// immutable once published; set copies the shard, changes the copy and
// publishes it with an atomic store, under mu so that concurrent writers never
// lose each other's updates. The Authority calls set only after the change is
// committed to the store, so a reader never sees a state the store does not hold.
type snapshot struct {
	mu     sync.Mutex
	shards [snapshotShards]atomic.Pointer[map[string]entry]
}

// newSnapshot builds a snapshot from the entries fill adds, straight into
// its shards, sized for about n of them: at start that is every certificate
// of the store, and no list or map of them all is built on the way.
func newSnapshot(n int, fill func(add func(id string, e entry)) error) (*snapshot, error) {
	var parts [snapshotShards]map[string]entry
	for i := range parts {
		parts[i] = make(map[string]entry, n/snapshotShards+n/snapshotShards/8+1) // shards are uneven by a few percent
	}
	err := fill(func(id string, e entry) { parts[shardOf(id)][id] = e })
	if err != nil {
		return nil, err
	}
	s := &snapshot{}
	for i := range parts {
		s.shards[i].Store(&parts[i])
	}
	return s, nil
}

// shardOf hashes an ID with FNV-1a; imported serials need not be random.
func shardOf(serial string) int {
	h := uint32(2166136261)
	for i := 0; i < len(serial); i++ {
		h ^= uint32(serial[i])
		h *= 16777619
	}
	return int(h % snapshotShards)
}

func (s *snapshot) get(serial string) (entry, bool) {
	e, ok := (*s.shards[shardOf(serial)].Load())[serial]
	return e, ok
}

func (s *snapshot) set(serial string, e entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := &s.shards[shardOf(serial)]
	m := maps.Clone(*sh.Load())
	m[serial] = e
	sh.Store(&m)
}
