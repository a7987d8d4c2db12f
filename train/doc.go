// Package train trains the word-level language models of package model
// (LSTM, GRU, RNN_TANH, RNN_RELU: main.py's --model) as PyTorch's
// word_language_model example (main.py) does: plain SGD on truncated
// backpropagation through time, gradient clipping by the global norm, the
// learning rate divided by 4 when the validation loss does not improve, and
// the best model kept. The saved state_dict loads into the example's
// RNNModel of the same type.
//
// # Forward pass (training)
//
// For a chunk of T steps of B streams (N = T·B rows, time outer), with
// inverted dropout masks m (each entry 0 with probability p, else 1/(1−p)):
//
//	x⁰_t  = m_e ⊙ E[id_t]                              embedding, dropout
//	layer k, with P = W_ih·x^k_t + b_ih and Q = W_hh·h_{t−1} + b_hh:
//	  LSTM:  [ĩ f̃ g̃ õ] = P + Q
//	         i = σ(ĩ), f = σ(f̃), g = tanh(g̃), o = σ(õ)
//	         c_t = f⊙c_{t−1} + i⊙g,  h_t = o⊙tanh(c_t)
//	  GRU:   r = σ(P_r + Q_r), z = σ(P_z + Q_z), n = tanh(P_n + r⊙Q_n)
//	         h_t = (1 − z)⊙n + z⊙h_{t−1}
//	  RNN:   h_t = tanh(Q + P)  or  relu(Q + P)
//	  x^{k+1}_t = m_k ⊙ h_t                             (dropout between layers)
//	y_t   = m_o ⊙ h^{last}_t                            dropout
//	z_t   = W_dec·y_t + b_dec
//	L     = (1/N) Σ_t,b [log Σ_j exp z_j − z_target]     cross-entropy, mean
//
// The state (h, c for the LSTM, h for the others) at the end of a chunk
// starts the next one as values: no gradient flows across chunks (main.py's
// repackage_hidden).
//
// # Backward pass
//
// Written out by hand (no autograd): dz = (softmax(z) − onehot)/N;
// db_dec = Σ_rows dz, dW_dec = dzᵀ·y, dy = dz·W_dec; dropout multiplies by
// its mask; each recurrent layer runs back through time (see layerBackward
// and the step functions lstmStepBack, gruStepBack and rnnStepBack for the
// equations) starting from zero gradients at the chunk's end, giving the
// gradients dP_t and dQ_t of each step's P and Q, then dW_ih = Σ_t dP_tᵀ·x_t,
// dW_hh = Σ_t dQ_tᵀ·h_{t−1}, db_ih = Σ dP_t, db_hh = Σ dQ_t and
// dx_t = dP_t·W_ih (dP = dQ for the LSTM and the RNN, whose P and Q are
// summed before any nonlinearity; the GRU's differ in the n block, as r
// multiplies Q_n); the embedding's gradient is the scatter-add
// dE[id] += dx⁰ over the chunk's rows. With tied weights (decoder weight =
// encoder weight, one tensor) the two gradients are summed.
//
// Then, over all parameters (a tied weight once), ‖g‖ = √Σ g², every
// gradient is scaled by clip/(‖g‖+1e−6) if that is below 1
// (torch.nn.utils.clip_grad_norm_), and p ← p − lr·g.
//
// Everything is float32, as in PyTorch. The big products — the decoder's
// dW = dzᵀ·y and dy = dz·W, N×ntoken×nhid each — go through the SIMD
// kernels of internal/f32 on transposed operands, with pure-Go cache-blocked
// loops as the reference (gemm.go). Every sum is taken in a fixed order, so
// a run is determined by the seed and does not depend on the thread count.
package train
