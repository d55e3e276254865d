package store

import (
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A migration moves a store from schema version to-1 to version to. It runs
// inside the open transaction, so a store is migrated whole or not at all.
// A new store starts at version 1 and runs every migration, so a migration is
// also where a new store gets its initial records.
type migration struct {
	to   int
	name string
	run  func(t txn) error
}

// SchemaVersion is the store layout this build reads and writes: the last
// migration's version.
const SchemaVersion = 6

// migrations lists every schema change in order, one version each.
var migrations = []migration{
	{to: 2, name: "certificates keyed by issuer and serial, serials in openssl form", run: certsByIssuerAndSerial},
	{to: 3, name: "policy", run: migratePolicy},
	{to: 4, name: "keys of revoked certificates blocked", run: blockRevokedKeys},
	{to: indexSchema, name: "certificate index", run: buildCertIndex},
	{to: 6, name: "token subjects, issued and revoked tokens, token keys", run: tokenRecords},
}

// migrate runs the migrations past version and records the new version.
func migrate(t txn, version int, path string) error {
	for _, m := range migrations {
		if m.to <= version {
			continue
		}
		if err := m.run(t); err != nil {
			return fmt.Errorf("open store %s: migrate to schema %d (%s): %w", path, m.to, m.name, err)
		}
		version = m.to
	}
	if err := t.put(bucketMeta, keySchema, []byte(strconv.Itoa(version))); err != nil {
		return fmt.Errorf("open store %s: write schema version: %w", path, err)
	}
	return nil
}

// PendingUpgrade reads, without changing a byte, the schema version of the
// existing store at path and whether it is older than SchemaVersion: a store
// a read-only open refuses and the next read-write open migrates. Damage and
// a lock are errors, as Open reports them; a store without a readable
// version is not pending.
func PendingUpgrade(path string, timeout time.Duration) (version int, pending bool, err error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	db, err := openBolt(path, timeout, true)
	if err != nil {
		return 0, false, err
	}
	defer db.Close()
	err = guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			if meta := tx.Bucket(bucketMeta); meta != nil {
				version, _ = checkSchema(meta.Get(keySchema), path)
			}
			return nil
		})
	})
	return version, err == nil && version > 0 && version < SchemaVersion, err
}
