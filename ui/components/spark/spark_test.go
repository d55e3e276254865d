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

func TestSpan(t *testing.T) {
	tests := map[string]struct {
		in    []float64
		width int
		want  string
	}{
		"ok/empty pads":          {nil, 3, "   "},
		"ok/min to max":          {[]float64{20, 21.5, 23}, 3, "▁▅█"},
		"ok/negative values":     {[]float64{-10, -5, 0}, 3, "▁▅█"},
		"ok/constant mid height": {[]float64{44, 44}, 2, "▄▄"},
		"ok/keeps the last":      {[]float64{100, 1, 2}, 2, "▁█"},
		"ok/left pads short":     {[]float64{1, 2}, 4, "  ▁█"},
		"ok/zero width":          {[]float64{1}, 0, ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Span(tt.in, tt.width); got != tt.want {
				t.Fatalf("Span(%v, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
			}
		})
	}
}

// Rates that wobble around a steady 1 msg/s draw one flat bar.
func TestLineSteadyRateReadsSteady(t *testing.T) {
	got := Line([]float64{1, 1.1, 0.95, 1, 1.05, 1, 1.1, 1}, 8)
	for _, r := range got {
		if r != []rune(got)[0] {
			t.Fatalf("Line of a steady rate = %q, want one level", got)
		}
	}
}
