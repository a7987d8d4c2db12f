// Package tutorial runs PyTorch's "Dynamic Quantization on an LSTM Word
// Language Model" tutorial end to end, in its order and with its printed
// formats: the model's structure, 1000 generated words, the quantized
// structure, "Size (MB):" of both, and "loss:" / "elapsed time (seconds):"
// of both on the test split, single thread; then a comparison table, and
// optionally JSON and a chart.
//
// Without a corpus and a model it makes both: a synthetic corpus (package
// synth) and a small LSTM trained on it by package train, so the whole
// story runs offline in about a minute.
package tutorial
