#!/usr/bin/python3
"""Golden fixtures for the example's four recurrent types (LSTM, GRU,
RNN_TANH, RNN_RELU), saved both ways main.py users hold them, and for
PyTorch's dynamic quantized GRU.

Run by hand, never by CI (needs Debian's python3-torch 1.13):

    cd testdata/torch/rnn && /usr/bin/python3 gen_rnn.py

The corpus is ../corpus (gen.py's); the models are model.py's RNNModel
(the example's class), 2 layers of 16 over a 16-wide embedding, dropout 0.2,
trained briefly with Adam so that the weights are not just their init, then
put in eval mode.

Outputs
  {stem}.pth            torch.save(model.state_dict()), stem = gru, gru_tied,
                        rnn_tanh, rnn_tanh_tied, rnn_relu, rnn_relu_tied,
                        lstm, lstm_tied
  {stem}.pt             torch.save(model): the pickled model.RNNModel, as main.py saves it
  gru_legacy.pt         gru.pt in the legacy (non-zip) format
  rnn_relu_legacy.pt    rnn_relu_tied.pt in the legacy format
  gru_main.pt           the GRU saved from a class __main__.RNNModel (a copy of the
                        example's class in the user's script)
  lstm_user.pt          the LSTM saved from a class mylm.RNNModel (a user's module)
  gru_q.pth             quantize_dynamic(gru, {nn.GRU, nn.Linear}, qint8).state_dict(), onednn
  gru_q_channel.pth     the same with per_channel_dynamic_qconfig
  gru_tied_q.pth        the tied GRU, per tensor
  refused/unknown_class.pt    a module of class evil.Model
  refused/missing_attr.pt     gru.pt with the GRU's `mode` attribute deleted
  refused/transformer.pt      an RNNModel whose rnn is a TransformerEncoder
  refused/transformer_model.pt  the example's TransformerModel
  refused/gru_bad_shape.pth   gru.pth with rnn.weight_hh_l1 cut to 47 rows

rnn.json
  torch_version, ntoken, ninp, nhid, nlayers, dropout, bptt (25), batch (1)
  models {stem: {type, nonlinearity, tied, files[], params (unique parameters,
          as sum(p.numel() for p in model.parameters())), repr (print(model)),
          first_logprobs {steps, values[steps*ntoken]} (log_softmax for test[0:steps]
          from the zero state), final_h[] (and final_c[] for LSTM) after evaluate(),
          test_loss (evaluate() on the test split, bptt 25, batch 1),
          pytorch_int8_loss (quantize_dynamic({nn.<type>, nn.Linear}, qint8) under onednn:
          for RNN_TANH and RNN_RELU PyTorch leaves nn.RNN in float)}}
  quantized {file: {model (its float stem), weights ("tensor"|"channel"), repr,
          loss, tensors {key: {shape, qscheme, int8[], scales[], zero_points[]}}}}
  refused {file: substring the loader's error must contain}
"""

import collections
import json
import os
import sys
import types

import torch
import torch.nn as nn
from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))

import gen  # noqa: E402  (../gen.py: the corpus reader)
import model as example  # noqa: E402

NINP, NHID, NLAYERS, DROPOUT = 16, 16, 2, 0.2
BPTT = 25
STEPS = 5
torch.set_num_threads(1)
torch.backends.quantized.engine = "onednn"


class RNNModel(example.RNNModel):
    """The example's class as a user's script defines it: pickled as __main__.RNNModel."""


mylm = types.ModuleType("mylm")


class _UserRNNModel(example.RNNModel):
    pass


_UserRNNModel.__name__ = _UserRNNModel.__qualname__ = "RNNModel"
_UserRNNModel.__module__ = "mylm"
mylm.RNNModel = _UserRNNModel
sys.modules["mylm"] = mylm

evil = types.ModuleType("evil")


class _Evil(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)


_Evil.__name__ = _Evil.__qualname__ = "Model"
_Evil.__module__ = "evil"
evil.Model = _Evil
sys.modules["evil"] = evil


def evaluate(model, source):
    crit = nn.NLLLoss()
    model.eval()
    total = 0.0
    hidden = model.init_hidden(1)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, BPTT):
            seq_len = min(BPTT, len(source) - 1 - i)
            data, targets = source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)
            output, hidden = model(data, hidden)
            total += len(data) * crit(output, targets).item()
    return total / (len(source) - 1), hidden


