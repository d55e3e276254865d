package termsafe

import "testing"

func TestClean(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"ok/plain":           {"device-1", "device-1"},
		"ok/unicode":         {"Gerät Ω 温度", "Gerät Ω 温度"},
		"escaped/csi":        {"\x1b[2J\x1b[31mFAKE: devA revoked by admin", `\x1b[2J\x1b[31mFAKE: devA revoked by admin`},
		"escaped/newline":    {"a\nb\rc\td", `a\x0ab\x0dc\x09d`},
		"escaped/del":        {"a\x7fb", `a\x7fb`},
		"escaped/c1":         {"a\u009bb", `a\u009bb`},
		"escaped/bidi":       {"abc\u202edcba", `abc\u202edcba`},
		"escaped/zero-width": {"ad\u200bmin", `ad\u200bmin`},
		"escaped/separator":  {"a\u2028b", `a\u2028b`},
		"escaped/bad utf-8":  {"a\xffb", `a\xffb`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanDoesNotAllocateForCleanText(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Clean("kp1/demo-v1/dcx/device-1/json") }); n != 0 {
		t.Errorf("Clean allocated %v times for clean text", n)
	}
}
