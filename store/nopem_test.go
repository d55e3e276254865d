package store

import (
	"encoding/json"
	"testing"
)

func TestCutPEM(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"last member":             {`{"cn":"a","cert_pem":"-----BEGIN\nAB/+==\n"}`, `{"cn":"a"}`},
		"first member":            {`{"cert_pem":"x","cn":"a"}`, `{"cn":"a"}`},
		"only member":             {`{"cert_pem":"x"}`, `{}`},
		"escaped quote inside":    {`{"cn":"a","cert_pem":"x\"y\\","state":"active"}`, `{"cn":"a","state":"active"}`},
		"key text inside a value": {`{"cn":"\"cert_pem\":\"","state":"active"}`, `{"cn":"\"cert_pem\":\"","state":"active"}`},
		"no member":               {`{"cn":"a"}`, `{"cn":"a"}`},
		"spaced":                  {`{"cn":"a", "cert_pem":"x"}`, `{"cn":"a", "cert_pem":"x"}`},
		"unterminated":            {`{"cn":"a","cert_pem":"x`, `{"cn":"a","cert_pem":"x`},
	} {
		t.Run(name, func(t *testing.T) {
			got := string(cutPEM(nil, []byte(tc.in)))
			if got != tc.want {
				t.Fatalf("cutPEM(%s) = %s, want %s", tc.in, got, tc.want)
			}
			if json.Valid([]byte(tc.in)) && !json.Valid([]byte(got)) {
				t.Fatalf("a valid record became invalid: %s", got)
			}
		})
	}
}