def floats(t):
    return [float(x) for x in t.detach().double().flatten().tolist()]


def train_briefly(model, corpus, seed):
    torch.manual_seed(seed)
    train = gen.batchify(corpus.train, 20)
    # ReLU's unbounded state diverges at Adam's 0.01 on this corpus.
    lr = 0.002 if getattr(model.rnn, "nonlinearity", "") == "relu" else 0.01
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    crit = nn.NLLLoss()
    model.train()
    hidden = model.init_hidden(20)
    for i in range(0, train.size(0) - 1, BPTT):
        seq_len = min(BPTT, train.size(0) - 1 - i)
        x, y = train[i:i + seq_len], train[i + 1:i + 1 + seq_len].reshape(-1)
        hidden = tuple(h.detach() for h in hidden) if isinstance(hidden, tuple) else hidden.detach()
        out, hidden = model(x, hidden)
        loss = crit(out, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
    model.eval()


def qweight(q):
    e = {"shape": list(q.shape), "qscheme": str(q.qscheme()).removeprefix("torch."),
         "int8": [int(v) for v in q.int_repr().reshape(-1).tolist()]}
    if q.qscheme() == torch.per_tensor_affine:
        e["scales"] = [q.q_scale()]
        e["zero_points"] = [q.q_zero_point()]
    else:
        e["scales"] = [float(v) for v in q.q_per_channel_scales().tolist()]
        e["zero_points"] = [int(v) for v in q.q_per_channel_zero_points().tolist()]
    return e


def qtensors(qm):
    w = collections.OrderedDict()
    wb = qm.rnn._weight_bias()["weight"]
    for k in range(NLAYERS):
        w[f"rnn.weight_ih_l{k}"] = qweight(wb[f"weight_ih_l{k}"])
        w[f"rnn.weight_hh_l{k}"] = qweight(wb[f"weight_hh_l{k}"])
    w["decoder.weight"] = qweight(qm.decoder._weight_bias()[0])
    return w


def check_same(a, b, what):
    la, _ = evaluate(a, TEST)
    lb, _ = evaluate(b, TEST)
    assert la == lb, (what, la, lb)


def main():
    global TEST
    corpus = gen.Corpus(os.path.join(os.path.dirname(HERE), "corpus"))
    ntoken = len(corpus.dictionary.idx2word)
    TEST = gen.batchify(corpus.test, 1)
    os.makedirs(os.path.join(HERE, "refused"), exist_ok=True)
    res = collections.OrderedDict([
        ("torch_version", torch.__version__), ("ntoken", ntoken), ("ninp", NINP), ("nhid", NHID),
        ("nlayers", NLAYERS), ("dropout", DROPOUT), ("bptt", BPTT), ("batch", 1),
        ("models", collections.OrderedDict()), ("quantized", collections.OrderedDict()),
        ("refused", collections.OrderedDict())])
    floats_of = {}
    for seed, typ in enumerate(["GRU", "RNN_TANH", "RNN_RELU", "LSTM"]):
        for tied in (False, True):
            stem = typ.lower() + ("_tied" if tied else "")
            torch.manual_seed(100 + seed)
            m = example.RNNModel(typ, ntoken, NINP, NHID, NLAYERS, DROPOUT, tied)
            train_briefly(m, corpus, 200 + seed)
            floats_of[stem] = m
            torch.save(m.state_dict(), os.path.join(HERE, stem + ".pth"))
            torch.save(m, os.path.join(HERE, stem + ".pt"))
            back = torch.load(os.path.join(HERE, stem + ".pt"))
            check_same(m, back, stem + ".pt")
            with torch.no_grad():
                lp, _ = m(TEST[:STEPS], m.init_hidden(1))
            loss, hidden = evaluate(m, TEST)
            entry = collections.OrderedDict([
                ("type", typ),
                ("nonlinearity", {"RNN_TANH": "tanh", "RNN_RELU": "relu"}.get(typ, "")),
                ("tied", tied),
                ("files", [stem + ".pth", stem + ".pt"]),
                ("params", sum(p.numel() for p in m.parameters())),
                ("repr", str(m)),
                ("first_logprobs", {"steps": STEPS, "values": floats(lp)}),
            ])
            if typ == "LSTM":
                entry["final_h"], entry["final_c"] = floats(hidden[0]), floats(hidden[1])
            else:
                entry["final_h"] = floats(hidden)
            entry["test_loss"] = loss
            rnn_class = {"GRU": nn.GRU, "LSTM": nn.LSTM}.get(typ, nn.RNN)
            qm = quantize_dynamic(m, {rnn_class, nn.Linear}, dtype=torch.qint8)
            entry["pytorch_int8_loss"], _ = evaluate(qm, TEST)
            res["models"][stem] = entry
            print(stem, entry["params"], loss, entry["pytorch_int8_loss"])

    # Variants of the whole-module file.
    gru, relu_tied, lstm = floats_of["gru"], floats_of["rnn_relu_tied"], floats_of["lstm"]
    torch.save(gru, os.path.join(HERE, "gru_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(relu_tied, os.path.join(HERE, "rnn_relu_legacy.pt"), _use_new_zipfile_serialization=False)
    res["models"]["gru"]["files"].append("gru_legacy.pt")
    res["models"]["rnn_relu_tied"]["files"].append("rnn_relu_legacy.pt")
    for cls, src, name, stem in ((RNNModel, gru, "gru_main.pt", "gru"), (mylm.RNNModel, lstm, "lstm_user.pt", "lstm")):
        w = cls.__new__(cls)
        w.__dict__.update(src.__dict__)
        torch.save(w, os.path.join(HERE, name))
        res["models"][stem]["files"].append(name)
    for name in ("gru_legacy.pt", "rnn_relu_legacy.pt", "gru_main.pt", "lstm_user.pt"):
        torch.load(os.path.join(HERE, name))

    # PyTorch's quantized GRU.
    for name, stem, spec, weights in (("gru_q.pth", "gru", default_dynamic_qconfig, "tensor"),
                                      ("gru_q_channel.pth", "gru", per_channel_dynamic_qconfig, "channel"),
                                      ("gru_tied_q.pth", "gru_tied", default_dynamic_qconfig, "tensor")):
        m = floats_of[stem]
        qm = quantize_dynamic(m, {nn.GRU: spec, nn.Linear: spec}, dtype=torch.qint8)
        path = os.path.join(HERE, name)
        torch.save(qm.state_dict(), path)
        back = quantize_dynamic(example.RNNModel("GRU", ntoken, NINP, NHID, NLAYERS, DROPOUT, stem.endswith("_tied")),
                                {nn.GRU: spec, nn.Linear: spec}, dtype=torch.qint8)
        back.load_state_dict(torch.load(path))
        loss, _ = evaluate(back, TEST)
        saved, _ = evaluate(qm, TEST)
        assert loss == saved, (name, loss, saved)
        res["quantized"][name] = collections.OrderedDict([
            ("model", stem), ("weights", weights), ("repr", str(back)), ("loss", loss),
            ("tensors", qtensors(back))])
        print(name, os.path.getsize(path), loss)

    # Files a reader must refuse.
    refused = res["refused"]
    torch.save(evil.Model(), os.path.join(HERE, "refused", "unknown_class.pt"))
    refused["refused/unknown_class.pt"] = "evil.Model"
    bad = example.RNNModel("GRU", ntoken, NINP, NHID, NLAYERS, DROPOUT)
    bad.load_state_dict(gru.state_dict())
    del bad.rnn.__dict__["mode"]
    torch.save(bad, os.path.join(HERE, "refused", "missing_attr.pt"))
    refused["refused/missing_attr.pt"] = "mode"
    tr = example.RNNModel("LSTM", ntoken, NINP, NHID, NLAYERS, DROPOUT)
    tr.rnn = nn.TransformerEncoder(nn.TransformerEncoderLayer(NINP, 2, 32), 1)
    torch.save(tr, os.path.join(HERE, "refused", "transformer.pt"))
    refused["refused/transformer.pt"] = "TransformerEncoder"
    torch.manual_seed(7)
    torch.save(example.TransformerModel(ntoken, NINP, 2, 32, 1), os.path.join(HERE, "refused", "transformer_model.pt"))
    refused["refused/transformer_model.pt"] = "model.TransformerModel"
    sd = gru.state_dict()
    sd["rnn.weight_hh_l1"] = sd["rnn.weight_hh_l1"][:47].clone()
    torch.save(sd, os.path.join(HERE, "refused", "gru_bad_shape.pth"))
    refused["refused/gru_bad_shape.pth"] = "GRU"

    with open(os.path.join(HERE, "rnn.json"), "w") as f:
        json.dump(res, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
