package store

import (
	"os"
	"path/filepath"
	"testing"
)

// An Open that waited for the lock of a file Compact has since replaced
// must not use the old, unlinked file: what it wrote would be lost.
func TestReplacedNoticesARenameOverTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if replaced(path, f) {
		t.Fatal("an untouched file reported replaced")
	}
	if err := os.WriteFile(path+".compact", []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".compact", path); err != nil {
		t.Fatal(err)
	}
	if !replaced(path, f) {
		t.Fatal("a file renamed over the path was not noticed")
	}
}
