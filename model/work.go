package model

import "github.com/lstmq/lstmq/internal/parallel"

// Work is what one caller of a model owns: the worker pool its products run
// on and scratch buffers reused from call to call, so that the model's
// weights stay read-only and one model can serve any number of callers,
// each with its own Work (llama.cpp's model/context split). A Work is not
// safe for concurrent use.
//
// Scratch is taken in stack order: a module marks the Work on entry, takes
// the buffers it needs and releases them on return. The i-th buffer taken
// since the mark is the same slice every time, so a steady state allocates
// nothing. A nil *Work is valid: it runs on one thread and allocates fresh
// buffers each time.
type Work struct {
	pool *parallel.Pool

	side  *Work // runAhead's worker's scratch
	ahead ahead // runAhead's task, kept so that a step allocates nothing

	f32s [][]float32
	u8s  [][]uint8
	i32s [][]int32
	nf   int
	nu   int
	ni   int
}

// NewWork returns an empty Work whose products run on pool (nil: one thread).
func NewWork(pool *parallel.Pool) *Work { return &Work{pool: pool} }

// Mark is a point to release a Work's scratch back to.
type Mark struct{ nf, nu, ni int }

// Mark returns the current scratch position.
func (w *Work) Mark() Mark {
	if w == nil {
		return Mark{}
	}
	return Mark{w.nf, w.nu, w.ni}
}

// Release hands back every buffer taken since m.
func (w *Work) Release(m Mark) {
	if w != nil {
		w.nf, w.nu, w.ni = m.nf, m.nu, m.ni
	}
}

// Pool returns the pool the products run on (nil: one thread).
func (w *Work) Pool() *parallel.Pool {
	if w == nil {
		return nil
	}
	return w.pool
}

// Float32s returns the next scratch buffer of n floats. Its contents are
// whatever the last user left.
func (w *Work) Float32s(n int) []float32 {
	if w == nil {
		return make([]float32, n)
	}
	return take(&w.f32s, &w.nf, n)
}

// Uint8s returns the next scratch buffer of n bytes.
func (w *Work) Uint8s(n int) []uint8 {
	if w == nil {
		return make([]uint8, n)
	}
	return take(&w.u8s, &w.nu, n)
}

// Int32s returns the next scratch buffer of n int32s.
func (w *Work) Int32s(n int) []int32 {
	if w == nil {
		return make([]int32, n)
	}
	return take(&w.i32s, &w.ni, n)
}

// take returns buffer *next of bufs, grown to n, and advances *next.
func take[T any](bufs *[][]T, next *int, n int) []T {
	if *next == len(*bufs) {
		*bufs = append(*bufs, nil)
	}
	b := (*bufs)[*next]
	if cap(b) < n {
		b = make([]T, n)
		(*bufs)[*next] = b
	}
	*next++
	return b[:n]
}
