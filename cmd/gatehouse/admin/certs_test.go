package admin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// The stream delivers every certificate once, in ID order, across pages;
// filters, limit and the after cursor select as the App does.
func TestCertStreamPages(t *testing.T) {
	a, c := serve(t)
	const n = 2*defaultCertPage + 345
	fillFleet(t, a.Authority().Store(), n)
	ctx := context.Background()
	collect := func(t *testing.T, f app.CertFilter) []app.CertView {
		t.Helper()
		var got []app.CertView
		if err := c.EachCert(ctx, f, func(v app.CertView) error { got = append(got, v); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := collect(t, app.CertFilter{})
	if len(all) != n {
		t.Fatalf("%d certificates, want %d", len(all), n)
	}
	for i := 1; i < n; i++ {
		if all[i-1].ID >= all[i].ID {
			t.Fatalf("out of order at %d: %s then %s", i, all[i-1].ID, all[i].ID)
		}
	}
	if all[0].CertPEM != "" || all[0].Fingerprint == "" || all[0].NotAfter.IsZero() {
		t.Fatalf("a listed view: %+v", all[0])
	}
	local, err := a.ListCerts(ctx, "")
	if err != nil || len(local) != n || local[n-1].ID != all[n-1].ID {
		t.Fatalf("the App lists %d, %v", len(local), err)
	}
	for name, tc := range map[string]struct {
		f    app.CertFilter
		want int
		from int // index in all of the first one
	}{
		"limit":             {app.CertFilter{Limit: 10}, 10, 0},
		"limit past a page": {app.CertFilter{Limit: defaultCertPage + 1}, defaultCertPage + 1, 0},
		"after":             {app.CertFilter{After: all[defaultCertPage-1].ID}, n - defaultCertPage, defaultCertPage},
		"after and limit":   {app.CertFilter{After: all[99].ID, Limit: 5}, 5, 100},
		"after the last":    {app.CertFilter{After: all[n-1].ID}, 0, n},
		"state none":        {app.CertFilter{State: store.StateRevoked}, 0, 0},
		"expiring 10 days":  {app.CertFilter{Expiring: 10*24*time.Hour - time.Minute}, 0, 0}, // counted below
	} {
		t.Run(name, func(t *testing.T) {
			got := collect(t, tc.f)
			if tc.f.Expiring > 0 {
				want := 0
				for _, v := range all {
					if app.Expiring(v.Cert, time.Now(), tc.f.Expiring) {
						want++
					}
				}
				if want == 0 || len(got) != want {
					t.Fatalf("%d expiring, want %d", len(got), want)
				}
				return
			}
			if len(got) != tc.want {
				t.Fatalf("%d certificates, want %d", len(got), tc.want)
			}
			if len(got) > 0 && got[0].ID != all[tc.from].ID {
				t.Fatalf("first is %s, want %s", got[0].ID, all[tc.from].ID)
			}
		})
	}
	// fn's error ends the stream and is what EachCert returns.
	stop := errors.New("enough")
	seen := 0
	if err := c.EachCert(ctx, app.CertFilter{}, func(app.CertView) error { seen++; return stop }); !errors.Is(err, stop) || seen != 1 {
		t.Fatalf("stopped stream: %d seen, %v", seen, err)
	}
}

func TestCertStreamRefusesBadQueries(t *testing.T) {
	_, c := serve(t)
	for name, query := range map[string]string{
		"negative limit": "limit=-1",
		"word limit":     "limit=all",
		"zero page":      "page=0",
		"bad expiring":   "expiring=soon",
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := c.send(context.Background(), http.MethodGet, certsStreamPath+"?"+query, nil)
			if err == nil {
				resp.Body.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, app.ErrUsage) {
				t.Fatalf("%v, want a usage error", err)
			}
		})
	}
}

// A stream that stops before its last page (a daemon killed mid-way) is an
// error, never a short list taken for the whole; so is a failure the daemon
// reports after the first page, with its meaning kept.
func TestBrokenStreamIsAnError(t *testing.T) {
	const first = `{"certs":[{"id":"aa/00","serial":"aa"}],"next":"aa/00"}` + "\n"
	for name, tc := range map[string]struct {
		body string
		want error
	}{
		"cut":          {first, io.ErrUnexpectedEOF},
		"failure line": {first + `{"certs":[],"error":"store gone","code":"not_found"}` + "\n", store.ErrNotFound},
		"garbage":      {first + "<html>\n", nil},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ln, err := net.Listen("unix", filepath.Join(dir, SocketName))
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"describe":"half a daemon"}`) })
			mux.HandleFunc("GET "+certsStreamPath, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, tc.body) })
			srv := &http.Server{Handler: mux}
			go srv.Serve(ln)
			defer srv.Close()
			c, err := Dial(dir, "cli")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = c.EachCert(context.Background(), app.CertFilter{}, func(v app.CertView) error { got = append(got, v.Serial); return nil })
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("%v, want an error matching %v", err, tc.want)
			}
			if len(got) != 1 {
				t.Fatalf("the certificates before the break: %v", got)
			}
		})
	}
}
