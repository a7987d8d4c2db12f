// Package parallel runs loops over index ranges on a fixed set of worker
// goroutines.
//
// A Pool belongs to whoever owns the work (a model, a trainer), never to the
// process: two models may run with different thread counts side by side.
// Kernels split their output rows into contiguous ranges, one per worker, so
// a result never depends on how many workers computed it.
//
// Batch-1 work hands out a range every few microseconds, so the workers and
// the caller poll for each other's news for a while (yielding to the
// process's other goroutines) before they park: parking and waking cost
// more than the ranges themselves.
package parallel
