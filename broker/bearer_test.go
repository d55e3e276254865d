package broker

import (
	"net/http"
	"testing"
)

func TestBearerToken(t *testing.T) {
	for name, tc := range map[string]struct {
		header string
		tok    string
		ok     bool
	}{
		"ok/none":              {"", "", true},
		"ok/bearer":            {"Bearer abc.def.ghi", "abc.def.ghi", true},
		"ok/scheme any case":   {"bEaReR abc.def.ghi", "abc.def.ghi", true},
		"ok/extra spaces":      {"Bearer   abc.def.ghi  ", "abc.def.ghi", true},
		"fail/basic":           {"Basic ZGV2MTpzZWNyZXQ=", "", false},
		"fail/scheme only":     {"Bearer", "", false},
		"fail/empty token":     {"Bearer   ", "", false},
		"fail/two tokens":      {"Bearer a b", "", false},
		"fail/no scheme":       {"abc.def.ghi", "", false},
		"fail/bearer in token": {"Token Bearer", "", false},
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			tok, ok := bearerToken(h)
			if tok != tc.tok || ok != tc.ok {
				t.Fatalf("bearerToken(%q) = %q, %v; want %q, %v", tc.header, tok, ok, tc.tok, tc.ok)
			}
		})
	}
}

// error_description takes printable ASCII but " and \ (RFC 6750 3): a
// reason quoting what a client sent must not break the header's syntax.
func TestBearerErrorDescription(t *testing.T) {
	got := bearerError("invalid_token", "kid \"x\\y\"\n é")
	want := `Bearer realm="gatehouse", error="invalid_token", error_description="kid ?x?y?? ?"`
	if got != want {
		t.Fatalf("challenge %s, want %s", got, want)
	}
}
