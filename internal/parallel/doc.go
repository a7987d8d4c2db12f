// Package parallel runs loops over index ranges on a fixed set of worker
// goroutines.
//
// A Pool belongs to whoever owns the work (a model, a trainer), never to the
// process: two models may run with different thread counts side by side.
// Kernels split their output rows into contiguous ranges, one per worker, so
// a result never depends on how many workers computed it.
package parallel
