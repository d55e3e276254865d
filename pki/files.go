package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Client file names written by WriteClientFiles, and BundleFile, the
// single-file form (chain and key) written on request.
const (
	CAFile     = "ca.pem"
	CertFile   = "client.crt"
	KeyFile    = "client.key"
	BundleFile = "client.pem"
)

// CheckOutFile refuses an existing file at path without force and proves
// its directory writable: callers run it before issuing, so a refusal never
// costs a key that cannot be written.
func CheckOutFile(path string, force bool) error {
	if _, err := os.Lstat(path); err == nil && !force {
		return fmt.Errorf("%s already exists: choose another file or use --force to overwrite", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check %s: %w", path, err)
	}
	return CheckWritable(filepath.Dir(path))
}

// WriteFile writes data to path (atomically, with mode), creating its
// directory (0700) when missing.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeAtomic(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteClientFiles writes dir/ca.pem (0644), dir/client.crt (leaf + chain,
// 0644) and, when iss has a key, dir/client.key (0600), creating dir (0700).
// Without force it refuses to overwrite any existing file before writing
// anything. Each file is written to a temporary file and renamed into place,
// so none is ever half-written. It returns the paths written.
func WriteClientFiles(dir string, iss Issued, force bool) ([]string, error) {
	type file struct {
		name string
		data []byte
		mode os.FileMode
	}
	files := []file{{CAFile, iss.CAPEM, 0o644}, {CertFile, iss.ChainPEM, 0o644}}
	if iss.KeyPEM != nil {
		files = append(files, file{KeyFile, iss.KeyPEM, 0o600})
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("write client files: %w", err)
	}
	if !force {
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = f.name
		}
		if err := CheckClientFiles(dir, names...); err != nil {
			return nil, fmt.Errorf("write client files: %w", err)
		}
	}
	paths := make([]string, 0, len(files))
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeAtomic(p, f.data, f.mode); err != nil {
			return paths, fmt.Errorf("write client files: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// CheckClientFiles fails when one of the named files (by default ca.pem,
// client.crt and client.key) already exists in dir. Callers run it before
// issuing, so a refusal never costs a key that cannot be written.
func CheckClientFiles(dir string, names ...string) error {
	if len(names) == 0 {
		names = []string{CAFile, CertFile, KeyFile}
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: choose another --out or use --force to overwrite", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

// CheckWritable proves that files can be created in dir before anything is
// issued: it creates and removes a probe file in dir or, when dir does not
// exist yet, in its nearest existing ancestor (where WriteClientFiles would
// create it). A path under a regular file or on a read-only file system
// fails here, so the certificate is never issued with nowhere to put its key.
func CheckWritable(dir string) error {
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("cannot write to %s: %s is not a directory: choose another --out", dir, p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot write to %s: %w: choose another --out", dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	f, err := os.CreateTemp(p, ".gatehouse-probe-*")
	if err != nil {
		return fmt.Errorf("cannot write to %s: %w: choose another --out", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// writeAtomic writes data to a temporary file next to path, syncs it, sets
// mode and renames it over path.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}
