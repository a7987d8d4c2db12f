package model

import (
	"fmt"
	"strings"
)

// Embedder maps token ids to vectors: dst[i*Dim() : (i+1)*Dim()] = E[ids[i]].
type Embedder interface {
	Lookup(dst []float32, ids []int32)
	Tokens() int
	Dim() int
	String() string
}

// Recurrent is a multi-layer recurrent network run over a chunk of time steps.
type Recurrent interface {
	// Kind is the cell: LSTM, GRU, RNN_TANH or RNN_RELU.
	Kind() Kind
	// Forward runs t steps for a batch of b sequences. x is t×b×Input()
	// row-major (time outer), out receives the last layer's hidden states,
	// t×b×Hidden(). s holds each layer's h (and c, for LSTM) and is
	// updated in place.
	Forward(w *Work, out, x []float32, t, b int, s *State)
	Input() int
	Hidden() int
	Layers() int
	// Repr prints the module as PyTorch does, with dropout p between
	// layers (which acts only in training: the model holds it, not the
	// module).
	Repr(p float64) string
}

// Projection is an affine map out = x·Wᵀ + bias over m rows of x (m×In()
// row-major) into m×Out().
type Projection interface {
	Forward(w *Work, out, x []float32, m int)
	// ForwardBlocks computes what Forward(w, out, x, m) computes, rows at a
	// time: emit receives out's rows [r0, r1) in a buffer it must not keep.
	// It stops at emit's first error and returns it. A quantized
	// projection quantizes its input once over all m rows, so the blocks
	// equal Forward's rows exactly.
	ForwardBlocks(w *Work, x []float32, m, rows int, emit func(out []float32, r0, r1 int) error) error
	In() int
	Out() int
	String() string
}

// State is the recurrent state of a batch: for layer l and sequence j,
// H[(l*Batch+j)*Hidden : …+Hidden] and likewise C, as PyTorch's
// (h, c) tensors of shape (nlayers, batch, nhid). GRU and RNN have h
// alone: their C stays zero.
type State struct {
	Layers, Batch, Hidden int
	H, C                  []float32
}

// NewState returns a zero state, as the model's init_hidden(batch).
func NewState(layers, batch, hidden int) *State {
	return &State{Layers: layers, Batch: batch, Hidden: hidden,
		H: make([]float32, layers*batch*hidden), C: make([]float32, layers*batch*hidden)}
}

// Reset zeroes the state.
func (s *State) Reset() {
	clear(s.H)
	clear(s.C)
}

// Model is the example's RNNModel (the tutorial's LSTMModel when its RNN is
// an LSTM). Dropout is the p printed by String; it only matters when
// training. A Model holds no state of its own: it is safe for
// concurrent use when each caller passes its own Work and State.
type Model struct {
	Encoder Embedder
	RNN     Recurrent
	Decoder Projection
	Dropout float64
}

// Kind returns the recurrent cell: LSTM, GRU, RNN_TANH or RNN_RELU.
func (m *Model) Kind() Kind { return m.RNN.Kind() }

// Tokens returns the vocabulary size ntoken.
func (m *Model) Tokens() int { return m.Encoder.Tokens() }

// NewState returns the zero state for a batch, as init_hidden(batch).
func (m *Model) NewState(batch int) *State {
	return NewState(m.RNN.Layers(), batch, m.RNN.Hidden())
}

// Forward runs the model on ids (t×b, time outer) from state s (updated in
// place) and writes the logits, t×b×ntoken, to logits. Ids must be in
// [0, Tokens()).
func (m *Model) Forward(w *Work, logits []float32, ids []int32, t, b int, s *State) {
	if len(logits) < t*b*m.Tokens() {
		panic("model: Forward: short logits")
	}
	mk := w.Mark()
	defer w.Release(mk)
	out := w.Float32s(t * b * m.RNN.Hidden())
	m.Hidden(w, out, ids, t, b, s)
	m.Decoder.Forward(w, logits, out, t*b)
}

// Hidden runs the embedding and the recurrent layers on ids (t×b, time
// outer) from state s (updated in place) and writes the last layer's
// outputs, t×b×nhid, to out: Forward without the decoder.
func (m *Model) Hidden(w *Work, out []float32, ids []int32, t, b int, s *State) {
	n := t * b
	if len(ids) < n || len(out) < n*m.RNN.Hidden() {
		panic("model: Hidden: short ids or out")
	}
	mk := w.Mark()
	defer w.Release(mk)
	emb := w.Float32s(n * m.Encoder.Dim())
	m.Encoder.Lookup(emb, ids[:n])
	m.RNN.Forward(w, out, emb, t, b, s)
}

// Clone returns an independent copy of the state.
func (s *State) Clone() *State {
	return &State{Layers: s.Layers, Batch: s.Batch, Hidden: s.Hidden,
		H: append([]float32(nil), s.H...), C: append([]float32(nil), s.C...)}
}

// String prints the model as PyTorch's print(model) does: the tutorial's
// LSTMModel for an LSTM, the example's RNNModel for the other kinds.
func (m *Model) String() string {
	var sb strings.Builder
	if m.Kind() == LSTM {
		sb.WriteString("LSTMModel(\n")
	} else {
		sb.WriteString("RNNModel(\n")
	}
	fmt.Fprintf(&sb, "  (drop): Dropout(p=%s, inplace=False)\n", pyFloat(m.Dropout))
	fmt.Fprintf(&sb, "  (encoder): %s\n", m.Encoder)
	fmt.Fprintf(&sb, "  (rnn): %s\n", m.RNN.Repr(m.Dropout))
	fmt.Fprintf(&sb, "  (decoder): %s\n", m.Decoder)
	sb.WriteString(")")
	return sb.String()
}

// pyFloat formats f as Python's repr of a float does for the values a
// dropout takes (0.5 → "0.5", 0 → "0.0").
func pyFloat(f float64) string {
	s := fmt.Sprintf("%v", f)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}
