package broker

import (
	"bytes"
	"testing"
)

// TestFrameGuardFollowsSplitStreams feeds packet streams cut at every
// possible read boundary: the guard passes every byte before a packet over
// the limit and none of its body, wherever its fixed header was split.
func TestFrameGuardFollowsSplitStreams(t *testing.T) {
	small := []byte{0x30, 0x03, 0, 1, 't'}                      // PUBLISH, 5 bytes
	atLimit := append([]byte{0x30, 0x7E}, make([]byte, 126)...) // 128 bytes
	over := []byte{0x30, 0x80, 0x01}                            // claims 128: 131 bytes
	huge := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}                // claims 256 MiB
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, tc := range map[string]struct {
		stream []byte
		pass   int // bytes handed on before the refusal; -1: no refusal
	}{
		"ok/small packets":            {cat(small, small, small), -1},
		"ok/a packet at the limit":    {cat(small, atLimit, small), -1},
		"fail/over after two packets": {cat(small, atLimit, over), len(small) + len(atLimit)},
		"fail/four-byte length":       {cat(small, huge), len(small)},
		"fail/first packet":           {huge, 0},
	} {
		t.Run(name, func(t *testing.T) {
			for cut := 1; cut <= len(tc.stream); cut++ {
				g := frameGuard{max: 128}
				passed, refused := 0, false
				for rest := tc.stream; len(rest) > 0 && !refused; {
					chunk := rest[:min(cut, len(rest))]
					rest = rest[len(chunk):]
					n, over := g.scan(chunk)
					passed += n
					refused = over
				}
				if want := tc.pass >= 0; refused != want {
					t.Fatalf("reads of %d bytes: refused %v, want %v", cut, refused, want)
				}
				// Earlier reads may have passed the first bytes of the refused
				// packet's fixed header (at most 4), never any of its body.
				if refused && (passed < tc.pass || passed > tc.pass+4) {
					t.Fatalf("reads of %d bytes: passed %d bytes, want %d to %d", cut, passed, tc.pass, tc.pass+4)
				}
				if !refused && passed != len(tc.stream) {
					t.Fatalf("reads of %d bytes: passed %d of %d bytes", cut, passed, len(tc.stream))
				}
			}
		})
	}
}
