package main

import (
	"bytes"
	"encoding/pem"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// The child process of TestKillDuringConversionLeavesOneForm reads its data
// directory and passphrase file from these.
const (
	convertDataEnv = "GATEHOUSE_TEST_CONVERT_DATA"
	convertPassEnv = "GATEHOUSE_TEST_CONVERT_PASS"
)

// storedForm says whether every CA key in db is sealed or every one is in
// the clear, and fails the test on a mix.
func storedForm(t *testing.T, db string) string {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatalf("the store does not open after the kill: %v", err)
	}
	defer st.Close()
	cas, err := st.ListCAs()
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]int{}
	for _, ca := range cas {
		if b, _ := pem.Decode([]byte(ca.KeyPEM)); b != nil {
			forms[b.Type]++
		}
	}
	switch {
	case forms["PRIVATE KEY"] == 2 && len(forms) == 1:
		return "clear"
	case forms["GATEHOUSE ENCRYPTED CA KEY"] == 2 && len(forms) == 1:
		return "sealed"
	}
	t.Fatalf("CA keys stored in a mix of forms: %v", forms)
	return ""
}

// convert runs 'ca passphrase set' in a child process, killed with SIGKILL
// after killAfter (never when negative), and returns how long it ran.
func convert(t *testing.T, data, pass string, killAfter time.Duration) time.Duration {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringConversionLeavesOneForm$", "-test.count=1")
	cmd.Env = append(os.Environ(), convertDataEnv+"="+data, convertPassEnv+"="+pass)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if killAfter >= 0 {
		time.Sleep(killAfter)
		cmd.Process.Kill() // a no-op on a process that has exited
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !(killAfter >= 0 && errors.As(err, &exit)) {
		t.Fatalf("conversion: %v: %s", err, stderr.Bytes())
	}
	return time.Since(start)
}

// kill -9 at any moment of 'ca passphrase set' leaves every CA key in the
// old form or every one in the new, each usable with its passphrase.
func TestKillDuringConversionLeavesOneForm(t *testing.T) {
	if data := os.Getenv(convertDataEnv); data != "" {
		os.Exit(run([]string{"--data", data, "ca", "passphrase", "set", "--new-passphrase-file", os.Getenv(convertPassEnv)}, io.Discard, os.Stderr))
	}
	noPassphraseSources(t)
	pass := writePass(t, "correct horse")
	// One conversion run to the end measures the span the kills fall in.
	span := time.Duration(0)
	outcomes := map[string]int{}
	for i := range 11 {
		data, devices := initData(t), t.TempDir()
		mustGH(t, data, "cert", "create", "--cn", "dev", "--out", filepath.Join(devices, "dev"))
		root := mustGH(t, data, "ca", "export")
		db := filepath.Join(data, app.DBFile)
		material := caKeyMaterial(t, db)
		killAfter := time.Duration(-1)
		if i > 0 {
			killAfter = time.Duration(rand.Int64N(int64(span)))
		}
		if took := convert(t, data, pass, killAfter); i == 0 {
			span = took
		}
		form := storedForm(t, db)
		if i == 0 && form != "sealed" {
			t.Fatal("the conversion that was not killed left the keys in the clear")
		} else if i > 0 {
			outcomes[form]++
		}
		if leftover := db + ".compact"; fileExists(leftover) {
			if found := leaks(t, leftover, material); len(found) != 0 {
				t.Fatalf("the leftover compaction copy holds %v", found)
			}
		}
		switch form {
		case "clear":
			if got := mustGH(t, data, "ca", "export"); got != root {
				t.Fatal("the root changed")
			}
		case "sealed":
			requireFails(t, data, "are encrypted", "ca", "export")
			mustGH(t, data, "--ca-passphrase-file", pass, "cert", "create", "--cn", "after", "--out", filepath.Join(devices, "after"))
			requireChainsTo(t, filepath.Join(devices, "after", "client.crt"), root)
			// Killed before the compaction, freed pages may still hold the
			// clear keys; a change to the same passphrase rewrites the file.
			mustGH(t, data, "--ca-passphrase-file", pass, "ca", "passphrase", "change", "--new-passphrase-file", pass)
			if found := leaks(t, db, material); len(found) != 0 {
				t.Fatalf("after the repeated conversion the store holds %v", found)
			}
		}
	}
	t.Logf("conversion takes %v; after 10 kills at random moments: %v", span, outcomes)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
