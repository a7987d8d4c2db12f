// Package lstmq runs the word-level recurrent language models of PyTorch's
// word_language_model example (Embedding → multi-layer LSTM, GRU or RNN →
// Linear) and of its tutorial "Dynamic Quantization on an LSTM Word
// Language Model", in float32, 16-bit or int8, inside a Go program. Open
// reads the example's state_dicts (WithNonlinearity tells a relu RNN from
// a tanh one) and the model.pt files its main.py saves.
//
//	m, err := lstmq.Open("model.pth", lstmq.WithVocabulary("data/wikitext-2"), lstmq.WithThreads(2))
//	q, err := m.Quantize("pytorch")
//	s := q.NewSession()
//	res, err := s.Score(ctx, []string{"the cat sat on the mat"})
//
// A Model is immutable after Open or Quantize and safe for concurrent use
// by any number of Sessions. A Session holds one recurrent state and its
// own scratch buffers; it is not safe for concurrent use.
//
// # Scoring convention
//
// Words are split as the corpus splits them (Python's str.split). Each
// sentence w1 … wn is scored from the zero state as the continuation of
// <eos>: the input is <eos> w1 … wn and the targets are w1 … wn <eos>, so
// n+1 log-probabilities (natural log) are summed. This is how the model saw
// the start of every line in training. A word not in the vocabulary is
// scored as <unk> and marked Unknown when the vocabulary has <unk>;
// otherwise it is an error (ErrUnknownWord) naming the word. An empty
// sentence scores <eos> after <eos>.
//
// Score runs many sentences as one padded batch, sorted by length. In
// float32 the results equal scoring one sentence at a time within 1e-5 per
// sentence. In int8 the activations' scale is chosen per call over the
// batch, as PyTorch does, so batched results differ slightly from one at a
// time; at batch size 1 they equal PyTorch's quantize_dynamic.
package lstmq
