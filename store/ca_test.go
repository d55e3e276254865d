package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func TestCAs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		now := time.Now()
		cas := []store.CA{
			{ID: "t2", Role: store.RoleTrusted, Subject: "CN=b", Strict: true, AddedAt: now.Add(2 * time.Second)},
			{ID: "is", Role: store.RoleIssuing, Subject: "CN=issuing", KeyPEM: "issuing key", AddedAt: now},
			{ID: "t1", Role: store.RoleTrusted, Subject: "CN=a", AddedAt: now.Add(time.Second)},
			{ID: "rt", Role: store.RoleRoot, Subject: "CN=root", KeyPEM: "root key", AddedAt: now},
		}
		for _, ca := range cas {
			if err := s.PutCA(ca, store.AuditRecord{Actor: "test", Action: "ca.trust"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutCA(cas[0], store.AuditRecord{}); !errors.Is(err, store.ErrExists) {
			t.Fatalf("duplicate: %v", err)
		}
		if err := s.PutCA(store.CA{}, store.AuditRecord{}); err == nil {
			t.Fatal("empty ID accepted")
		}
		got, err := s.ListCAs()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ca := range got {
			ids = append(ids, ca.ID)
		}
		if want := "[rt is t1 t2]"; fmtSlice(ids) != want {
			t.Fatalf("order %v, want %s", ids, want)
		}
		if got[0].KeyPEM != "root key" || got[1].KeyPEM != "issuing key" || !got[3].Strict {
			t.Fatalf("fields lost: %+v", got)
		}
		if audit, _ := s.ListAudit(store.AuditQuery{}); len(audit) != 4 {
			t.Fatalf("%d audit records, want 4", len(audit))
		}
	})
}

func TestSettings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		if st, err := s.Settings(); err != nil || st.ClientAuth != nil || st.SANs != nil {
			t.Fatalf("fresh settings = %+v, %v", st, err)
		}
		st, err := s.UpdateSettings(func(st *store.Settings) error {
			st.ClientAuth = map[string]bool{"mqtts": false}
			st.SANs = []string{"broker.lan"}
			return nil
		}, store.AuditRecord{Actor: "alice", Action: "mtls.off", Detail: "mqtts"})
		if err != nil || st.ClientAuth["mqtts"] || st.SANs[0] != "broker.lan" {
			t.Fatalf("update = %+v, %v", st, err)
		}
		refused := errors.New("refused")
		_, err = s.UpdateSettings(func(st *store.Settings) error {
			st.SANs = nil
			return refused
		}, store.AuditRecord{Action: "never"})
		if !errors.Is(err, refused) {
			t.Fatalf("fn error: %v", err)
		}
		st, err = s.Settings()
		if err != nil || len(st.SANs) != 1 || st.ClientAuth["mqtts"] {
			t.Fatalf("after aborted update = %+v, %v", st, err)
		}
		audit, _ := s.ListAudit(store.AuditQuery{})
		if len(audit) != 1 || audit[0].Action != "mtls.off" {
			t.Fatalf("audit = %+v", audit)
		}
	})
}

func TestAudit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, open opener) {
		s := open(t)
		before := time.Now()
		for i := range 10 {
			serial := "aa"
			if i%2 == 1 {
				serial = "bb"
			}
			seq, err := s.AppendAudit(store.AuditRecord{Actor: "test", Action: "x", Serial: serial})
			if err != nil || seq != uint64(i+1) {
				t.Fatalf("seq %d, %v; want %d", seq, err, i+1)
			}
		}
		all, err := s.ListAudit(store.AuditQuery{})
		if err != nil || len(all) != 10 || all[0].Seq != 10 || all[9].Seq != 1 {
			t.Fatalf("all = %d records, %v", len(all), err)
		}
		if all[0].At.Before(before) {
			t.Errorf("At not defaulted to now: %v", all[0].At)
		}
		for name, tc := range map[string]struct {
			q    store.AuditQuery
			want []uint64
		}{
			"ok/limit":           {store.AuditQuery{Limit: 3}, []uint64{10, 9, 8}},
			"ok/before":          {store.AuditQuery{Before: 4}, []uint64{3, 2, 1}},
			"ok/before-and-lim":  {store.AuditQuery{Before: 8, Limit: 2}, []uint64{7, 6}},
			"ok/before-past-end": {store.AuditQuery{Before: 100, Limit: 1}, []uint64{10}},
			"ok/serial":          {store.AuditQuery{Serial: "bb", Limit: 2}, []uint64{10, 8}},
			"ok/serial-before":   {store.AuditQuery{Serial: "aa", Before: 5}, []uint64{3, 1}},
			"ok/before-first":    {store.AuditQuery{Before: 1}, nil},
		} {
			t.Run(name, func(t *testing.T) {
				got, err := s.ListAudit(tc.q)
				if err != nil {
					t.Fatal(err)
				}
				var seqs []uint64
				for _, a := range got {
					seqs = append(seqs, a.Seq)
				}
				if fmtSlice(seqs) != fmtSlice(tc.want) {
					t.Fatalf("seqs %v, want %v", seqs, tc.want)
				}
			})
		}
	})
}

func fmtSlice[T any](s []T) string { return fmt.Sprint(s) }
