package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/gatehouse/gatehouse/ui/termsafe"
)

// warnHandler prints warnings and errors of a short-lived command as single
// lines on stderr ("gatehouse: warning: ..."), the way the command's own
// errors read; info and debug records are dropped.
type warnHandler struct{ w io.Writer }

// warnLogger is the logger of an App opened for one command.
func warnLogger(w io.Writer) *slog.Logger { return slog.New(warnHandler{w}) }

// Enabled keeps warnings and errors only.
func (h warnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

// Handle writes the message and its attributes on one line.
func (h warnHandler) Handle(_ context.Context, r slog.Record) error {
	line := "gatehouse: warning: " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	})
	_, err := fmt.Fprintln(h.w, termsafe.Clean(line))
	return err
}

// WithAttrs is not needed by the App's warnings; it keeps the handler as is.
func (h warnHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup keeps the handler as is, see WithAttrs.
func (h warnHandler) WithGroup(string) slog.Handler { return h }
