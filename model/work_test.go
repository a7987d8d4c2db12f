package model

import "testing"

// TestWorkReuse checks that buffers taken after a mark are the same slices
// again after a release, grow when asked for more, and that a nil Work
// hands out fresh ones.
func TestWorkReuse(t *testing.T) {
	w := NewWork(nil)
	mk := w.Mark()
	a, b := w.Float32s(10), w.Uint8s(5)
	c := w.Float32s(3)
	if len(a) != 10 || len(b) != 5 || len(c) != 3 || &a[0] == &c[0] {
		t.Fatalf("lengths %d %d %d, or a and c share memory", len(a), len(b), len(c))
	}
	w.Release(mk)
	a2, b2 := w.Float32s(8), w.Uint8s(5)
	if &a2[0] != &a[0] || &b2[0] != &b[0] {
		t.Error("buffers not reused after Release")
	}
	if c2 := w.Float32s(100); len(c2) != 100 || cap(c) >= 100 && &c2[0] != &c[0] {
		t.Errorf("third buffer: len %d", len(c2))
	}
	w.Release(mk)
	if n := testing.AllocsPerRun(10, func() {
		m := w.Mark()
		w.Float32s(10)
		w.Uint8s(5)
		w.Float32s(100)
		w.Release(m)
	}); n != 0 {
		t.Errorf("%v allocations in steady state", n)
	}
	var none *Work
	if x, y := none.Float32s(4), none.Float32s(4); &x[0] == &y[0] || none.Pool() != nil {
		t.Error("a nil Work must hand out fresh buffers and no pool")
	}
}
