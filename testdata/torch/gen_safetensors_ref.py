#!/usr/bin/python3
"""PyTorch's values for every tensor of quant/model_pytorch.safetensors.

Run by hand from the repository root (needs Debian's python3-torch 1.13):

    /usr/bin/python3 testdata/torch/gen_safetensors_ref.py

quant/model_pytorch.safetensors is lstmq's file of gen_quant.py's model
(quant/model.json) quantized with scheme "pytorch". This script makes the
same model in PyTorch from model.json's state_dict, quantizes it with
quantize_dynamic({nn.LSTM, nn.Linear}, qint8) under the onednn engine, as the
quantization tutorial does (the default dynamic qconfig: per-tensor weights),
and writes quant/model_pytorch_ref.json, which quant's
TestCommittedModelFileMatchesPyTorch compares with every tensor of the file:

  {torch_version, engine,
   tensors: {name: {dtype, shape, values}}}  name as in the safetensors file:
     <w>               I8   int_repr() of the quantized weight w
                            (decoder.weight, rnn.weight_{ih,hh}_l{k})
     <w>.scale         F32  [q_scale()], a float64 here: the file holds it as float32
     <w>.zero_point    I32  [q_zero_point()]
     decoder.bias, rnn.bias_{ih,hh}_l{k}
                       F32  the biases the quantized modules hold (float)
     encoder.weight    F32  the embedding, which quantize_dynamic leaves float

Values are plain JSON numbers: ints, and float32 values as Python floats
(float64), which hold them exactly.
"""
import json
import os

import torch
import torch.nn as nn
from torch.ao.quantization import quantize_dynamic

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant")


class LSTMModel(nn.Module):
    """gen_quant.py's model: word_language_model's RNNModel (LSTM)."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)


def floats(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main():
    with open(os.path.join(HERE, "model.json")) as f:
        fixture = json.load(f)
    model = LSTMModel(fixture["ntoken"], fixture["ninp"], fixture["nhid"], fixture["nlayers"], fixture["dropout"])
    sd = {k: torch.tensor(v["data"], dtype=torch.float32).reshape(v["shape"]) for k, v in fixture["state_dict"].items()}
    model.load_state_dict(sd, strict=True)
    model.eval()
    torch.backends.quantized.engine = "onednn"
    qm = quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)

    tensors = {}

    def quantized(name, q):
        assert q.qscheme() == torch.per_tensor_affine, (name, q.qscheme())
        tensors[name] = {"dtype": "I8", "shape": list(q.shape), "values": q.int_repr().reshape(-1).tolist()}
        tensors[name + ".scale"] = {"dtype": "F32", "shape": [1], "values": [q.q_scale()]}
        tensors[name + ".zero_point"] = {"dtype": "I32", "shape": [1], "values": [q.q_zero_point()]}

    def plain(name, t):
        tensors[name] = {"dtype": "F32", "shape": list(t.shape), "values": floats(t)}

    plain("encoder.weight", qm.encoder.weight)
    w, b = qm.decoder._weight_bias()
    quantized("decoder.weight", w)
    plain("decoder.bias", b)
    wb = qm.rnn._weight_bias()
    for k in range(fixture["nlayers"]):
        for kind in ("ih", "hh"):
            quantized(f"rnn.weight_{kind}_l{k}", wb["weight"][f"weight_{kind}_l{k}"])
            plain(f"rnn.bias_{kind}_l{k}", wb["bias"][f"bias_{kind}_l{k}"])

    out = {"torch_version": torch.__version__, "engine": "onednn",
           "tensors": {k: tensors[k] for k in sorted(tensors)}}
    with open(os.path.join(HERE, "model_pytorch_ref.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(len(tensors), "tensors")


if __name__ == "__main__":
    main()
