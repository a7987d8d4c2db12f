"""Make the benchmark model: a PyTorch-trained model of the tutorial's dimensions (an LSTM, or a GRU, RNN_TANH or
RNN_RELU of the same sizes).

train.txt of WikiText-2 is not available on the benchmark machines, so this trains on valid.txt. To give the
model the tutorial's vocabulary size (33278), the training file is valid.txt followed by one line of distinct
filler words ("lstmqfill00000" ...), as many as make the dictionary (train, valid, test in that order) reach
33278 words. valid.txt and test.txt are copied unchanged.

usage: /usr/bin/python3 bench/make_model.py WIKITEXT2_DIR OUT_DIR [EPOCHS [MAX_SECONDS [MODEL]]]
writes OUT_DIR/data/{train,valid,test}.txt and OUT_DIR/model.pth (a state_dict with the tutorial's keys).
MODEL is the example's --model: LSTM (the default), GRU, RNN_TANH or RNN_RELU; a RNN_RELU state_dict needs
--nonlinearity relu wherever it is read.
The training loop is the word_language_model example's (SGD, lr 20, clip 0.25, batch 20, bptt 35, dropout 0.5);
with MAX_SECONDS it stops after that much training time (the benchmark model in the README was trained for a
bounded time on a shared 2-core machine: it is a trained model, not a converged one).
"""
import math
import os
import shutil
import sys
import time

import torch
import torch.nn as nn

NTOKEN = 33278


class RNNModel(nn.Module):
    def __init__(self, kind, ntoken, ninp, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if kind in ('LSTM', 'GRU'):
            self.rnn = getattr(nn, kind)(ninp, nhid, nlayers, dropout=dropout)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity={'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[kind],
                              dropout=dropout)
        self.kind = kind
        self.decoder = nn.Linear(nhid, ntoken)
        self.encoder.weight.data.uniform_(-0.1, 0.1)
        self.decoder.bias.data.zero_()
        self.decoder.weight.data.uniform_(-0.1, 0.1)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        h = w.new_zeros(self.nlayers, bsz, self.nhid)
        return (h, h.clone()) if self.kind == 'LSTM' else h


def words(path):
    with open(path, 'r', encoding='utf8') as f:
        for line in f:
            yield line.split() + ['<eos>']


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    max_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else float('inf')
    kind = sys.argv[5].upper() if len(sys.argv) > 5 else 'LSTM'
    if kind not in ('LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU'):
        raise SystemExit('MODEL must be LSTM, GRU, RNN_TANH or RNN_RELU, got %r' % sys.argv[5])
    began = time.time()
    data = os.path.join(outdir, 'data')
    os.makedirs(data, exist_ok=True)
    vocab = {}
    for name in ('valid.txt', 'test.txt'):
        for ws in words(os.path.join(src, name)):
            for w in ws:
                vocab.setdefault(w, len(vocab))
    nfill = NTOKEN - len(vocab)
    fill = ['lstmqfill%05d' % i for i in range(nfill)]
    with open(os.path.join(data, 'train.txt'), 'w', encoding='utf8') as f:
        with open(os.path.join(src, 'valid.txt'), 'r', encoding='utf8') as v:
            f.write(v.read())
        f.write(' ' + ' '.join(fill) + ' \n')
    shutil.copyfile(os.path.join(src, 'valid.txt'), os.path.join(data, 'valid.txt'))
    shutil.copyfile(os.path.join(src, 'test.txt'), os.path.join(data, 'test.txt'))

    w2i, splits = {}, {}
    for name in ('train', 'valid', 'test'):
        ids = []
        for ws in words(os.path.join(data, name + '.txt')):
            for w in ws:
                ids.append(w2i.setdefault(w, len(w2i)))
        splits[name] = torch.tensor(ids, dtype=torch.int64)
    assert len(w2i) == NTOKEN, len(w2i)

    torch.manual_seed(1111)
    torch.set_num_threads(2)
    model = RNNModel(kind, NTOKEN, 512, 256, 5, 0.5)
    crit = nn.CrossEntropyLoss()
    bsz, bptt, lr, clip = 20, 35, 20.0, 0.25

    def batchify(d, b):
        n = d.size(0) // b
        return d[:n * b].view(b, -1).t().contiguous()

    train = batchify(splits['train'], bsz)
    valid = batchify(splits['valid'], 10)

    def evaluate(src):
        model.eval()
        total, hidden = 0.0, model.init_hidden(src.size(1))
        with torch.no_grad():
            for i in range(0, src.size(0) - 1, bptt):
                sl = min(bptt, src.size(0) - 1 - i)
                out, hidden = model(src[i:i + sl], hidden)
                total += sl * crit(out.view(-1, NTOKEN), src[i + 1:i + 1 + sl].reshape(-1)).item()
        return total / (src.size(0) - 1)

    for epoch in range(1, epochs + 1):
        model.train()
        hidden = model.init_hidden(bsz)
        t0 = time.time()
        for batch, i in enumerate(range(0, train.size(0) - 1, bptt)):
            sl = min(bptt, train.size(0) - 1 - i)
            x, y = train[i:i + sl], train[i + 1:i + 1 + sl].reshape(-1)
            hidden = tuple(h.detach() for h in hidden) if kind == 'LSTM' else hidden.detach()
            model.zero_grad()
            out, hidden = model(x, hidden)
            loss = crit(out.view(-1, NTOKEN), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            if time.time() - began > max_seconds:
                print('| stopping after %d batches: MAX_SECONDS reached' % (batch + 1), flush=True)
                break
            if batch % 50 == 0:
                print('| epoch %d | batch %d/%d | loss %.2f | %.0f s' % (
                    epoch, batch, train.size(0) // bptt, loss.item(), time.time() - t0), flush=True)
        torch.save(model.state_dict(), os.path.join(outdir, 'model.pth'))
        vl = evaluate(valid)
        print('| end of epoch %d | valid loss %.3f | valid ppl %.1f' % (epoch, vl, math.exp(vl)), flush=True)


if __name__ == '__main__':
    main()
