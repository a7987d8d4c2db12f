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

Outputs
  save_ref/deep.pth, save_ref/tied.pth   torch.save(model.state_dict(), path):
      the archive folder is named after the file ("deep/", "tied/"), so Go
      must save to a file of the same name to match.

With --size, instead prints the size of torch.save(model.state_dict(),
"temp.p") for the tutorial's model (Embedding(33278, 512), LSTM(512, 256, 5),
Linear(256, 33278)), as print_size_of_model does, and writes nothing else.
"""

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
    os.makedirs(os.path.join(HERE, "save_ref"), exist_ok=True)
    path = os.path.join(HERE, "save_ref", name + ".pth")
    torch.save(sd, path)
    print(path, os.path.getsize(path), "bytes, _metadata", dict(sd._metadata))


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


if __name__ == "__main__":
    main()
