package model

import (
	"fmt"
	"strings"

	"github.com/lstmq/lstmq/internal/f32"
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
	// Forward runs t steps for a batch of b sequences. x is t×b×Input()
	// row-major (time outer), out receives the last layer's hidden states,
	// t×b×Hidden(). s holds each layer's (h, c) and is updated in place.
	Forward(out, x []float32, t, b int, s *State)
	Input() int
	Hidden() int
	Layers() int
	String() string
}

// Projection is an affine map out = x·Wᵀ + bias over m rows of x (m×In()
// row-major) into m×Out().
type Projection interface {
	Forward(out, x []float32, m int)
	In() int
	Out() int
	String() string
}

// State is the recurrent state of a batch: for layer l and sequence j,
// H[(l*Batch+j)*Hidden : …+Hidden] and likewise C, as PyTorch's
// (h, c) tensors of shape (nlayers, batch, nhid).
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

// Model is LSTMModel. Dropout is the p printed by String; it only matters
// when training.
type Model struct {
	Encoder Embedder
	RNN     Recurrent
	Decoder Projection
	Dropout float64

	emb []float32 // scratch: t×b×ninp
	out []float32 // scratch: t×b×nhid
}

// Tokens returns the vocabulary size ntoken.
func (m *Model) Tokens() int { return m.Encoder.Tokens() }

// NewState returns the zero state for a batch, as init_hidden(batch).
func (m *Model) NewState(batch int) *State {
	return NewState(m.RNN.Layers(), batch, m.RNN.Hidden())
}

// Forward runs the model on ids (t×b, time outer) from state s (updated in
// place) and writes the logits, t×b×ntoken, to logits.
func (m *Model) Forward(logits []float32, ids []int32, t, b int, s *State) {
	n := t * b
	if len(ids) < n || len(logits) < n*m.Tokens() {
		panic("model: Forward: short ids or logits")
	}
	m.emb = f32.Grow(m.emb, n*m.Encoder.Dim())
	m.out = f32.Grow(m.out, n*m.RNN.Hidden())
	m.Encoder.Lookup(m.emb, ids[:n])
	m.RNN.Forward(m.out, m.emb, t, b, s)
	m.Decoder.Forward(logits, m.out, n)
}

// String prints the model as PyTorch's print(model) does.
func (m *Model) String() string {
	var sb strings.Builder
	sb.WriteString("LSTMModel(\n")
	fmt.Fprintf(&sb, "  (drop): Dropout(p=%s, inplace=False)\n", pyFloat(m.Dropout))
	fmt.Fprintf(&sb, "  (encoder): %s\n", m.Encoder)
	fmt.Fprintf(&sb, "  (rnn): %s\n", m.RNN)
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
