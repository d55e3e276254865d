package spark

import "testing"

func TestLine(t *testing.T) {
	tests := map[string]struct {
		in    []float64
		width int
		want  string
	}{
		"ok/empty pads":      {nil, 3, "   "},
		"ok/flat zero":       {[]float64{0, 0}, 2, "▁▁"},
		"ok/scaled to peak":  {[]float64{0, 5, 10}, 3, "▁▅█"},
		"ok/keeps the last":  {[]float64{10, 0, 10}, 2, "▁█"},
		"ok/left pads short": {[]float64{1}, 3, "  █"},
		"ok/zero width":      {[]float64{1}, 0, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Line(tt.in, tt.width); got != tt.want {
				t.Fatalf("Line(%v, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
			}
		})
	}
}
