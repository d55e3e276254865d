package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/cmd/gatehouse/app"
	"github.com/gatehouse/gatehouse/store"
)

// The certificate list, streamed: as pages of newline-delimited JSON for
// programs (EachCert), and as the `cert list --json` document itself.
const (
	certsStreamPath = "/v1/certs/stream"
	certsJSONPath   = "/v1/certs/json"
)

// Page sizes of the certificate stream: what the server sends when the
// client names none, and the most it sends in one line.
const (
	defaultCertPage = 1000
	maxCertPage     = 10_000
)

// certPageLine is one line of the certificate stream (newline-delimited
// JSON): a page of certificates and the cursor after it, which a client
// passes as after= to resume. The last line has End set; a stream that
// stops without it was cut short. A failure after the first line is sent
// as a line with Error and Code set.
type certPageLine struct {
	Certs []app.CertView `json:"certs"`
	Next  string         `json:"next,omitempty"`
	End   bool           `json:"end,omitempty"`
	Error string         `json:"error,omitempty"`
	Code  string         `json:"code,omitempty"`
}

func (s *Server) certRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+certsStreamPath, s.certStream)
	m.HandleFunc("GET "+certsJSONPath, s.certsJSON)
}

// certsJSON answers GET /v1/certs/json (the query as for the stream, page
// aside) with the document `cert list --json` prints, written as the
// certificates are read. A failure once bytes went out aborts the
// connection, so the client sees a cut body as an error, never as a short
// but complete list.
func (s *Server) certsJSON(w http.ResponseWriter, r *http.Request) {
	f, _, err := parseCertStream(r.URL.Query())
	if err != nil {
		reply(w, nil, err)
		return
	}
	cw := &countingWriter{w: w}
	w.Header().Set("Content-Type", "application/json")
	if err := s.svc.WriteCertsJSON(ctx(r), f, cw); err != nil {
		if cw.n == 0 {
			reply(w, nil, err)
			return
		}
		s.log.Error("certificate list cut short", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// countingWriter counts what went through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// certStream answers GET /v1/certs/stream?state=S&expiring=DURATION&after=ID&limit=N&page=N
// with pages of at most page certificates, each written and flushed as soon
// as it is full: neither side holds the whole list.
func (s *Server) certStream(w http.ResponseWriter, r *http.Request) {
	f, page, err := parseCertStream(r.URL.Query())
	if err != nil {
		reply(w, nil, err)
		return
	}
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	line := certPageLine{Certs: make([]app.CertView, 0, page)}
	started := false
	send := func() error {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		line.Certs = line.Certs[:0]
		return nil
	}
	err = s.svc.EachCert(ctx(r), f, func(v app.CertView) error {
		line.Certs = append(line.Certs, v)
		if len(line.Certs) < page {
			return nil
		}
		line.Next = v.ID
		return send()
	})
	if err != nil {
		if !started {
			reply(w, nil, err)
			return
		}
		_, code := classify(err)
		line = certPageLine{Certs: []app.CertView{}, Error: err.Error(), Code: code}
		_ = send()
		return
	}
	line.Next, line.End = "", true
	_ = send() // a client gone meanwhile is nobody to tell
}

// parseCertStream reads the stream's query.
func parseCertStream(q url.Values) (app.CertFilter, int, error) {
	f := app.CertFilter{State: store.State(q.Get("state")), After: q.Get("after")}
	page := defaultCertPage
	var err error
	if v := q.Get("expiring"); v != "" {
		if f.Expiring, err = time.ParseDuration(v); err != nil || f.Expiring < 0 {
			return f, 0, app.UsageError{Err: fmt.Errorf("expiring %q: not a duration", v)}
		}
	}
	for _, p := range []struct {
		name string
		to   *int
	}{{"limit", &f.Limit}, {"page", &page}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (p.name == "page" && n == 0) {
			return f, 0, app.UsageError{Err: fmt.Errorf("%s %q: not a positive number", p.name, v)}
		}
		*p.to = n
	}
	return f, min(page, maxCertPage), nil
}

// EachCert implements app.Service by reading the daemon's certificate
// stream a page at a time.
func (c *Client) EachCert(ctx context.Context, f app.CertFilter, fn func(app.CertView) error) error {
	ctx, cancel := context.WithCancel(ctx) // fn's error ends the stream early
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, certsStreamPath+"?"+certQuery(f).Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var line certPageLine
		if err := dec.Decode(&line); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the last line says End
			}
			return fmt.Errorf("read certificate list from %s: %w", c.path, err)
		}
		if line.Error != "" {
			return &remoteError{msg: line.Error, code: line.Code}
		}
		for _, v := range line.Certs {
			if err := fn(v); err != nil {
				return err
			}
		}
		if line.End {
			return nil
		}
	}
}

// WriteCertsJSON implements app.Service by copying the daemon's document to
// w as it arrives: the client neither decodes nor re-encodes it.
func (c *Client) WriteCertsJSON(ctx context.Context, f app.CertFilter, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, certsJSONPath+"?"+certQuery(f).Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read certificate list from %s: %w", c.path, err)
	}
	return nil
}

// certQuery is f as the list endpoints read it (parseCertStream).
func certQuery(f app.CertFilter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"state": string(f.State), "after": f.After} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Expiring > 0 {
		q.Set("expiring", f.Expiring.String())
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}
