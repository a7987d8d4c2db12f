#!/usr/bin/python3
"""Re-save tied.pth the ways people do: with the pickle protocols torch.save
allows but does not use by default, inside a training checkpoint, and
re-zipped with compression. For pth's protocol tests and the hostile suite.

Run by hand, never by CI, after gen.py:

    cd testdata/torch && /usr/bin/python3 gen_variants.py

Outputs
  tied_p1.pth, tied_legacy_p1.pth   protocol 1 (zip and legacy format): torch.load
                                    reads them, so pth must too
  tiny_legacy_p1.pth                tiny.pth in the legacy format, protocol 1: a fuzz seed
  tied_p0.pth                       protocol 0: torch.load fails on it (its
                                    persistent ids are strings), pth refuses it
  tied_wrapped.pth                  {"model": state_dict, "epoch": 3}, a training
                                    checkpoint: refused with a hint
  tied_deflate.pth                  tied.pth re-zipped with every entry deflated:
                                    torch.load reads it; pth refuses compressed
                                    storages (a small file could inflate without bound)
"""
import zipfile

import torch

sd = torch.load("tied.pth")
torch.save(sd, "tied_p1.pth", pickle_protocol=1)
torch.save(sd, "tied_legacy_p1.pth", pickle_protocol=1, _use_new_zipfile_serialization=False)
torch.save(sd, "tied_p0.pth", pickle_protocol=0)
torch.save(torch.load("tiny.pth"), "tiny_legacy_p1.pth", pickle_protocol=1, _use_new_zipfile_serialization=False)
for name in ["tied_p1.pth", "tied_legacy_p1.pth"]:
    back = torch.load(name)
    assert all(torch.equal(back[k], sd[k]) for k in sd), name
    assert back["decoder.weight"].data_ptr() == back["encoder.weight"].data_ptr(), name
try:
    torch.load("tied_p0.pth")
    raise SystemExit("torch.load read tied_p0.pth; the test expects it to fail")
except AssertionError:
    pass

torch.save({"model": sd, "epoch": 3}, "tied_wrapped.pth")
with zipfile.ZipFile("tied.pth") as src, zipfile.ZipFile("tied_deflate.pth", "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
back = torch.load("tied_deflate.pth")
assert all(torch.equal(back[k], sd[k]) for k in sd)
