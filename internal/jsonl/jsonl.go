// Package jsonl writes the fields of the JSON lines that lstmq score and
// the Beam pipeline print, one value at a time into a buffer, so that both
// spell a sentence's scores the same way.
package jsonl

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// String writes s as a JSON string, "<" and ">" as they are.
func String(b *bytes.Buffer, s string) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	e.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

// Float writes v as a JSON number (the shortest form that reads back as
// v), or null when it is not finite (a model whose weights hold NaN).
func Float(b *bytes.Buffer, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		b.WriteString("null")
		return
	}
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
}
