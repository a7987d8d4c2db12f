package pth

import (
	"strings"
	"testing"
)

// TestUnpicklePanics: a panic of gopickle on a malformed pickle (LONG1 of
// length 0 indexes byte -1) is an error; a panic of this package's own
// code that gopickle calls (here persistent_load) is not recovered.
func TestUnpicklePanics(t *testing.T) {
	_, err := unpickle([]byte("\x80\x02\x8a\x00."), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "pickle: malformed (") {
		t.Errorf("gopickle's panic: error %v, want pickle: malformed (…)", err)
	}

	// A persistent id ('x',) then BINPERSID.
	pkl := []byte("\x80\x02X\x01\x00\x00\x00x\x85Q.")
	defer func() {
		if p := recover(); p != "ours" {
			t.Errorf("recovered %v, want the panic of persistent_load", p)
		}
	}()
	v, err := unpickle(pkl, func(any) (any, error) { panic("ours") })
	t.Errorf("unpickle returned %v, %v; want a panic", v, err)
}
