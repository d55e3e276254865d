package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// WriteCertsJSON implements Service: the certificates go out as EachCert
// reads them, a page at a time.
func (a *App) WriteCertsJSON(ctx context.Context, f CertFilter, w io.Writer) error {
	return WriteJSONArray(w, func(add func(any) error) error {
		return a.EachCert(ctx, f, func(v CertView) error { return add(v) })
	})
}

// WriteJSONArray writes the elements each adds as a JSON array, one at a
// time, byte for byte as the command line's --json output writes a whole
// slice (two-space indent, HTML characters unescaped, a final newline;
// "[]" when empty). An error from each is returned after the elements
// before it were written, without the closing bracket.
func WriteJSONArray(w io.Writer, each func(add func(any) error) error) error {
	out := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("  ", "  ") // one level in
	enc.SetEscapeHTML(false)  // "a -> b" stays readable
	n := 0
	err := each(func(v any) error {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		sep := ",\n  "
		if n == 0 {
			sep = "[\n  "
		}
		n++
		out.WriteString(sep)
		_, err := out.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return err
	})
	if err != nil {
		out.Flush()
		return err
	}
	end := "\n]\n"
	if n == 0 {
		end = "[]\n"
	}
	out.WriteString(end)
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
