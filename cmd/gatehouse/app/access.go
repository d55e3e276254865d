package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/gatehouse/gatehouse/store"
)

// Access says how Open treats the data directory and its store.
type Access int

const (
	// AccessCreate creates the data directory, the store and the CAs when
	// missing: what serve, the TUI, demo and init do.
	AccessCreate Access = iota
	// AccessExisting opens an existing store read-write and never creates
	// one: lifecycle commands such as cert suspend, issuance and backup.
	AccessExisting
	// AccessReadOnly opens an existing store read-only: its bytes stay as
	// they were (cert list, audit, events, doctor, ...). Anything that
	// writes (issuing, transitions, audit records) then fails.
	AccessReadOnly
)

// noStoreError names the directory and the commands that create a store;
// it wraps store.ErrNoStore.
func noStoreError(dir string) error {
	return fmt.Errorf("%w in %s: create one with 'gatehouse init --data %s' or start 'gatehouse serve'", store.ErrNoStore, dir, dir)
}

// PrivateFile makes sure the store file at path is readable by its owner
// only: it holds the CA keys. A file of ours open to group or others is
// tightened to 0600 and the returned warning says so; a file open to others
// that belongs to another user is refused rather than changed, as PrivateDir
// refuses such a directory. A missing file is not an error.
func PrivateFile(path string) (warning string, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store file %s: %w", path, err)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return "", nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("store file %s is open to other users (mode %04o) and belongs to uid %d, not to us: it holds the CA keys; have its owner run 'chmod 600 %s'", path, perm, st.Uid, path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return "", fmt.Errorf("secure store file %s: %w", path, err)
	}
	return fmt.Sprintf("store file %s was open to other users (mode %04o); tightened it to 0600: it holds the CA keys", path, perm), nil
}
