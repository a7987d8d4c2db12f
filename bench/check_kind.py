"""Train a PyTorch model of the example's RNNModel of any kind at the tutorial's size, save it both ways the
example's users hold it, and record PyTorch's losses: the reference for checking lstmq on a model it has not seen
(issue "The example's other models").

usage: /usr/bin/python3 bench/check_kind.py DATA_DIR OUT_DIR TYPE [MAX_SECONDS]
  DATA_DIR  train.txt, valid.txt, test.txt (bench/make_model.py's OUT_DIR/data has the tutorial's 33,278 words)
  TYPE      LSTM, GRU, RNN_TANH or RNN_RELU
writes OUT_DIR/model.pth (state_dict), OUT_DIR/model.pt (torch.save(model), class model.RNNModel from
testdata/torch/rnn/model.py) and OUT_DIR/torch.json:
  {"type", "fp32_loss_5000": evaluate() on the first 5,000 test tokens (bptt 25, batch 1),
   "int8_loss_20000" and "fp32_loss_20000": the same on 20,000 tokens, int8 being
   quantize_dynamic({nn.LSTM|nn.GRU|nn.RNN, nn.Linear}, qint8) under onednn}
Training: the example's main.py loop (SGD lr 20, clip 0.25, batch 20, bptt 35, dropout 0.2), emsize = nhid = 200,
2 layers, for MAX_SECONDS (default 120) of training time: a trained model, not a converged one.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "testdata", "torch", "rnn"))
import model as example  # noqa: E402


def tokenize(d, path):
    ids = []
    with open(path, encoding="utf8") as f:
        for line in f:
            for w in line.split() + ["<eos>"]:
                ids.append(d.setdefault(w, len(d)))
    return torch.tensor(ids, dtype=torch.int64)


def batchify(data, bsz):
    n = data.size(0) // bsz
    return data.narrow(0, 0, n * bsz).view(bsz, -1).t().contiguous()


def evaluate(m, source, bptt=25):
    m.eval()
    crit = nn.NLLLoss()
    total, hidden = 0.0, m.init_hidden(1)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, bptt):
            n = min(bptt, len(source) - 1 - i)
            out, hidden = m(source[i:i + n], hidden)
            total += n * crit(out, source[i + 1:i + 1 + n].view(-1)).item()
    return total / (len(source) - 1)


def main():
    data, out, typ = sys.argv[1], sys.argv[2], sys.argv[3]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 120
    torch.manual_seed(1111)
    d = {}
    train, _, test = (tokenize(d, os.path.join(data, s + ".txt")) for s in ("train", "valid", "test"))
    m = example.RNNModel(typ, len(d), 200, 200, 2, 0.2)
    tr = batchify(train, 20)
    crit = nn.NLLLoss()
    lr, start = 20.0, time.time()
    m.train()
    hidden = m.init_hidden(20)
    i = 0
    while time.time() - start < seconds:
        if i >= tr.size(0) - 1:
            i, hidden = 0, m.init_hidden(20)
        n = min(35, tr.size(0) - 1 - i)
        x, y = tr[i:i + n], tr[i + 1:i + 1 + n].reshape(-1)
        hidden = tuple(h.detach() for h in hidden) if isinstance(hidden, tuple) else hidden.detach()
        m.zero_grad()
        o, hidden = m(x, hidden)
        crit(o, y).backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 0.25)
        for p in m.parameters():
            p.data.add_(p.grad, alpha=-lr)
        i += n
    m.eval()
    os.makedirs(out, exist_ok=True)
    torch.save(m.state_dict(), os.path.join(out, "model.pth"))
    torch.save(m, os.path.join(out, "model.pt"))
    torch.set_num_threads(1)
    torch.backends.quantized.engine = "onednn"
    rnn = {"LSTM": nn.LSTM, "GRU": nn.GRU}.get(typ, nn.RNN)
    qm = torch.quantization.quantize_dynamic(m, {rnn, nn.Linear}, dtype=torch.qint8)
    res = {"type": typ, "trained_seconds": seconds,
           "fp32_loss_5000": evaluate(m, test[:5000].view(-1, 1)),
           "fp32_loss_20000": evaluate(m, test[:20000].view(-1, 1)),
           "int8_loss_20000": evaluate(qm, test[:20000].view(-1, 1))}
    with open(os.path.join(out, "torch.json"), "w") as f:
        json.dump(res, f)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
