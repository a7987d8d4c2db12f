// Package model is the word-level LSTM language model of PyTorch's
// word_language_model example and of its dynamic quantization tutorial:
//
//	LSTMModel: Embedding(ntoken, ninp) → Dropout → LSTM(ninp, nhid, nlayers) → Dropout → Linear(nhid, ntoken)
//
// Its three parts sit behind interfaces (Embedder, Recurrent, Projection) so
// that quantized implementations can be swapped in, as PyTorch's
// quantize_dynamic swaps nn.LSTM and nn.Linear for their dynamic quantized
// versions. Dropout acts only in training and so does not appear here.
//
// A Model holds weights only. Whoever runs it brings a Work (scratch buffers
// and the worker pool) and a State, so one Model serves any number of
// callers at once. RunLSTM is the one LSTM loop; an implementation differs
// only in its Gates (the order of the gate additions, the pointwise cell).
package model
