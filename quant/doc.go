// Package quant quantizes the LSTM language model dynamically, as PyTorch's
// quantize_dynamic({nn.LSTM, nn.Linear}, dtype=torch.qint8) does, and offers
// better schemes beside it.
//
// # The PyTorch scheme
//
// Weights (each weight_ih_l{k}, weight_hh_l{k} and decoder.weight on its
// own) are quantized once, symmetric int8, by MinMaxObserver with
// per_tensor_symmetric:
//
//	m     = max(−min(w, 0), max(w, 0))
//	scale = max(float32(m / 127.5), eps32)
//	q     = clamp(round_half_even(w · float32(1/scale)), −128, 127)
//
// (at::native::quantize_val multiplies by the float32 inverse; FBGEMM does
// the same, see its Quantize.) Activations are quantized on every call, per
// tensor, to uint8 with FBGEMM's ChooseQuantizationParams
// (ChooseActivationParams here) over [min(x,0), max(x,0)] into [0, qmax],
// qmax = 127 because the dynamic modules pass reduce_range=True:
//
//	x_q = clamp(round_half_even(fma(x, float32(1/s), zp)), 0, qmax)
//
// (FBGEMM's QuantizeAvx2, internal/q8.QuantizeU8; at::quantize_per_tensor,
// which QNNPACK uses, computes zp + round_half_even(x·float32(1/s)), which
// differs only when x·(1/s) is within an ulp of a half.)
// The product is exact in int32 and dequantized per output:
//
//	out[i,j] = float32(acc[i,j] − zp·Σ_k W_q[j,k]) · (s·scale_j) + bias[j]
//
// That is FBGEMM's arithmetic, which lstmq's own schemes (act8, blocks)
// keep. Debian's PyTorch has no FBGEMM: its onednn engine rounds otherwise
// (onednn.go), and the schemes that reproduce quantize_dynamic (pytorch,
// channel) follow it bit for bit, with PyTorch's own LSTM cell.
//
// The LSTM follows aten/src/ATen/native/RNN.cpp (FullLayer, CPU path): the
// input projection W_ih runs once over the whole chunk (t·b rows, one
// activation scale for all steps), the recurrent projection W_hh once per
// step over the batch; each projection carries its own bias (b_ih, b_hh,
// fp32) and the gates are (W_hh·h + b_hh) + (W_ih·x + b_ih). Gate
// nonlinearities, cell and hidden state stay fp32; so does the embedding.
//
// # Better schemes
//
// Scheme switches each improvement: per-channel weights (one symmetric scale
// per output row, PyTorch's per_channel_dynamic_qconfig), full 8-bit
// activations (qmax 255, as QNNPACK uses; exact only when the int8 kernel
// cannot saturate), a row-wise 8-bit embedding (PyTorch's
// float_qparams_weight_only_qconfig: per-row scale = (max−min)/255 and a float
// offset), and block-wise weight scales (one symmetric scale per row and per
// block of B inputs, as GGML's Q8_0 with B = 32).
//
// Block scales run on internal/q8's block-scaled product (exact int32 sums
// per block, one fused multiply-add per block into a float32 sum) at about
// 1.05–1.25× the time of one per-tensor product. On heavy-tailed random
// weights (TestSchemesHeavyTailed) they gain about 1.7 dB of logits SQNR over
// per-channel scales, against 8–12 dB for per-channel over per-tensor.
//
// # Below 8 bits
//
// The low-bit formats (LowBit, lowbit.go: q{b}_0, q{b}_1, q{b}_k, b from 2
// to 8) and b-bit embeddings store packed codes in the file and run, once
// loaded, on the same block-scaled int8 product: a code u becomes the int8
// u − 2^(b−1) with its block's scale, and an affine format adds its blocks'
// offsets times the activations' block sums. Their scales are fitted by a
// grid search (fit.go), optionally weighted by calibration importances
// (-imatrix), or the weights are quantized by GPTQ (-gptq, gptq.go and
// internal/gptq) on the Hessians Calibrate collects from a float32 run.
// Sensitivity and ChoosePlan pick a format per matrix for a target size
// (plan.go).
//
// Quantize returns a model.Model with Encoder, RNN and Decoder swapped for
// the types of this package; Save and Load store it in a safetensors file
// (layout in file.go) that needs nothing else to run: architecture, scheme
// and vocabulary are in its metadata. Report measures each layer's SQNR and
// the loss when only it is quantized.
//
// LoadPth reads what PyTorch's quantize_dynamic writes: torch.save of the
// quantized model's state_dict, with PyTorch's int8 weights and scales used
// as they are (per tensor or per channel), not quantized again.
//
// Golden tests compare with PyTorch 1.13 (testdata/torch/gen_quant.py): the
// int8 weights and scales are equal to int_repr() and q_scale(); with the
// onednn engine (reduce_range, like FBGEMM) scheme "pytorch" and with
// qnnpack (full range) scheme "act8" give the same activation codes, and
// outputs and losses equal to float32 rounding. For files written by
// quantize_dynamic (testdata/torch/gen_qckpt.py) LoadPth reads int8
// weights and scales equal to PyTorch's, the model equal to Quantize's
// from the float32 file, and losses within 3e-7 of PyTorch's.
package quant
