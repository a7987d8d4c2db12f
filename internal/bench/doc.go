// Package bench times lstmq side by side with PyTorch and ONNX Runtime on the
// tutorial's protocol (the first N test tokens, bptt 25; batch 1 and one
// thread unless asked otherwise) and prints one table: the model's kind,
// size, loss, median seconds, the time ratios against the anchors, peak
// memory, generation speed and the kernels' roofline on the decoder's shape.
//
// lstmq runs as a subprocess (`lstmq eval --json`) so that each run's peak
// RSS is its own. The anchors come from the project's bench/anchors/anchors.sh,
// which prints one JSON line per run (ParseAnchors) for any of the example's
// kinds: PyTorch fp32 and int8 (quantize_dynamic), ONNX Runtime fp32 and, for
// an LSTM, int8 (ONNX Runtime has no int8 GRU or RNN). PyTorch's generation
// speed comes from bench/torch_generate.py. Python, Node and ONNX Runtime are
// needed by the benchmark only, never by lstmq.
package bench
