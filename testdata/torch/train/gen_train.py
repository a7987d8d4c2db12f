#!/usr/bin/python3
"""Generate the PyTorch training-step fixtures in testdata/torch/train.

Run by hand, never by CI:

    cd testdata/torch/train && /usr/bin/python3 gen_train.py

Needs PyTorch (written against Debian's python3-torch 1.13). For each case
it builds main.py's RNNModel (Embedding -> Dropout -> LSTM|GRU|RNN ->
Dropout -> Linear, dropout 0 so that the step is deterministic), with
weights drawn from torch.manual_seed, and runs two steps of main.py's
train() loop on random chunks (bptt T, batch B) from a random nonzero
initial state:

    model.zero_grad()
    hidden = repackage_hidden(hidden)
    output, hidden = model(data, hidden)
    loss = criterion(output.view(-1, ntokens), targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)

The LSTM cases (CASES) use the RNNModel below, which returns the decoder's
logits, with nn.CrossEntropyLoss; the cases of the other kinds (KIND_CASES)
use the example's own model.py (testdata/torch/rnn/model.py), which returns
log_softmax, with nn.NLLLoss, exactly as main.py.

Outputs, per case NAME:
  NAME_init.pth, NAME_step1.pth, NAME_step2.pth   state_dicts before and
                                                   after each step
  NAME.json  the model type, the chunks, targets, initial state (h0, and c0
             for an LSTM), lr, clip, and per step the loss and the gradient
             norm clip_grad_norm_ returned
"""

import json
import os

import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "rnn"))
import model as example  # noqa: E402  (the example's model.py)


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.0, tie_weights=False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        return self.decoder(output), hidden


CASES = [
    # name, ntoken, emsize, nhid, nlayers, tied, lr, clip, T, B, seed
    ("untied", 40, 6, 8, 2, False, 20.0, 0.25, 5, 3, 1),
    ("tied", 40, 8, 8, 2, True, 20.0, 100.0, 5, 3, 2),
    ("tied_clip", 40, 8, 8, 2, True, 5.0, 0.1, 4, 2, 3),
]

KIND_CASES = [
    # name, rnn_type, ntoken, emsize, nhid, nlayers, tied, lr, clip, T, B, seed
    ("gru_untied", "GRU", 40, 6, 8, 2, False, 20.0, 0.25, 5, 3, 11),
    ("gru_tied", "GRU", 40, 8, 8, 2, True, 20.0, 100.0, 5, 3, 12),
    ("gru_tied_clip", "GRU", 40, 8, 8, 2, True, 5.0, 0.1, 4, 2, 13),
    ("rnn_tanh_untied", "RNN_TANH", 40, 6, 8, 2, False, 20.0, 0.25, 5, 3, 21),
    ("rnn_tanh_tied", "RNN_TANH", 40, 8, 8, 2, True, 20.0, 100.0, 5, 3, 22),
    ("rnn_relu_untied", "RNN_RELU", 40, 6, 8, 2, False, 20.0, 0.25, 5, 3, 31),
    ("rnn_relu_tied", "RNN_RELU", 40, 8, 8, 2, True, 20.0, 100.0, 5, 3, 32),
]


def main():
    for name, V, E, H, L, tied, lr, clip, T, B, seed in CASES:
        torch.manual_seed(seed)
        model = RNNModel(V, E, H, L, 0.0, tied)
        # A nonzero decoder bias, so that its update is tested from a
        # nonzero start too.
        with torch.no_grad():
            model.decoder.bias.uniform_(-0.1, 0.1)
        torch.save(model.state_dict(), os.path.join(HERE, name + "_init.pth"))
        h = (torch.rand(L, B, H) * 1.6 - 0.8, torch.randn(L, B, H))
        rec = {"ntoken": V, "emsize": E, "nhid": H, "nlayers": L, "tied": tied, "lr": lr, "clip": clip,
               "bptt": T, "batch": B, "h0": h[0].flatten().tolist(), "c0": h[1].flatten().tolist(), "steps": []}
        criterion = nn.CrossEntropyLoss()
        model.train()
        for step in (1, 2):
            data = torch.randint(0, V, (T, B))
            targets = torch.randint(0, V, (T * B,))
            model.zero_grad()
            h = tuple(v.detach() for v in h)
            output, h = model(data, h)
            loss = criterion(output.view(-1, V), targets)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            torch.save(model.state_dict(), os.path.join(HERE, "%s_step%d.pth" % (name, step)))
            rec["steps"].append({"ids": data.flatten().tolist(), "targets": targets.tolist(),
                                 "loss": loss.item(), "norm": norm.item()})
            print("%s step %d: loss %.6f, gradient norm %.6f (clip %g: %s)" %
                  (name, step, loss.item(), norm.item(), clip, "clipped" if norm.item() > clip else "not clipped"))
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(rec, f, indent=1)
            f.write("\n")
    for name, rnn_type, V, E, H, L, tied, lr, clip, T, B, seed in KIND_CASES:
        kind_case(name, rnn_type, V, E, H, L, tied, lr, clip, T, B, seed)


def kind_case(name, rnn_type, V, E, H, L, tied, lr, clip, T, B, seed):
    """Two steps of main.py's train() with the example's RNNModel of rnn_type."""
    torch.manual_seed(seed)
    model = example.RNNModel(rnn_type, V, E, H, L, 0.0, tied)
    with torch.no_grad():
        model.decoder.bias.uniform_(-0.1, 0.1)
    torch.save(model.state_dict(), os.path.join(HERE, name + "_init.pth"))
    h = torch.rand(L, B, H) * 1.6 - 0.8
    rec = {"model": rnn_type, "ntoken": V, "emsize": E, "nhid": H, "nlayers": L, "tied": tied, "lr": lr,
           "clip": clip, "bptt": T, "batch": B, "h0": h.flatten().tolist(), "steps": []}
    criterion = nn.NLLLoss()
    model.train()
    for step in (1, 2):
        data = torch.randint(0, V, (T, B))
        targets = torch.randint(0, V, (T * B,))
        model.zero_grad()
        h = h.detach()
        output, h = model(data, h)
        loss = criterion(output, targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        torch.save(model.state_dict(), os.path.join(HERE, "%s_step%d.pth" % (name, step)))
        rec["steps"].append({"ids": data.flatten().tolist(), "targets": targets.tolist(),
                             "loss": loss.item(), "norm": norm.item()})
        print("%s step %d: loss %.6f, gradient norm %.6f (clip %g: %s)" %
              (name, step, loss.item(), norm.item(), clip, "clipped" if norm.item() > clip else "not clipped"))
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
