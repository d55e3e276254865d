package ui

import (
	"context"
	"testing"
)

func TestWarningShownOnceOnFirstLoad(t *testing.T) {
	f := newFake()
	f.snap.Warnings = []string{"CA keys are not encrypted at rest"}
	m, _ := loaded(t, f, 120, 24)
	requireContains(t, m.View(), "warning: CA keys are not encrypted at rest")
	m.status = status{} // the operator acted; the line was replaced
	s, err := f.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m.Update(snapshotMsg{snap: s})
	requireLacks(t, m.View(), "not encrypted")
}
