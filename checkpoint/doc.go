// Package checkpoint turns model files into models: PyTorch state_dicts
// (.pth, read by package pth) and lstmq's quantized safetensors files. It
// holds the explicit table from state_dict keys to model parameters:
//
//	encoder.weight            ntoken×ninp
//	rnn.weight_ih_l{k}        4·nhid×(k == 0 ? ninp : nhid)
//	rnn.weight_hh_l{k}        4·nhid×nhid
//	rnn.bias_ih_l{k}          4·nhid
//	rnn.bias_hh_l{k}          4·nhid
//	decoder.weight            ntoken×nhid
//	decoder.bias              ntoken
//
// ntoken, ninp, nhid and nlayers are read from the shapes.
//
// The state dicts of models quantized by PyTorch's quantize_dynamic(model,
// {nn.LSTM, nn.Linear}, dtype=torch.qint8) have other keys: for them
// ParamsFromStateDict returns ErrQuantized, and quant.LoadPth runs them
// with PyTorch's own int8 weights and scales.
package checkpoint
