// Package spark renders a one-line rune sparkline. It is used per row of the
// connections table and per field of the telemetry view, where a full chart
// model per row would be far too heavy with a thousand clients; this is a
// string join over a few floats.
package spark

import (
	"math"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/ui/common"
)

var levels = []rune("▁▂▃▄▅▆▇█")

// Line renders the last width values as a sparkline, scaled from zero to
// the largest of them rounded up to 1, 2 or 5 times a power of ten. Values
// within 15% of the window's median draw at the median's height, so a
// steady rate reads steady: a 1 msg/s device measured as 0.95, 1 and
// 1.1 msg/s is one flat line, not a jagged one. An all-zero window renders
// as a flat baseline, which still says "connected but silent"; fewer values
// than width are left-padded.
func Line(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	values = steady(values)
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	peak = ceiling(peak)
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(values)))
	for _, v := range values {
		i := 0
		if peak > 0 && v > 0 {
			i = min(len(levels)-1, int(v/peak*float64(len(levels)-1)+0.5))
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}

// steady returns values with those within 15% of their median replaced by
// the median; values is not changed.
func steady(values []float64) []float64 {
	if len(values) < 2 {
		return values
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	out := slices.Clone(values)
	for i, v := range out {
		if math.Abs(v-med) <= 0.15*med {
			out[i] = med
		}
	}
	return out
}

// ceiling rounds v > 0 up to 1, 2 or 5 times a power of ten.
func ceiling(v float64) float64 {
	if v <= 0 {
		return 0
	}
	step := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*step*(1+1e-9) {
			return m * step
		}
	}
	return 10 * step
}

// Span renders the last width values as a sparkline scaled from their
// minimum to their maximum, for measurements such as a temperature between
// 20 and 23 that Line, scaled from zero, would draw as a flat top. A
// constant window renders at mid height; fewer values are left-padded.
func Span(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	lo, hi := common.Bounds(values)
	top := len(levels) - 1
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(values)))
	for _, v := range values {
		i := top / 2
		if hi > lo {
			i = int((v-lo)/(hi-lo)*float64(top) + 0.5)
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}
