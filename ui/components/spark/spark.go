// Package spark renders a one-line rune sparkline. It is used per row of the
// connections table and per field of the telemetry view, where a full chart
// model per row would be far too heavy with a thousand clients; this is a
// string join over a few floats.
package spark

import (
	"strings"

	"github.com/gatehouse/gatehouse/ui/common"
)

var levels = []rune("▁▂▃▄▅▆▇█")

// Line renders the last width values as a sparkline, scaled to the largest
// of them. An all-zero window renders as a flat baseline, which still says
// "connected but silent"; fewer values than width are left-padded.
func Line(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
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
