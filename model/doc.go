// Package model is the word-level recurrent language model of PyTorch's
// word_language_model example (RNNModel) and of its dynamic quantization
// tutorial (LSTMModel):
//
//	Embedding(ntoken, ninp) → Dropout → LSTM | GRU | RNN(ninp, nhid, nlayers) → Dropout → Linear(nhid, ntoken)
//
// The recurrent kind (Kind: LSTM, GRU, RNN_TANH, RNN_RELU, as the
// example's --model flag names them) is found from the shapes of a
// checkpoint: W_hh has 4·nhid rows for an LSTM, 3·nhid for a GRU, nhid for
// an RNN (whose nonlinearity a state_dict does not record).
//
// Its three parts sit behind interfaces (Embedder, Recurrent, Projection) so
// that quantized implementations can be swapped in, as PyTorch's
// quantize_dynamic swaps nn.LSTM, nn.GRU and nn.Linear for their dynamic
// quantized versions. Dropout acts only in training and so does not appear
// here.
//
// A Model holds weights only. Whoever runs it brings a Work (scratch buffers
// and the worker pool) and a State, so one Model serves any number of
// callers at once. Run is the one recurrent loop; an implementation differs
// only in its Gates (the order of the additions, the pointwise cell).
package model
