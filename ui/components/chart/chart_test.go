package chart

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	tests := map[string]struct {
		in            []float64
		width, height int
		want          []string
	}{
		"ok/min to max": {[]float64{20, 21, 22, 23}, 9, 2, []string{
			"23 ┤   ▃█",
			"20 ┤ ▁▆██",
		}},
		"ok/left pads short window": {[]float64{1, 2, 3}, 8, 2, []string{
			"3 ┤   ▁█",
			"1 ┤  ▁██",
		}},
		"ok/widens a short window": {[]float64{1, 2}, 8, 2, []string{
			"2 ┤   ██",
			"1 ┤ ▁▁██",
		}},
		"ok/scales what is shown": {[]float64{100, 0, 10}, 6, 1, []string{
			" 10 ┤▄",
		}},
		"ok/constant at half height": {[]float64{44, 44}, 6, 2, []string{
			"44 ┤  ",
			"44 ┤██",
		}},
		"ok/middle label from five rows": {[]float64{0, 79}, 9, 5, []string{
			"   79 ┤ █",
			"      │ █",
			"38.49 ┤ █",
			"      │ █",
			"    0 ┤▁█",
		}},
		"ok/empty has no labels": {nil, 4, 2, []string{
			" │  ",
			" │  ",
		}},
		"ok/zero size": {[]float64{1}, 0, 3, []string{""}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := Render(tt.in, tt.width, tt.height, 0, Styles{})
			if want := strings.Join(tt.want, "\n"); got != want {
				t.Fatalf("Render =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// Charts stacked in one view share the widest label, so their plots align.
func TestRenderLabelWidth(t *testing.T) {
	a, b := []float64{1, 2}, []float64{100, 200}
	lw := max(LabelWidth(a, 2), LabelWidth(b, 2))
	if lw != 3 {
		t.Fatalf("LabelWidth = %d, want 3", lw)
	}
	want := "  2 ┤  █\n  1 ┤ ▁█"
	if got := Render(a, 8, 2, lw, Styles{}); got != want {
		t.Fatalf("Render =\n%s\nwant\n%s", got, want)
	}
}
