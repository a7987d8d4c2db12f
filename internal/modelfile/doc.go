// Package modelfile turns a model file into a runnable model: the one place
// that knows lstmq's formats and tells them apart.
//
//   - a PyTorch state_dict (.pth, zip or legacy) of the float32 model, read
//     by pth and checked against checkpoint's key table;
//   - the state_dict of a model quantized by quantize_dynamic, read by the
//     same pass and built by quant.FromStateDict;
//   - an lstmq model (.safetensors), read by quant.
//
// Each file is read once.
package modelfile
