#!/usr/bin/python3
"""Read an lstmq model file (safetensors) with nothing but json and struct,
as any safetensors reader would, and check it against PyTorch.

    /usr/bin/python3 testdata/torch/check_safetensors.py [file.safetensors]

Default file: testdata/torch/quant/model_pytorch.safetensors, written by the
Go test TestCommittedModelFile (package quant) from the fixture model of
gen_quant.py quantized with scheme "pytorch". The script

  1. parses the header (8-byte little-endian length, JSON), checks every
     tensor's data_offsets against dtype x shape and the file size, and that
     the tensors tile the data section without overlap or hole;
  2. prints the __metadata__ (architecture, scheme, vocabulary size);
  3. compares each int8 weight and its scale with PyTorch's int_repr() and
     q_scale() in quant/onednn.json (the weights do not depend on the
     engine), and the fp32 biases with the state_dict in quant/model.json;
  4. if torch is importable, rebuilds the dynamic quantized decoder from the
     file's int8 weight and scale (torch.quantize_per_tensor of the
     dequantized values reproduces the same int8) and runs it.
"""
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
         "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
FORMATS = {"U8": "B", "I8": "b", "I32": "i", "F32": "f", "I64": "q", "F64": "d"}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert n <= 100 << 20 and 8 + n <= len(blob), "bad header length %d" % n
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    end = 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, x = e["data_offsets"]
        numel = math.prod(e["shape"])
        assert b == end, "%s: offset %d, want %d (overlap or hole)" % (name, b, end)
        assert x - b == numel * SIZES[e["dtype"]], "%s: size mismatch" % name
        end = x
        fmt = "<%d%s" % (numel, FORMATS[e["dtype"]])
        tensors[name] = (e["dtype"], e["shape"], list(struct.unpack(fmt, data[b:x])))
    assert end == len(data), "trailing data"
    return meta, tensors


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "quant", "model_pytorch.safetensors")
    meta, tensors = read(path)
    vocab = json.loads(meta.get("vocab", "[]"))
    print("metadata:", {k: v for k, v in meta.items() if k != "vocab"}, "vocab: %d words" % len(vocab))
    for name, (dt, shape, _) in tensors.items():
        print("  %-28s %-4s %s" % (name, dt, shape))

    ref = json.load(open(os.path.join(HERE, "quant", "onednn.json")))["tensor"]["weights"]
    sd = json.load(open(os.path.join(HERE, "quant", "model.json")))["state_dict"]
    bad = 0
    for name, w in ref.items():
        q = tensors[name][2]
        s = tensors[name + ".scale"][2]
        if q != w["int8"] or [struct.unpack("<f", struct.pack("<f", v))[0] for v in w["scales"]] != s:
            print("MISMATCH", name)
            bad += 1
    for name, (dt, shape, vals) in tensors.items():
        if "bias" in name and vals != sd[name]["data"]:
            print("MISMATCH", name)
            bad += 1
    print("int8 weights and scales equal PyTorch's" if not bad else "%d mismatches" % bad)

    try:
        import torch
    except ImportError:
        return 1 if bad else 0
    torch.backends.quantized.engine = "onednn"
    dt, shape, q = tensors["decoder.weight"]
    scale = tensors["decoder.weight.scale"][2][0]
    w = torch.tensor(q, dtype=torch.float32).reshape(shape) * scale
    qw = torch.quantize_per_tensor(w, scale, 0, torch.qint8)
    assert qw.int_repr().reshape(-1).tolist() == q
    lin = torch.ao.nn.quantized.dynamic.Linear(shape[1], shape[0])
    lin.set_weight_bias(qw, torch.tensor(tensors["decoder.bias"][2]))
    x = torch.tensor(json.load(open(os.path.join(HERE, "quant", "model.json")))["linear_input"]).reshape(-1, shape[1])
    want = torch.tensor(json.load(open(os.path.join(HERE, "quant", "onednn.json")))["tensor"]["linear_output"])
    got = lin(x).reshape(-1)
    print("decoder rebuilt from the file: max |diff| vs quantize_dynamic = %.3g" % float((got - want).abs().max()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
