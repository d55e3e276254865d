package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// EventEntry is one persisted event: its time and its encoding, which the
// store does not interpret (the event type belongs to the broker, which the
// store does not import).
type EventEntry struct {
	At   time.Time
	Data []byte
}

// EventRetention bounds the event log: at most Keep entries (0: no count
// bound) and none older than MaxAge (0: no age bound).
type EventRetention struct {
	Keep   int
	MaxAge time.Duration
}

// AppendEvents appends entries, in order, to the event log in one
// transaction and then trims it to r, oldest entries first. now anchors the
// age bound.
//
// Keys are consecutive sequence numbers and entries are only ever removed
// from the front, so the log's length is last - first + 1 without a scan.
// A value is the entry's time (Unix nanoseconds, big-endian) then its data.
func (s *Store) AppendEvents(entries []EventEntry, r EventRetention, now time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		for _, e := range entries {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			v := make([]byte, 8, 8+len(e.Data))
			binary.BigEndian.PutUint64(v, uint64(e.At.UnixNano()))
			if err := b.Put(seqKey(seq), append(v, e.Data...)); err != nil {
				return err
			}
		}
		return trimEvents(b, r, now)
	})
	if err != nil {
		return fmt.Errorf("append %d events: %w", len(entries), err)
	}
	return nil
}

// trimEvents deletes entries from the front while the log is longer than
// r.Keep or the oldest entry is older than r.MaxAge.
func trimEvents(b *bolt.Bucket, r EventRetention, now time.Time) error {
	c := b.Cursor()
	lastKey, _ := c.Last()
	if lastKey == nil {
		return nil
	}
	last := binary.BigEndian.Uint64(lastKey)
	cutoff := int64(0)
	if r.MaxAge > 0 {
		cutoff = now.Add(-r.MaxAge).UnixNano()
	}
	for k, v := c.First(); k != nil; k, v = c.First() {
		n := last - binary.BigEndian.Uint64(k) + 1
		tooMany := r.Keep > 0 && n > uint64(r.Keep)
		tooOld := cutoff != 0 && len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) < cutoff
		if !tooMany && !tooOld {
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// ListEvents returns the persisted events at or after since, oldest first;
// with limit > 0 only the newest limit of them. A store without an event
// log (one opened read-only before the log existed) has none.
func (s *Store) ListEvents(since time.Time, limit int) ([]EventEntry, error) {
	var out []EventEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if limit > 0 && len(out) == limit {
				break
			}
			if len(v) < 8 {
				return fmt.Errorf("event %d: %w: short record", binary.BigEndian.Uint64(k), ErrCorrupt)
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			if at.Before(since) {
				break
			}
			out = append(out, EventEntry{At: at, Data: slices.Clone(v[8:])})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}
