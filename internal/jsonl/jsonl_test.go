package jsonl

import (
	"bytes"
	"math"
	"testing"
)

func TestFields(t *testing.T) {
	var b bytes.Buffer
	String(&b, "a <b> \"c\"\n")
	b.WriteByte(' ')
	Float(&b, -16.837518572807312)
	b.WriteByte(' ')
	Float(&b, math.NaN())
	b.WriteByte(' ')
	Float(&b, math.Inf(-1))
	if got, want := b.String(), `"a <b> \"c\"\n" -16.837518572807312 null null`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
