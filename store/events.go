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
		size := eventBytes(tx.Bucket(bucketMeta), b)
		for _, e := range entries {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			v := make([]byte, 8, 8+len(e.Data))
			binary.BigEndian.PutUint64(v, uint64(e.At.UnixNano()))
			k := seqKey(seq)
			if err := b.Put(k, append(v, e.Data...)); err != nil {
				return err
			}
			size += int64(len(k) + len(v) + len(e.Data))
		}
		if size, err = trimEvents(b, r, now, size); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyEventBytes, binary.BigEndian.AppendUint64(nil, uint64(size)))
	})
	if err != nil {
		return fmt.Errorf("append %d events: %w", len(entries), err)
	}
	return nil
}

// eventBytes is the event log's size as recorded in meta; a log written
// before the size was recorded is measured once.
func eventBytes(meta, b *bolt.Bucket) int64 {
	if raw := meta.Get(keyEventBytes); len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw))
	}
	var size int64
	_ = b.ForEach(func(k, v []byte) error {
		size += int64(len(k) + len(v))
		return nil
	})
	return size
}

// trimEvents deletes entries from the front while the log is longer than
// r.Keep, larger than r.MaxBytes (size is its size now) or the oldest entry
// is older than r.MaxAge. It returns the size left.
func trimEvents(b *bolt.Bucket, r EventRetention, now time.Time, size int64) (int64, error) {
	c := b.Cursor()
	lastKey, _ := c.Last()
	if lastKey == nil {
		return 0, nil
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
		tooBig := r.MaxBytes > 0 && size > r.MaxBytes
		if !tooMany && !tooOld && !tooBig {
			return size, nil
		}
		size -= int64(len(k) + len(v))
		if err := c.Delete(); err != nil {
			return 0, err
		}
	}
	return 0, nil
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
