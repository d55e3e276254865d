package store

import "testing"

func TestMigrationsAreOrderedAndEndAtSchemaVersion(t *testing.T) {
	want := 2
	for _, m := range migrations {
		if m.to != want {
			t.Fatalf("migration %q goes to version %d, want %d", m.name, m.to, want)
		}
		want++
	}
	if last := want - 1; last != SchemaVersion {
		t.Fatalf("migrations end at version %d, SchemaVersion is %d", last, SchemaVersion)
	}
}
