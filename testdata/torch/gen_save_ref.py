#!/usr/bin/python3
"""Write what torch.save(model.state_dict(), path) writes, for pth.Save to match byte for byte.

Run by hand, never by CI:

    cd testdata/torch && /usr/bin/python3 gen_save_ref.py

Needs PyTorch (written against Debian's python3-torch 1.13; other versions
lay the archive out differently, e.g. 2.x adds a byteorder entry).

The model is the dynamic quantization tutorial's LSTMModel (PyTorch's
word_language_model RNNModel with an LSTM): submodules drop, encoder, rnn,
decoder, in that order, so that the state dict's _metadata is what the
tutorial's print_size_of_model saves. Its weights are loaded from deep.pth
and tied.pth (written by gen.py); for tied.pth decoder.weight is
encoder.weight, as word_language_model's --tied makes it.

Outputs (the archive folder is named after the file, "deep/" for deep.pth,
so Go must save to a file of the same name to match)
  save_ref/deep.pth, save_ref/tied.pth   torch.save(model.state_dict(), path)
  save_ref/plain.pth   a plain OrderedDict (no _metadata): a 2x3 tensor and a
      second key viewing its storage, a scalar, an empty (0, 4) tensor, a
      4-d tensor, an empty (0, 70000) tensor
  save_ref/many.pth    1001 keys (a batch of 1000 in SETITEMS, then a lone
      SETITEM; memo slots past 255), the first 100 viewing one storage, the
      others another (LONG_BINGET of its key), with _metadata
      {'': {'version': 1}} (a lone SETITEM)

With --size, instead prints the size of torch.save(model.state_dict(),
"temp.p") for the tutorial's model (Embedding(33278, 512), LSTM(512, 256, 5),
Linear(256, 33278)), as print_size_of_model does, and writes nothing else.
"""

import collections
import os
import sys
import tempfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class LSTMModel(nn.Module):
    """The tutorial's LSTMModel; tie_weights as in word_language_model."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            assert nhid == ninp
            self.decoder.weight = self.encoder.weight
        self.nhid = nhid
        self.nlayers = nlayers


def reference(name, tied):
    src = torch.load(os.path.join(HERE, name + ".pth"))
    ntoken, ninp = src["encoder.weight"].shape
    nhid = src["decoder.weight"].shape[1]
    nlayers = sum(1 for k in src if k.startswith("rnn.weight_ih_l"))
    model = LSTMModel(ntoken, ninp, nhid, nlayers, tie_weights=tied)
    model.load_state_dict(src, strict=True)
    sd = model.state_dict()
    assert list(sd.keys()) == list(src.keys())
    if tied:
        assert sd["decoder.weight"].data_ptr() == sd["encoder.weight"].data_ptr()
    save(sd, name + ".pth")
    print("_metadata", dict(sd._metadata))


def plain():
    w = torch.arange(6, dtype=torch.float32).view(2, 3) / 7
    sd = collections.OrderedDict([
        ("w", w),
        ("w_tied", w.detach()),  # a new tensor viewing w's storage
        ("scalar", torch.tensor(3.5)),
        ("empty", torch.zeros(0, 4)),
        ("4d", torch.arange(24, dtype=torch.float32).view(1, 2, 3, 4) - 12),
        ("wide", torch.zeros(0, 70000)),  # sizes and strides past BININT2
    ])
    save(sd, "plain.pth")


def many():
    sd = collections.OrderedDict()
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])
    for i in range(1001):
        sd[f"p{i}"] = (a if i < 100 else b).detach()
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    save(sd, "many.pth")


def save(sd, name):
    os.makedirs(os.path.join(HERE, "save_ref"), exist_ok=True)
    path = os.path.join(HERE, "save_ref", name)
    torch.save(sd, path)
    back = torch.load(path)
    assert list(back.keys()) == list(sd.keys())
    for k in sd:
        assert torch.equal(back[k], sd[k]), (name, k)
    print(path, os.path.getsize(path), "bytes")


def tutorial_size():
    torch.manual_seed(0)
    model = LSTMModel(33278, 512, 256, 5)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "temp.p")
        torch.save(model.state_dict(), path)
        size = os.path.getsize(path)
    print("temp.p", size, "bytes", "Size (MB):", size / 1e6)


def main():
    if "--size" in sys.argv[1:]:
        tutorial_size()
        return
    reference("deep", False)
    reference("tied", True)
    plain()
    many()


if __name__ == "__main__":
    main()
