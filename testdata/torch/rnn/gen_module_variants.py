#!/usr/bin/python3
"""Re-save a whole-module checkpoint (torch.save(model), as the example's
main.py writes it) the ways gen_variants.py re-saves state dicts, for pth's
whole-module reader, and write two tiny whole-module files for the fuzz
seeds.

Run by hand, never by CI, after gen_rnn.py:

    cd testdata/torch/rnn && /usr/bin/python3 gen_module_variants.py

Outputs
  rnn_tanh_tied_p1.pt           rnn_tanh_tied.pt with pickle protocol 1 (zip):
                                objects through copy_reg._reconstructor, not NEWOBJ
  rnn_tanh_tied_legacy_p1.pt    the same in the legacy format: the classes are
                                persistent ids ('module', class, file, source)
  rnn_tanh_tied_p4.pt           protocol 4 (zip): STACK_GLOBAL, FRAME, EMPTY_SET
  refused/rnn_tanh_tied_p0.pt   protocol 0: torch.load fails on it (its persistent
                                ids are strings), pth refuses it
  refused/rnn_tanh_tied_deflate.pt  rnn_tanh_tied.pt re-zipped with every entry
                                deflated: torch.load reads it; pth refuses
                                compressed storages
  tiny_gru_tied.pt, .pth        a tied GRU of 7 tokens, 2 units, 2 layers, as
                                torch.save(model) and its state_dict: fuzz seeds
  tiny_gru_tied_legacy_p1.pt    the tiny GRU in the legacy format, protocol 1

module_variants.json
  variants {file: the .pth state_dict it must equal}
  refused {file: substring the loader's error must contain}
"""

import collections
import json
import os
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import model as example  # noqa: E402  (torch.load finds model.RNNModel here)


def same(a, b, what):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb), what
    assert all(torch.equal(sa[k], sb[k]) for k in sa), what
    assert str(a) == str(b), what


def main():
    os.chdir(HERE)
    res = collections.OrderedDict([("variants", collections.OrderedDict()), ("refused", collections.OrderedDict())])
    m = torch.load("rnn_tanh_tied.pt")
    for name, kw in (("rnn_tanh_tied_p1.pt", dict(pickle_protocol=1)),
                     ("rnn_tanh_tied_legacy_p1.pt", dict(pickle_protocol=1, _use_new_zipfile_serialization=False)),
                     ("rnn_tanh_tied_p4.pt", dict(pickle_protocol=4))):
        torch.save(m, name, **kw)
        back = torch.load(name)
        same(m, back, name)
        assert back.decoder.weight.data_ptr() == back.encoder.weight.data_ptr(), name
        res["variants"][name] = "rnn_tanh_tied.pth"

    p0 = os.path.join("refused", "rnn_tanh_tied_p0.pt")
    torch.save(m, p0, pickle_protocol=0)
    try:
        torch.load(p0)
        raise SystemExit("torch.load read %s; the test expects it to fail" % p0)
    except AssertionError:
        pass
    res["refused"][p0] = "PERSID (a protocol 0 persistent id"

    deflate = os.path.join("refused", "rnn_tanh_tied_deflate.pt")
    with zipfile.ZipFile("rnn_tanh_tied.pt") as src, zipfile.ZipFile(deflate, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    same(m, torch.load(deflate), deflate)
    res["refused"][deflate] = "is compressed"

    torch.manual_seed(11)
    tiny = example.RNNModel("GRU", 7, 2, 2, 2, 0.2, tie_weights=True).eval()
    torch.save(tiny, "tiny_gru_tied.pt")
    torch.save(tiny.state_dict(), "tiny_gru_tied.pth")
    torch.save(tiny, "tiny_gru_tied_legacy_p1.pt", pickle_protocol=1, _use_new_zipfile_serialization=False)
    for name in ("tiny_gru_tied.pt", "tiny_gru_tied_legacy_p1.pt"):
        same(tiny, torch.load(name), name)
        res["variants"][name] = "tiny_gru_tied.pth"

    with open("module_variants.json", "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
