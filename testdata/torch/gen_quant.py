#!/usr/bin/python3
"""Golden fixtures for package quant (lstmq), from PyTorch 1.13.

Run by hand from the repository root:

    /usr/bin/python3 testdata/torch/gen_quant.py

It writes testdata/torch/quant/model.json (the float32 model, the evaluation
tokens and the float32 loss) and one file per quantized engine:

  qnnpack.json  quantize_dynamic under torch.backends.quantized.engine = 'qnnpack'.
                QNNPACK ignores reduce_range: activations use the full uint8
                range [0, 255] (qlinear_dynamic.cpp calls ChooseQuantizationParams
                with qmin=0, qmax=255 and no reduce_range). This is the Go scheme
                "act8" (per-tensor weights, Act8).
  onednn.json   the same under engine 'onednn'. oneDNN honours reduce_range=True,
                which the dynamic modules pass (Linear.forward, and
                make_quantized_cell_params_dynamic(..., True) for the LSTM), so
                activations use [0, 127], as FBGEMM does. This is the Go scheme
                "pytorch".

FBGEMM is not compiled into Debian's python3-torch, so no fixture uses it.

Each engine file has the int8 weights (int_repr) and scales of every quantized
weight, per tensor and per channel, a quantized Linear's output on a given
input, the quantized LSTM's output and final state on a given input, and the
evaluate() loss of the quantized model on the evaluation tokens. qparams.json
has engine-independent cases: torch._choose_qparams_per_tensor on chosen
ranges, quantize_per_tensor on chosen values (ties), the float-qparams
embedding (QuantizedEmbedding) and the module reprs.

quant/model_pytorch.safetensors is not written here: the Go test
TestCommittedModelFile (package quant, -update) saves the model.json model
quantized with scheme "pytorch", and check_safetensors.py reads it back with
json and struct and compares it with these fixtures.

Plain JSON, so Go tests need no pickle reader. float32 values are written as
Python floats (float64), which hold them exactly.
"""
import json
import os

import torch
import torch.nn as nn
from torch.ao.quantization import (default_dynamic_qconfig,
                                   float_qparams_weight_only_qconfig,
                                   per_channel_dynamic_qconfig,
                                   quantize_dynamic)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant")
NTOKEN, NINP, NHID, NLAYERS = 50, 12, 10, 2
BSZ, BPTT = 2, 5
torch.set_num_threads(1)


