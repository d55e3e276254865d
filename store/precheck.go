package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// bbolt's on-disk format (version 2) as far as precheck needs it.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	metaSize         = 64 // up to and including the checksum
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
)

// boltMeta is the part of a bbolt meta page precheck reads.
type boltMeta struct {
	pageSize uint64
	freelist uint64
	pgid     uint64 // high water mark: first page id past the data
	txid     uint64
}

// precheck refuses an empty or truncated file and validates the freelist page
// of an existing file before it is opened. An empty file is not a new store:
// bbolt would initialise it, and every device would meet a fresh CA. bbolt panics on a damaged freelist half-way through Open, while
// its mmap keeps the file lock held for the life of the process; checking
// first keeps such a file from ever reaching that code. The file is read under
// a shared lock (a read-only open, which loads no freelist) so that a writer in
// another process cannot make a healthy file look torn: if one holds the
// file, this reports ErrLocked.
func precheck(path string, timeout time.Duration) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil // a new file: bbolt creates it
	}
	if fi.Size() == 0 {
		return fmt.Errorf("open store %s: %w: the file is empty (0 bytes); restore a backup or remove it", path, ErrCorrupt)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return &lockedError{path: path}
	case err != nil:
		return nil // bbolt's read-write open reports it with its own words
	}
	defer db.Close()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	defer f.Close()
	// Measure the file only now, under the shared lock: a writer may have
	// grown it since the first look.
	if fi, err = f.Stat(); err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if err := checkPages(f, fi.Size()); err != nil {
		return fmt.Errorf("open store %s: %w: %v", path, ErrCorrupt, err)
	}
	return nil
}

// readMeta reads and validates the meta page at off.
func readMeta(r io.ReaderAt, off int64) (boltMeta, bool) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := r.ReadAt(buf, off); err != nil {
		return boltMeta{}, false
	}
	m := buf[pageHeaderSize:]
	le := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:56])
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion || le.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: uint64(le.Uint32(m[8:])),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}, true
}

// checkPages finds the meta page bbolt will use and checks that the file
// holds every page it counts (a truncated file would fault on the mmap at the
// first read past its end) and that its freelist page is a freelist whose page
// ids fit the page and the file.
func checkPages(r io.ReaderAt, size int64) error {
	m0, ok0 := readMeta(r, 0)
	if !ok0 {
		return nil // bbolt reports invalid meta pages itself
	}
	m, ok1 := readMeta(r, int64(m0.pageSize))
	if !ok1 || m0.txid > m.txid {
		m = m0
	}
	if m.pageSize >= 1024 && m.pgid > uint64(size)/m.pageSize {
		return fmt.Errorf("truncated: the file has %d bytes, its pages need %d", size, m.pgid*m.pageSize)
	}
	if m.freelist == noFreelist {
		return nil
	}
	if m.pageSize < 1024 || m.freelist < 2 || m.freelist >= m.pgid || m.pgid > uint64(size)/m.pageSize {
		return fmt.Errorf("freelist page %d outside the file", m.freelist)
	}
	off := int64(m.freelist * m.pageSize)
	hdr := make([]byte, pageHeaderSize+8)
	if _, err := r.ReadAt(hdr, off); err != nil {
		return fmt.Errorf("read freelist page %d: %v", m.freelist, err)
	}
	le := binary.NativeEndian
	flags, count, overflow := le.Uint16(hdr[8:]), uint64(le.Uint16(hdr[10:])), uint64(le.Uint32(hdr[12:]))
	if flags != freelistPageFlag {
		return fmt.Errorf("page %d is not a freelist page (flags %#x)", m.freelist, flags)
	}
	first := uint64(0)
	if count == 0xFFFF { // the real count is stored in the first element
		count, first = le.Uint64(hdr[pageHeaderSize:]), 1
	}
	span := (overflow + 1) * m.pageSize
	if overflow >= m.pgid || count > span/8 || pageHeaderSize+(first+count)*8 > span || off+int64(span) > size {
		return fmt.Errorf("freelist page %d: %d entries do not fit", m.freelist, count)
	}
	ids := make([]byte, count*8)
	if _, err := r.ReadAt(ids, off+pageHeaderSize+int64(first*8)); err != nil {
		return fmt.Errorf("read freelist page %d: %v", m.freelist, err)
	}
	for i := uint64(0); i < count; i++ {
		if id := le.Uint64(ids[i*8:]); id < 2 || id >= m.pgid {
			return fmt.Errorf("freelist page %d lists page %d outside the file", m.freelist, id)
		}
	}
	return nil
}
