#!/usr/bin/python3
"""Check that PyTorch accepts checkpoints written by Go's pth.Save.

Run by hand, never by CI:

    go test ./pth -run 'TestSave$' -pth.savedir=/tmp/pthsave
    /usr/bin/python3 testdata/torch/check_save.py /tmp/pthsave

For deep_go.pth and tied_go.pth (Go re-saves of deep.pth and tied.pth) it
checks that torch.load(weights_only=True) reads them, that load_state_dict
(strict) accepts them into the model gen.py builds, that every tensor is
bit-identical to the original, and that the tied decoder.weight shares the
encoder's storage.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402


def check(dir, name, ninp, nhid, nlayers, tied):
    ref = torch.load(gen.out(name + ".pth"))
    sd = torch.load(os.path.join(dir, name + "_go.pth"), weights_only=True)
    assert list(sd.keys()) == list(ref.keys()), (list(sd.keys()), list(ref.keys()))
    for k in ref:
        assert sd[k].dtype == torch.float32 and torch.equal(sd[k], ref[k]), k
    V = ref["encoder.weight"].size(0)
    model = gen.RNNModel(V, ninp, nhid, nlayers, tie_weights=tied)
    model.load_state_dict(sd, strict=True)
    if tied:
        assert sd["decoder.weight"].data_ptr() == sd["encoder.weight"].data_ptr(), "not tied"
    corpus = gen.Corpus(gen.out("corpus"))
    loss, _ = gen.evaluate(model, gen.batchify(corpus.test, 1))
    print(f"{name}_go.pth: torch.load(weights_only=True) + load_state_dict OK, {len(sd)} tensors equal, test loss {loss!r}")


def main():
    dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/pthsave"
    check(dir, "deep", 12, 10, 3, False)
    check(dir, "tied", 16, 16, 2, True)


if __name__ == "__main__":
    main()
