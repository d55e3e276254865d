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

// AppendEvents appends entries, in order, to the event log in one
// transaction and then trims it to r, oldest entries first. now anchors the
// age bound.
//
// Keys are consecutive sequence numbers and entries are only ever removed
// from the front, so the log's length is last - first + 1 without a scan.
// A value is the entry's time (Unix nanoseconds, big-endian) then its data.
func (s *Store) AppendEvents(entries []EventEntry, r EventRetention, now time.Time) error {
	err := s.update(func(t txn) error {
		size, err := eventBytes(t)
		if err != nil {
			return err
		}
		for _, e := range entries {
			seq, err := t.nextSequence(bucketEvents)
			if err != nil {
				return err
			}
			v := make([]byte, 8, 8+len(e.Data))
			binary.BigEndian.PutUint64(v, uint64(e.At.UnixNano()))
			k := seqKey(seq)
			if err := t.put(bucketEvents, k, append(v, e.Data...)); err != nil {
				return err
			}
			size += int64(len(k) + len(v) + len(e.Data))
		}
		if size, err = trimEvents(t, r, now, size); err != nil {
			return err
		}
		return t.put(bucketMeta, keyEventBytes, binary.BigEndian.AppendUint64(nil, uint64(size)))
	})
	if err != nil {
		return fmt.Errorf("append %d events: %w", len(entries), err)
	}
	return nil
}

// eventBytes is the event log's size as recorded in meta; a log written
// before the size was recorded is measured once.
func eventBytes(t txn) (int64, error) {
	raw, err := t.get(bucketMeta, keyEventBytes)
	if err != nil {
		return 0, err
	}
	if len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw)), nil
	}
	var size int64
	err = forEach(t, bucketEvents, func(k, v []byte) error {
		size += int64(len(k) + len(v))
		return nil
	})
	return size, err
}

// trimEvents deletes entries from the front while the log is longer than
// r.Keep, larger than r.MaxBytes (size is its size now) or the oldest entry
// is older than r.MaxAge. It returns the size left.
func trimEvents(t txn, r EventRetention, now time.Time, size int64) (int64, error) {
	var last uint64
	empty := true
	if err := t.scan(bucketEvents, nil, true, func(k, _ []byte) (bool, error) {
		last, empty = binary.BigEndian.Uint64(k), false
		return false, nil
	}); err != nil || empty {
		return 0, err
	}
	cutoff := int64(0)
	if r.MaxAge > 0 {
		cutoff = now.Add(-r.MaxAge).UnixNano()
	}
	var gone [][]byte // deleted after the walk: a scan must not write
	left, all := size, true
	err := t.scan(bucketEvents, nil, false, func(k, v []byte) (bool, error) {
		n := last - binary.BigEndian.Uint64(k) + 1
		tooMany := r.Keep > 0 && n > uint64(r.Keep)
		tooOld := cutoff != 0 && len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) < cutoff
		tooBig := r.MaxBytes > 0 && left > r.MaxBytes
		if !tooMany && !tooOld && !tooBig {
			all = false
			return false, nil
		}
		left -= int64(len(k) + len(v))
		gone = append(gone, slices.Clone(k))
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range gone {
		if err := t.del(bucketEvents, k); err != nil {
			return 0, err
		}
	}
	if all {
		return 0, nil
	}
	return left, nil
}

// ListEvents returns the persisted events at or after since, oldest first;
// with limit > 0 only the newest limit of them. A store without an event
// log (one opened read-only before the log existed) has none.
func (s *Store) ListEvents(since time.Time, limit int) ([]EventEntry, error) {
	var out []EventEntry
	err := s.view(func(t txn) error {
		return t.scan(bucketEvents, nil, true, func(k, v []byte) (bool, error) {
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
