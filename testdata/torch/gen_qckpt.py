#!/usr/bin/python3
"""Quantized state_dict fixtures for lstmq's reader of PyTorch's quantized
checkpoints (packages pth and quant, quant.LoadPth), from PyTorch 1.13.

Run by hand from the repository root, never by CI:

    /usr/bin/python3 testdata/torch/gen_qckpt.py

It trains gen.py's RNNModel (Embedding(V,16) -> LSTM(16,16,2) ->
Linear(16,V), V the vocabulary of testdata/torch/corpus) for two short
epochs (Adam), then writes to testdata/torch/qckpt/:

  fp32.pth            torch.save(model.state_dict())
  onednn.pth          torch.save(quantize_dynamic(model, {nn.LSTM, nn.Linear},
                      dtype=torch.qint8).state_dict()) under engine 'onednn'
                      (per-tensor weights, default_dynamic_qconfig)
  qnnpack.pth         the same under engine 'qnnpack'
  onednn_channel.pth  per_channel_dynamic_qconfig under 'onednn'
  tiny.pth            a quantized RNNModel(5, 3, 2, 1) under 'onednn': a
                      fuzz seed for package pth
  tiny_channel.pth    the same, per-channel weights
  qckpt.json          what PyTorch says about them (below)

qckpt.json:
  torch_version, ntoken, ninp, nhid, nlayers, batch (10), bptt (25)
  fp32_loss                evaluate() of the float32 model on the test split
  files {name: {engine, weights, loss, act_qmax}}
      weights              "tensor" or "channel": the key of "weights" below
      loss                 evaluate() on the test split of the quantized model
                           loaded back from the file (torch.load +
                           load_state_dict into a fresh quantize_dynamic model),
                           under the file's engine; it equals the loss of the
                           model that was saved
      act_qmax             the activations' largest code under that engine:
                           127 (onednn honours reduce_range) or 255 (qnnpack)
  weights {"tensor"|"channel": {name: {shape, qscheme, int8 (int_repr, row-major),
      scales (q_scale() or q_per_channel_scales()), zero_points, axis}}}
      for rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, decoder.weight. The generator
      checks that every file of that granularity holds exactly these, whatever
      the engine.

evaluate() is word_language_model's: the test split batchified with bsz 10,
chunks of bptt 25 from a zero state, total += len(chunk) * mean
cross-entropy, loss = total / (len(source) - 1).
"""
import json
import os
import sys

import torch
import torch.nn as nn
from torch.ao.quantization import (default_dynamic_qconfig,
                                   per_channel_dynamic_qconfig,
                                   quantize_dynamic)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402  (Corpus, RNNModel, batchify)

OUT = os.path.join(HERE, "qckpt")
NINP, NHID, NLAYERS = 16, 16, 2
BATCH, BPTT = 10, 25
torch.set_num_threads(1)


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


def qweight(q):
    e = {"shape": list(q.shape), "qscheme": str(q.qscheme()).removeprefix("torch."),
         "int8": [int(v) for v in q.int_repr().reshape(-1).tolist()]}
    if q.qscheme() == torch.per_tensor_affine:
        e["scales"] = [q.q_scale()]
        e["zero_points"] = [q.q_zero_point()]
        e["axis"] = 0
    else:
        e["scales"] = [float(v) for v in q.q_per_channel_scales().tolist()]
        e["zero_points"] = [int(v) for v in q.q_per_channel_zero_points().tolist()]
        e["axis"] = q.q_per_channel_axis()
    return e


def weights_of(qm):
    w = {}
    wb = qm.rnn._weight_bias()["weight"]
    for k in range(NLAYERS):
        w[f"rnn.weight_ih_l{k}"] = qweight(wb[f"weight_ih_l{k}"])
        w[f"rnn.weight_hh_l{k}"] = qweight(wb[f"weight_hh_l{k}"])
    w["decoder.weight"] = qweight(qm.decoder._weight_bias()[0])
    return w


def main():
    os.makedirs(OUT, exist_ok=True)
    corpus = gen.Corpus(os.path.join(HERE, "corpus"))
    ntoken = len(corpus.dictionary.idx2word)
    torch.manual_seed(5)
    model = gen.RNNModel(ntoken, NINP, NHID, NLAYERS)
    # A short training run, so that the weights are not just their init.
    train = gen.batchify(corpus.train, 20)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    crit = nn.CrossEntropyLoss()
    model.train()
    for _ in range(2):
        hidden = model.init_hidden(20)
        for i in range(0, train.size(0) - 1, BPTT):
            seq_len = min(BPTT, train.size(0) - 1 - i)
            x, y = train[i:i + seq_len], train[i + 1:i + 1 + seq_len].reshape(-1)
            hidden = tuple(h.detach() for h in hidden)
            out, hidden = model(x, hidden)
            loss = crit(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    test = gen.batchify(corpus.test, BATCH)

    res = {"torch_version": torch.__version__, "ntoken": ntoken, "ninp": NINP, "nhid": NHID,
           "nlayers": NLAYERS, "batch": BATCH, "bptt": BPTT,
           "fp32_loss": evaluate(model, test), "files": {}, "weights": {}}
    torch.save(model.state_dict(), os.path.join(OUT, "fp32.pth"))

    specs = {"tensor": default_dynamic_qconfig, "channel": per_channel_dynamic_qconfig}
    files = [("onednn.pth", "onednn", "tensor"),
             ("qnnpack.pth", "qnnpack", "tensor"),
             ("onednn_channel.pth", "onednn", "channel")]
    # No legacy-format (_use_new_zipfile_serialization=False) file: PyTorch
    # 1.13 writes one, but the model loaded back from it gives another loss
    # (5.08 where the saved model gives 4.10), so it is no reference.
    for name, engine, weights in files:
        torch.backends.quantized.engine = engine
        spec = specs[weights]
        qm = quantize_dynamic(model, {nn.LSTM: spec, nn.Linear: spec}, dtype=torch.qint8)
        path = os.path.join(OUT, name)
        torch.save(qm.state_dict(), path)
        saved_loss = evaluate(qm, test)
        # Load it back as a user would, into a fresh quantized model.
        back = quantize_dynamic(gen.RNNModel(ntoken, NINP, NHID, NLAYERS),
                                {nn.LSTM: spec, nn.Linear: spec}, dtype=torch.qint8)
        back.load_state_dict(torch.load(path))
        loss = evaluate(back, test)
        assert loss == saved_loss, (name, loss, saved_loss)
        w = weights_of(back)
        if weights in res["weights"]:
            assert res["weights"][weights] == w, f"{name}: int8 weights differ from another engine's"
        else:
            res["weights"][weights] = w
        res["files"][name] = {"engine": engine, "weights": weights, "loss": loss,
                              "act_qmax": 255 if engine == "qnnpack" else 127}
        print(name, os.path.getsize(path), engine, weights, loss)
    torch.backends.quantized.engine = "onednn"
    torch.manual_seed(6)
    tiny = gen.RNNModel(5, 3, 2, 1)
    for name, spec in (("tiny.pth", default_dynamic_qconfig), ("tiny_channel.pth", per_channel_dynamic_qconfig)):
        qm = quantize_dynamic(tiny, {nn.LSTM: spec, nn.Linear: spec}, dtype=torch.qint8)
        torch.save(qm.state_dict(), os.path.join(OUT, name))
        print(name, os.path.getsize(os.path.join(OUT, name)))
    with open(os.path.join(OUT, "qckpt.json"), "w") as f:
        json.dump(res, f, separators=(",", ":"))
        f.write("\n")
    print("fp32 loss", res["fp32_loss"])


if __name__ == "__main__":
    main()
