#!/usr/bin/python3
"""The float16 dynamic-quantized state_dict fixture for quant.LoadPth, from
PyTorch 1.13 (Debian's python3-torch).

Run by hand from the repository root, never by CI:

    /usr/bin/python3 testdata/torch/fp16/gen_fp16.py

It writes to testdata/torch/fp16/:

  fp16.pth    what torch.save(quantize_dynamic(model, {nn.LSTM, nn.Linear},
              dtype=torch.float16).state_dict()) writes, for model the
              float32 RNNModel of testdata/torch/qckpt/fp32.pth
              (Embedding(V,16) -> LSTM(16,16,2) -> Linear(16,V))
  fp16.json   torch_version, ntoken, ninp, nhid, nlayers, batch (10),
              bptt (25), fp32_loss, loss (below)

Debian's PyTorch has no FBGEMM, and quantize_dynamic(dtype=torch.float16)
needs it: linear_prepack_fp16 raises "not supported by ONEDNN". So this
script writes the state dict that FBGEMM's build writes, from PyTorch 1.13's
code:

  - every packed Linear (decoder, each layer's W_ih and W_hh) holds its
    weight clamped to +-65504 (_saturate_weight_to_fp16) and rounded to
    float16 (fbgemm's PackedGemmMatrixFP16), and its bias;
  - LinearPackedParamsBase.__getstate__ returns (weight, bias), the weight
    unpacked back to float32 (PackedLinearWeightFp16::unpack:
    "fp16 weight is serialized as float");
  - the LSTM's CellParamsBase (QuantizedCellParamsFP16::__getstate__) is
    ("quantized_dynamic_fp16", [], [], [], [packed_ih, packed_hh]);
  - decoder._packed_params.dtype is torch.float16; the other keys are
    those of the qint8 state dict.

torch.save pickles a torch.ScriptObject as NEWOBJ of torch.ScriptObject and
BUILD with (state, qualified class name). The script checks its writer by
writing the qint8 model's state dict the same way (the real ScriptObjects
replaced by stand-ins holding their __getstate__()) and comparing data.pkl
with torch.save's own, byte for byte.

loss is evaluate() on the test split (batch 10, bptt 25, from a zero state)
of the float32 model whose LSTM and decoder weights are replaced by those
float16 values: what FBGEMM's float16 dynamic LSTM and Linear compute
(float16 weights converted to float32, float32 products and cells), up to
the order of the float32 sums.
"""
import copyreg
import io
import json
import os
import pickle
import sys
import types
import zipfile

import torch
import torch.nn as nn
from torch.ao.quantization import quantize_dynamic

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH = os.path.dirname(HERE)
sys.path.insert(0, TORCH)
import gen  # noqa: E402  (Corpus, RNNModel, batchify)

NINP, NHID, NLAYERS = 16, 16, 2
BATCH, BPTT = 10, 25
LINEAR = "__torch__.torch.classes.quantized.LinearPackedParamsBase"
CELL = "__torch__.torch.classes.rnn.CellParamsBase"
torch.set_num_threads(1)


class ScriptObject:
    """Stands for a torch.ScriptObject of class qualname with state."""

    def __init__(self, state, qualname):
        self.state, self.qualname = state, qualname

    @property
    def __class__(self):
        # pickle checks that NEWOBJ's class is the object's.
        return torch.ScriptObject


class Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if type(obj) is ScriptObject:
            return (copyreg.__newobj__, (torch.ScriptObject,), (obj.state, obj.qualname))
        return NotImplemented


pickle_module = types.SimpleNamespace(Pickler=Pickler, __name__="pickle_stand_in")


def stand_in(v):
    """Replaces real ScriptObjects (recursively) by stand-ins."""
    if isinstance(v, torch.ScriptObject):
        state, qualname = v.__reduce_ex__(2)[2]  # what torch.save pickles
        return ScriptObject(stand_in(state), qualname)
    if isinstance(v, tuple):
        return tuple(stand_in(x) for x in v)
    if isinstance(v, list):
        return [stand_in(x) for x in v]
    return v


def data_pkl(path):
    with zipfile.ZipFile(path) as z:
        return z.read([n for n in z.namelist() if n.endswith("data.pkl")][0])


def evaluate(model, source):
    crit = nn.CrossEntropyLoss()
    model.eval()
    total = 0.0
    hidden = model.init_hidden(BATCH)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, BPTT):
            seq_len = min(BPTT, len(source) - 1 - i)
            data, targets = source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)
            output, hidden = model(data, hidden)
            total += len(data) * crit(output, targets).item()
    return total / (len(source) - 1)


def fp16(w):
    """_saturate_weight_to_fp16, then fbgemm's round to nearest even float16,
    unpacked back to float32."""
    return w.detach().clamp(-65504.0, 65504.0).half().float()


def main():
    corpus = gen.Corpus(os.path.join(TORCH, "corpus"))
    ntoken = len(corpus.dictionary.idx2word)
    model = gen.RNNModel(ntoken, NINP, NHID, NLAYERS)
    model.load_state_dict(torch.load(os.path.join(TORCH, "qckpt", "fp32.pth")))
    model.eval()
    test = gen.batchify(corpus.test, BATCH)

    # The writer, checked on the qint8 state dict against torch.save.
    torch.backends.quantized.engine = "onednn"
    qm = quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
    sd = qm.state_dict()
    real, mine = io.BytesIO(), io.BytesIO()
    torch.save(sd, real)
    mirror = type(sd)((k, stand_in(v)) for k, v in sd.items())
    mirror._metadata = sd._metadata
    torch.save(mirror, mine, pickle_module=pickle_module)
    real.seek(0)
    mine.seek(0)
    assert data_pkl(real) == data_pkl(mine), "the stand-in writer does not write what torch.save writes"

    # The float16 state dict: the qint8 one's keys, float16 values.
    fsd = type(sd)()
    fsd._metadata = sd._metadata  # the same modules
    params = dict(model.rnn.named_parameters())
    for k, v in sd.items():
        if k == "decoder._packed_params.dtype":
            v = torch.float16
        elif k == "decoder._packed_params._packed_params":
            v = (fp16(model.decoder.weight), model.decoder.bias)
        elif k.startswith("rnn._all_weight_values."):
            layer = int(k.split(".")[2])
            packed = [ScriptObject((fp16(params[f"weight_{x}_l{layer}"]), params[f"bias_{x}_l{layer}"]), LINEAR)
                      for x in ("ih", "hh")]
            v = ScriptObject(("quantized_dynamic_fp16", [], [], [], packed), CELL)
        fsd[k] = v
    torch.save(fsd, os.path.join(HERE, "fp16.pth"), pickle_module=pickle_module)

    ref = gen.RNNModel(ntoken, NINP, NHID, NLAYERS)
    ref.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if name.startswith("rnn.weight") or name == "decoder.weight":
                p.copy_(fp16(p))
    res = {"torch_version": torch.__version__, "ntoken": ntoken, "ninp": NINP, "nhid": NHID,
           "nlayers": NLAYERS, "batch": BATCH, "bptt": BPTT,
           "fp32_loss": evaluate(model, test), "loss": evaluate(ref, test)}
    with open(os.path.join(HERE, "fp16.json"), "w") as f:
        json.dump(res, f, separators=(",", ":"))
        f.write("\n")
    print(res, os.path.getsize(os.path.join(HERE, "fp16.pth")))


if __name__ == "__main__":
    main()
