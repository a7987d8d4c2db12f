#!/usr/bin/python3
"""PyTorch's numbers for the committed tied fixtures: tied_sizes.json.

Run by hand, never by CI (needs Debian's python3-torch 1.13):

    cd testdata/torch && /usr/bin/python3 gen_tied.py

It writes no model: it reads the tied state_dict files gen.py and
rnn/gen_rnn.py made (decoder.weight is encoder.weight), loads each into its
model with load_state_dict(strict=True), and records what PyTorch says of
it. checkpoint's TestTiedFixtures compares lstmq with these numbers.

tied_sizes.json: {file (relative to testdata/torch): {
  format           "zip" | "legacy"
  params           unique parameters, sum(p.numel() for p in model.parameters())
  state_dict_numel sum of numel over the state dict's keys (the tied matrix twice)
  bytes            the file's size: what torch.save(model.state_dict(), path)
                   wrote for it
}}

Checks made before writing (an AssertionError if one fails):
  - decoder.weight and encoder.weight load as one storage;
  - zip: torch.save(torch.load(file)) to a path of the same base name (which
    names the archive's folder) writes the file again byte for byte, so
    `bytes` is the size torch.save writes for these parameters in this
    layout;
  - legacy: torch.save(…, _use_new_zipfile_serialization=False) names each
    storage by its address in memory (str(storage._cdata)), so a new save
    differs from the file in those names only: the sizes of the two,
    each less the bytes of its storage names (every time the pickle names a
    storage, and once in the list of keys), are equal.
"""

import collections
import json
import os
import pickle
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "rnn"))

import gen  # noqa: E402  (gen.py's RNNModel: tied.pth's model, no dropout module)
import model as example  # noqa: E402  (rnn/model.py: the example's RNNModel)

FILES = ["tied.pth", "tied_legacy.pth"] + ["rnn/%s_tied.pth" % s for s in ("gru", "rnn_tanh", "rnn_relu", "lstm")]


def build(name, sd):
    ntoken, ninp = sd["encoder.weight"].shape
    nlayers = sum(1 for k in sd if k.startswith("rnn.weight_ih_l"))
    if name.startswith("rnn/"):
        typ = {"gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU", "lstm": "LSTM"}[
            os.path.basename(name)[:-len("_tied.pth")]]
        return example.RNNModel(typ, ntoken, ninp, ninp, nlayers, 0.2, True)
    return gen.RNNModel(ntoken, ninp, ninp, nlayers, tie_weights=True)


def legacy_key_bytes(data):
    """Bytes of the storage names in a legacy file: each time the state dict
    pickle names a storage, and each entry of the list of keys."""
    f = __import__("io").BytesIO(data)
    for _ in range(3):  # magic number, protocol version, system info
        pickle.load(f)
    names = []

    class U(pickle.Unpickler):
        def persistent_load(self, pid):
            names.append(pid[2])
            return torch.FloatStorage(pid[4])

    U(f).load()
    keys = pickle.load(f)
    return sum(len(k) for k in names) + sum(len(k) for k in keys)


def main():
    res = collections.OrderedDict()
    for name in FILES:
        path = os.path.join(HERE, name)
        with open(path, "rb") as f:
            data = f.read()
        legacy = not data.startswith(b"PK")
        sd = torch.load(path)
        assert sd["decoder.weight"].data_ptr() == sd["encoder.weight"].data_ptr(), name
        m = build(name, sd)
        m.load_state_dict(sd, strict=True)
        assert m.decoder.weight is m.encoder.weight, name
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, os.path.basename(name))
            torch.save(m.state_dict(), out, _use_new_zipfile_serialization=not legacy)
            with open(out, "rb") as f:
                again = f.read()
        if legacy:
            assert len(again) - legacy_key_bytes(again) == len(data) - legacy_key_bytes(data), name
        else:
            assert again == data, name
        res[name] = collections.OrderedDict([
            ("format", "legacy" if legacy else "zip"),
            ("params", sum(p.numel() for p in m.parameters())),
            ("state_dict_numel", sum(t.numel() for t in sd.values())),
            ("bytes", len(data)),
        ])
        print(name, dict(res[name]))
    with open(os.path.join(HERE, "tied_sizes.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
