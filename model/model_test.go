package model

import (
	"math"
	"testing"

	"github.com/lstmq/lstmq/internal/f32"
)

// TestLSTMStepByHand runs one layer with one hidden unit for two steps and
// checks h and c against the gate equations computed here in float64.
func TestLSTMStepByHand(t *testing.T) {
	// W_ih (4×2), W_hh (4×1), gates i, f, g, o.
	wih := []float32{0.5, -0.25, 0.1, 0.2, -0.3, 0.4, 0.05, 0.6}
	whh := []float32{0.3, -0.2, 0.7, 0.1}
	bih := []float32{0.01, 0.02, 0.03, 0.04}
	bhh := []float32{-0.01, 0.5, 0, 0.1}
	l := NewRNN(LSTM, []Layer{{Wih: matrix(wih, 4, 2), Whh: matrix(whh, 4, 1), Bih: bih, Bhh: bhh}}, 2, 1)
	x := []float32{1, 2, -0.5, 0.25}
	out := make([]float32, 2)
	s := NewState(1, 1, 1)
	l.Forward(nil, out, x, 2, 1, s)

	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	h, c := 0.0, 0.0
	for step := range 2 {
		x0, x1 := float64(x[2*step]), float64(x[2*step+1])
		pre := make([]float64, 4)
		for g := range 4 {
			pre[g] = float64(wih[2*g])*x0 + float64(wih[2*g+1])*x1 + float64(bih[g]) + float64(whh[g])*h + float64(bhh[g])
		}
		c = sig(pre[1])*c + sig(pre[0])*math.Tanh(pre[2])
		h = sig(pre[3]) * math.Tanh(c)
		if d := math.Abs(float64(out[step]) - h); d > 1e-6 {
			t.Errorf("step %d: h = %v, want %v", step, out[step], h)
		}
	}
	if math.Abs(float64(s.H[0])-h) > 1e-6 || math.Abs(float64(s.C[0])-c) > 1e-6 {
		t.Errorf("state (%v, %v), want (%v, %v)", s.H[0], s.C[0], h, c)
	}
}

func TestRepr(t *testing.T) {
	for _, c := range []struct {
		layers  int
		dropout float64
		want    string
	}{{5, 0.5, "LSTM(512, 256, num_layers=5, dropout=0.5)"}, {1, 0, "LSTM(512, 256)"}, {2, 0.2, "LSTM(512, 256, num_layers=2, dropout=0.2)"}} {
		if got := Repr("LSTM", LSTM, 512, 256, c.layers, c.dropout); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
	if got := pyFloat(0); got != "0.0" {
		t.Errorf("pyFloat(0) = %s", got)
	}
}

func matrix(w []float32, n, k int) *f32.Matrix { return f32.NewMatrix(w, n, k) }
