// Package bench times lstmq side by side with PyTorch and ONNX Runtime on the
// tutorial's protocol (the first N test tokens, batch 1, bptt 25, one thread)
// and prints one table: size, loss, median seconds, the time ratios against
// the anchors, peak memory, batch-1 generation speed and the kernels'
// roofline on the decoder's shape.
//
// lstmq runs as a subprocess (`lstmq eval --json`) so that each run's peak
// RSS is its own. The anchors come from ../shared/bench/anchors.sh, which
// prints one JSON line per run; PyTorch's generation speed from
// bench/torch_generate.py. Python, Node and ONNX Runtime are needed by the
// benchmark only, never by lstmq.
package bench
