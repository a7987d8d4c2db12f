"""PyTorch's word_language_model main.py loop (LSTM), for comparing lstmq train against it side by side.

usage: /usr/bin/python3 bench/torch_train.py DATA_DIR THREADS [EPOCHS] [--tied] [--max-batches N]
Defaults as main.py: emsize 200, nhid 200, 2 layers, lr 20, clip 0.25, batch 20, bptt 35, dropout 0.2, seed 1111.
Prints main.py-like lines and, at the end, one JSON line:
{"impl": "pytorch", "valid_loss": ..., "words_per_second": ..., "train_seconds": ...}
words/s counts training targets over the time spent in training batches (evaluation excluded), as lstmq does.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout, tie):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie:
            self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden


def tokenize(paths):
    w2i, out = {}, []
    for p in paths:
        ids = []
        with open(p, 'r', encoding='utf8') as f:
            for line in f:
                for w in line.split() + ['<eos>']:
                    ids.append(w2i.setdefault(w, len(w2i)))
        out.append(torch.tensor(ids, dtype=torch.int64))
    return len(w2i), out


def batchify(d, b):
    n = d.size(0) // b
    return d[:n * b].view(b, -1).t().contiguous()


def main():
    data_dir, threads = sys.argv[1], int(sys.argv[2])
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 and not sys.argv[3].startswith('-') else 1
    tied = '--tied' in sys.argv
    max_batches = int(sys.argv[sys.argv.index('--max-batches') + 1]) if '--max-batches' in sys.argv else 0
    torch.set_num_threads(threads)
    torch.manual_seed(1111)
    ntok, (train, valid, _) = tokenize([os.path.join(data_dir, n) for n in ('train.txt', 'valid.txt', 'test.txt')])
    bptt, bsz, lr, clip = 35, 20, 20.0, 0.25
    train_data, val_data = batchify(train, bsz), batchify(valid, 10)
    model = RNNModel(ntok, 200, 200, 2, 0.2, tied)
    crit = nn.CrossEntropyLoss()

    def evaluate(src):
        model.eval()
        total, hidden = 0., (torch.zeros(2, 10, 200), torch.zeros(2, 10, 200))
        with torch.no_grad():
            for i in range(0, src.size(0) - 1, bptt):
                sl = min(bptt, src.size(0) - 1 - i)
                out, hidden = model(src[i:i + sl], hidden)
                total += sl * crit(out.view(-1, ntok), src[i + 1:i + 1 + sl].reshape(-1)).item()
        return total / (src.size(0) - 1)

    train_time, words = 0., 0
    for epoch in range(1, epochs + 1):
        model.train()
        hidden = (torch.zeros(2, bsz, 200), torch.zeros(2, bsz, 200))
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            if max_batches and batch >= max_batches:
                break
            t0 = time.time()
            sl = min(bptt, train_data.size(0) - 1 - i)
            x, y = train_data[i:i + sl], train_data[i + 1:i + 1 + sl].reshape(-1)
            model.zero_grad()
            hidden = tuple(h.detach() for h in hidden)
            out, hidden = model(x, hidden)
            loss = crit(out.view(-1, ntok), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            train_time += time.time() - t0
            words += y.numel()
            if batch % 200 == 0 and batch > 0:
                print('| epoch %3d | %5d/%5d batches | loss %5.2f | %.0f words/s' % (
                    epoch, batch, len(train_data) // bptt, loss.item(), words / train_time), flush=True)
        if max_batches:  # a throughput run: no validation
            vl = float('nan')
            continue
        vl = evaluate(val_data)
        print('| end of epoch %3d | valid loss %5.2f | valid ppl %8.2f' % (epoch, vl, math.exp(vl)), flush=True)
    print(json.dumps({"impl": "pytorch", "valid_loss": vl, "words_per_second": words / train_time,
                      "train_seconds": train_time, "threads": threads}))


if __name__ == '__main__':
    main()