class LSTMModel(nn.Module):
    """word_language_model's RNNModel (LSTM), as in the quantization tutorial."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        initrange = 0.1
        self.encoder.weight.data.uniform_(-initrange, initrange)
        self.decoder.bias.data.zero_()
        self.decoder.weight.data.uniform_(-initrange, initrange)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        return decoded, hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        return (w.new_zeros(self.nlayers, bsz, self.nhid),
                w.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def evaluate(model, source):
    model.eval()
    total = 0.0
    crit = nn.CrossEntropyLoss()
    hidden = model.init_hidden(BSZ)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, BPTT):
            seq_len = min(BPTT, len(source) - 1 - i)
            data, targets = source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)
            output, hidden = model(data, hidden)
            total += len(data) * crit(output.view(-1, NTOKEN), targets).item()
    return total / (len(source) - 1)


def markov_tokens(n, nxt, gen):
    """A token stream from a sparse random Markov chain (each token has three
    possible successors, nxt), so the model has something to learn."""
    toks = [0]
    for _ in range(n - 1):
        toks.append(int(nxt[toks[-1], int(torch.randint(0, 3, (1,), generator=gen))]))
    return torch.tensor(toks, dtype=torch.long)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def qweight_entry(q):
    """int_repr and qparams of a quantized weight tensor."""
    e = {"shape": list(q.shape), "int8": [int(v) for v in q.int_repr().reshape(-1).tolist()],
         "qscheme": str(q.qscheme())}
    if q.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        e["scales"] = [q.q_scale()]
        e["zero_points"] = [q.q_zero_point()]
    else:
        e["scales"] = flat(q.q_per_channel_scales())
        e["zero_points"] = [float(v) for v in q.q_per_channel_zero_points().tolist()]
    return e


def lstm_weights(qlstm):
    wb = qlstm._weight_bias()["weight"]
    out = {}
    for k in range(NLAYERS):
        out[f"rnn.weight_ih_l{k}"] = qweight_entry(wb[f"weight_ih_l{k}"])
        out[f"rnn.weight_hh_l{k}"] = qweight_entry(wb[f"weight_hh_l{k}"])
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(99)
    model = LSTMModel(NTOKEN, NINP, NHID, NLAYERS)
    nxt = torch.randint(0, NTOKEN, (NTOKEN, 3), generator=gen)
    train = batchify(markov_tokens(4000, nxt, gen), 8)
    evalt = markov_tokens(201, nxt, gen)
    source = batchify(evalt, BSZ)

    # A short training run so that the weights are not just their init.
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    crit = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(15):
        hidden = model.init_hidden(8)
        for i in range(0, train.size(0) - 1, 20):
            seq_len = min(20, train.size(0) - 1 - i)
            x, y = train[i:i + seq_len], train[i + 1:i + 1 + seq_len].reshape(-1)
            hidden = tuple(h.detach() for h in hidden)
            out, hidden = model(x, hidden)
            loss = crit(out.view(-1, NTOKEN), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()

    fp32_loss = evaluate(model, source)
    sd = model.state_dict()
    lin_x = torch.randn(7, NHID) * 0.7 + 0.1
    lstm_x = torch.randn(4, 3, NINP) * 0.5
    with torch.no_grad():
        fp_lin = model.decoder(lin_x)
        fp_lstm, (fh, fc) = model.rnn(lstm_x)
    fixture = {
        "torch_version": torch.__version__,
        "ntoken": NTOKEN, "ninp": NINP, "nhid": NHID, "nlayers": NLAYERS,
        "dropout": 0.5, "batch": BSZ, "bptt": BPTT,
        "state_dict": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in sd.items()},
        "eval_tokens": [int(v) for v in evalt.tolist()],
        "fp32_loss": fp32_loss,
        "linear_input": flat(lin_x), "linear_rows": 7,
        "fp32_linear_output": flat(fp_lin),
        "lstm_input": flat(lstm_x), "lstm_steps": 4, "lstm_batch": 3,
        "fp32_lstm_output": flat(fp_lstm), "fp32_lstm_h": flat(fh), "fp32_lstm_c": flat(fc),
        "repr": repr(model),
    }
    dump("model.json", fixture)

    for engine in ("qnnpack", "onednn"):
        torch.backends.quantized.engine = engine
        res = {"engine": engine,
               "act_qmax": 255 if engine == "qnnpack" else 127}
        for name, spec in (("tensor", default_dynamic_qconfig), ("channel", per_channel_dynamic_qconfig)):
            qm = quantize_dynamic(model, {nn.LSTM: spec, nn.Linear: spec}, dtype=torch.qint8)
            r = {}
            w = {}
            dw, _ = qm.decoder._weight_bias()
            w["decoder.weight"] = qweight_entry(dw)
            w.update(lstm_weights(qm.rnn))
            r["weights"] = w
            with torch.no_grad():
                r["linear_output"] = flat(qm.decoder(lin_x))
                o, (h, c) = qm.rnn(lstm_x)
                r["lstm_output"], r["lstm_h"], r["lstm_c"] = flat(o), flat(h), flat(c)
            r["loss"] = evaluate(qm, source)
            r["repr_decoder"] = repr(qm.decoder)
            r["repr_rnn"] = repr(qm.rnn)
            res[name] = r
        # The activation qparams of the Linear's input, as the kernel chose them.
        s, z = torch._choose_qparams_per_tensor(lin_x, engine != "qnnpack")
        res["linear_input_qparams"] = {"scale": s, "zero_point": z}
        dump(engine + ".json", res)

    torch.backends.quantized.engine = "qnnpack"
    qp = {}
    # ChooseQuantizationParams via _choose_qparams_per_tensor (qmin 0, qmax 255,
    # reduce_range ignored under qnnpack, so run it under onednn for [0, 127]).
    cases = []
    g = torch.Generator().manual_seed(7)
    ranges = [(-1.0, 1.0), (0.0, 1.0), (-1.0, 0.0), (0.0, 0.0), (-3.7, 0.2), (0.5, 2.0),
              (-2.0, -0.5), (-1e-6, 1e-6), (-1e-9, 3e-9), (-0.2, 3e4), (-127.5, 127.5),
              (-0.5, 1.5), (-1.0, 254.0), (-2.5, 252.5)]
    for _ in range(200):
        a = float(torch.randn(1, generator=g)) * 10 ** float(torch.randint(-4, 3, (1,), generator=g))
        b = float(torch.randn(1, generator=g)) * 10 ** float(torch.randint(-4, 3, (1,), generator=g))
        ranges.append((min(a, b), max(a, b)))
    for lo, hi in ranges:
        x = torch.tensor([lo, hi], dtype=torch.float32)
        for rr in (False, True):
            torch.backends.quantized.engine = "onednn"
            s, z = torch._choose_qparams_per_tensor(x, rr)
            cases.append({"min": float(x[0]), "max": float(x[1]), "qmax": 127 if rr else 255,
                          "scale": s, "zero_point": z})
    torch.backends.quantized.engine = "qnnpack"
    qp["choose_qparams"] = cases

    # Weight quantization on values built to hit ties: x/scale exactly k+0.5.
    ties = []
    for a in (0.25, 0.1, 0.013, 1e-3, 3.0):
        w = torch.tensor([127.5 * a] + [(k + 0.5) * a for k in range(-128, 127)] +
                         [-127.5 * a, 0.0, a * 0.4999999, -a * 1.5000001], dtype=torch.float32)
        obs = default_dynamic_qconfig.weight()
        obs(w)
        s, z = obs.calculate_qparams()
        q = torch.quantize_per_tensor(w, float(s), int(z), torch.qint8)
        ties.append({"w": flat(w), "scale": float(s), "int8": [int(v) for v in q.int_repr().tolist()]})
    # FBGEMM's own example of multiply-by-inverse vs divide.
    q = torch.quantize_per_tensor(torch.tensor([0.273939937]), 0.00214854861, 0, torch.quint8)
    qp["fbgemm_example_uint8"] = int(q.int_repr()[0])
    qp["weight_ties"] = ties
    # Tiny weights: the scale is clamped to float32 eps.
    w = torch.tensor([1e-9, -3e-8, 0.0], dtype=torch.float32)
    obs = default_dynamic_qconfig.weight()
    obs(w)
    s, _ = obs.calculate_qparams()
    qp["tiny_weight_scale"] = float(s)

    # Row-wise 8-bit embedding with float qparams (QuantizedEmbedding).
    emb = model.encoder
    emb.qconfig = float_qparams_weight_only_qconfig
    qemb = torch.ao.nn.quantized.Embedding.from_float(emb)
    qw = qemb.weight()
    ids = torch.tensor([0, 3, 49, 3, 17], dtype=torch.long)
    qp["embedding"] = {
        "int8": [int(v) for v in qw.int_repr().reshape(-1).tolist()],
        "scales": flat(qw.q_per_channel_scales()),
        "zero_points": flat(qw.q_per_channel_zero_points()),
        "ids": ids.tolist(),
        "output": flat(qemb(ids)),
        "repr": repr(qemb),
    }
    dump("qparams.json", qp)


def dump(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
