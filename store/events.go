package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// EventEntry is one persisted event: its time and its encoding, which the
// store does not interpret (the event type belongs to the broker, which the
// store does not import).
type EventEntry struct {
	At   time.Time
	Data []byte
}

// EventRetention bounds the event log: at most Keep entries (0: no count
// bound), none older than MaxAge (0: no age bound) and at most MaxBytes of
// keys and values (0: no size bound).
type EventRetention struct {
	Keep     int
	MaxAge   time.Duration
	MaxBytes int64
}

// keyEventBytes (in the meta bucket) holds the event log's size in bytes,
// keys and values, so the size bound needs no scan.
var keyEventBytes = []byte("events_bytes")

// eventLog is where a store's event log lives: its bucket and the meta key
// of its size. A store file has one log; in etcd each node keeps its own
// (EtcdConfig.Node), as one log that every node appends to would have them
// race for its sequence on every append and retry.
type eventLog struct {
	bucket, sizeKey []byte
}

// sharedEventLog is the log of a store file, and of an etcd store opened
// without a node name.
var sharedEventLog = eventLog{bucket: bucketEvents, sizeKey: keyEventBytes}

// nodeEventLog is node's own log in a cluster's etcd store.
func nodeEventLog(node string) eventLog {
	return eventLog{bucket: []byte("events@" + node), sizeKey: []byte("events_bytes@" + node)}
}

// AppendEvents appends entries, in order, to the store's event log (in a
// cluster, this node's: see EtcdConfig.Node) in one
// transaction and then trims it to r, oldest entries first. now anchors the
// age bound. On an engine that bounds a transaction's writes (etcd) it takes
// as many transactions as the bound needs, each one complete: a chunk of
// entries appended and part of the trim. It returns how many entries, from
// the first, are in the log: on an error the caller keeps the rest, and
// writing them again later duplicates none, unless the error is a commit
// etcd did not confirm in time (it may have been applied all the same).
//
// Keys are consecutive sequence numbers and entries are only ever removed
// from the front, so the log's length is last - first + 1 without a scan.
// A value is the entry's time (Unix nanoseconds, big-endian) then its data.
func (s *Store) AppendEvents(entries []EventEntry, r EventRetention, now time.Time) (int, error) {
	per, budget := len(entries), 0 // unbounded: everything in one transaction
	if n := s.eng.maxWrites(); n > 0 {
		per = n / 2
		budget = n - per - 2 // trims, after the chunk, its sequence and the size
	}
	for rest, done := entries, false; len(rest) > 0 || !done; {
		chunk := rest[:min(per, len(rest))]
		err := s.eng.updateLog(func(t txn) error {
			var err error
			done, err = s.events.append(t, chunk, r, now, budget)
			return err
		})
		if err != nil {
			return len(entries) - len(rest), fmt.Errorf("append %d events: %w", len(rest), err)
		}
		rest = rest[len(chunk):]
	}
	return len(entries), nil
}

// append appends entries and trims the log, deleting at most budget
// entries (0: no bound); done says whether the log is within r.
func (l eventLog) append(t txn, entries []EventEntry, r EventRetention, now time.Time, budget int) (done bool, err error) {
	size, err := l.size(t)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		seq, err := t.nextSequence(l.bucket)
		if err != nil {
			return false, err
		}
		v := make([]byte, 8, 8+len(e.Data))
		binary.BigEndian.PutUint64(v, uint64(e.At.UnixNano()))
		k := seqKey(seq)
		if err := t.put(l.bucket, k, append(v, e.Data...)); err != nil {
			return false, err
		}
		size += int64(len(k) + len(v) + len(e.Data))
	}
	if size, done, err = l.trim(t, r, now, size, budget); err != nil {
		return false, err
	}
	return done, t.put(bucketMeta, l.sizeKey, binary.BigEndian.AppendUint64(nil, uint64(size)))
}

// size is the event log's size as recorded in meta; a log written before
// the size was recorded is measured once.
func (l eventLog) size(t txn) (int64, error) {
	raw, err := t.get(bucketMeta, l.sizeKey)
	if err != nil {
		return 0, err
	}
	if len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw)), nil
	}
	var size int64
	err = forEach(t, l.bucket, func(k, v []byte) error {
		size += int64(len(k) + len(v))
		return nil
	})
	return size, err
}

// trim deletes entries from the front while the log is longer than
// r.Keep, larger than r.MaxBytes (size is its size now) or the oldest entry
// is older than r.MaxAge, at most budget of them (0: no bound). It returns
// the size left and whether the log is now within r.
func (l eventLog) trim(t txn, r EventRetention, now time.Time, size int64, budget int) (int64, bool, error) {
	var last uint64
	empty := true
	if err := t.scan(l.bucket, nil, true, func(k, _ []byte) (bool, error) {
		last, empty = binary.BigEndian.Uint64(k), false
		return false, nil
	}); err != nil || empty {
		return 0, true, err
	}
	cutoff := int64(0)
	if r.MaxAge > 0 {
		cutoff = now.Add(-r.MaxAge).UnixNano()
	}
	var gone [][]byte // deleted after the walk: a scan must not write
	left, all, within := size, true, false
	err := t.scan(l.bucket, nil, false, func(k, v []byte) (bool, error) {
		n := last - binary.BigEndian.Uint64(k) + 1
		tooMany := r.Keep > 0 && n > uint64(r.Keep)
		tooOld := cutoff != 0 && len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) < cutoff
		tooBig := r.MaxBytes > 0 && left > r.MaxBytes
		if !tooMany && !tooOld && !tooBig {
			all, within = false, true
			return false, nil
		}
		if budget > 0 && len(gone) == budget {
			all = false
			return false, nil
		}
		left -= int64(len(k) + len(v))
		gone = append(gone, slices.Clone(k))
		return true, nil
	})
	if err != nil {
		return 0, false, err
	}
	for _, k := range gone {
		if err := t.del(l.bucket, k); err != nil {
			return 0, false, err
		}
	}
	if all {
		return 0, true, nil
	}
	return left, within, nil
}

// ListEvents returns the persisted events (in a cluster, this node's) at or
// after since, oldest first;
// with limit > 0 only the newest limit of them. A store without an event
// log (one opened read-only before the log existed) has none.
func (s *Store) ListEvents(since time.Time, limit int) ([]EventEntry, error) {
	var out []EventEntry
	err := s.view(func(t txn) error {
		return t.scan(s.events.bucket, nil, true, func(k, v []byte) (bool, error) {
			if limit > 0 && len(out) == limit {
				return false, nil
			}
			if len(v) < 8 {
				return false, fmt.Errorf("event %d: %w: short record", binary.BigEndian.Uint64(k), ErrCorrupt)
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			if at.Before(since) {
				return false, nil
			}
			out = append(out, EventEntry{At: at, Data: slices.Clone(v[8:])})
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}
