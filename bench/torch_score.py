"""Sentence-scoring speed of PyTorch on a word_language_model checkpoint: log-probabilities of whole sentences.

usage: /usr/bin/python3 bench/torch_score.py MODEL.pth DATA_DIR [--batch-size 16] [--lines N] [--threads 1] [--int8] [--per-sentence FILE]
prints one JSON line: {"impl": "pytorch", "which": "int8"|"fp32", "batch_size": B, "sentences": S,
"tokens": T, "seconds": s, "sentences_per_second": r, "logprob_sum": L}

The dictionary is the example's (data.py): train, valid, test of DATA_DIR in that order, words line.split() + ['<eos>'];
its size must match the model's. The sentences are ALL lines of DATA_DIR/test.txt (the first N with --lines), blank
ones included. Convention (as lstmq's scorer and testdata/torch/gen_score.py): words = line.split(), a word not in the
dictionary is '<unk>', each sentence is scored from the zero state as a continuation of '<eos>': input [<eos>, w1..wn],
targets [w1..wn, <eos>], logprob = sum of the n+1 log_softmax(logits)[target] (natural log; log_softmax in float32,
the per-sentence sums in float64). An empty line scores '<eos>' after '<eos>'.

The sentences are sorted by length (stable) and scored in batches of --batch-size: input (T+1, B) padded with the
<eos> id after each sentence's end, one forward per batch from a zero hidden state, log_softmax, the padding masked
out of the sums. Padding only follows a sentence's own tokens, so it does not change its logprob. int8 is
quantize_dynamic({LSTM, Linear}, qint8) on the onednn engine (Debian's PyTorch has no fbgemm): lstmq's "pytorch"
scheme. Only the scoring loop is timed (forward, log_softmax, gather, mask, sums); reading the files, tokenizing
and building the padded batches are not. tokens counts the scored targets (sum of n+1).
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn


class LSTMModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.encoder(input), hidden)
        return self.decoder(output), hidden


def dictionary(data_dir):
    w2i = {}
    for name in ('train.txt', 'valid.txt', 'test.txt'):
        with open(os.path.join(data_dir, name), 'r', encoding='utf8') as f:
            for line in f:
                for w in line.split() + ['<eos>']:
                    w2i.setdefault(w, len(w2i))
    return w2i


def main():
    ap = argparse.ArgumentParser(description='PyTorch sentence-scoring benchmark')
    ap.add_argument('model')
    ap.add_argument('data_dir')
    ap.add_argument('--batch-size', type=int, default=16)
    ap.add_argument('--lines', type=int, default=0, help='score only the first N lines of test.txt (0: all)')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--int8', action='store_true')
    ap.add_argument('--per-sentence', metavar='FILE', help='also write each sentence\'s logprob, one per line in input order')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    sd = torch.load(args.model, map_location='cpu')
    ntoken, ninp = sd['encoder.weight'].shape
    nhid = sd['rnn.weight_hh_l0'].shape[1]
    nlayers = sum(k.startswith('rnn.weight_ih_l') for k in sd)
    w2i = dictionary(args.data_dir)
    if len(w2i) != ntoken:
        raise SystemExit('%s: dictionary has %d words, the model %d' % (args.data_dir, len(w2i), ntoken))
    model = LSTMModel(ntoken, ninp, nhid, nlayers)
    model.load_state_dict(sd)
    model.eval()
    which = 'fp32'
    if args.int8:
        torch.backends.quantized.engine = 'onednn'
        model = torch.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
        which = 'int8'

    eos, unk = w2i['<eos>'], w2i.get('<unk>')
    with open(os.path.join(args.data_dir, 'test.txt'), 'r', encoding='utf8') as f:
        lines = f.read().splitlines()
    if args.lines:
        lines = lines[:args.lines]
    sents = []
    for line in lines:
        ids = []
        for w in line.split():
            if w in w2i:
                ids.append(w2i[w])
            elif unk is not None:
                ids.append(unk)
            else:
                raise SystemExit('word %r not in the dictionary, which has no <unk>' % w)
        sents.append(ids)
    order = sorted(range(len(sents)), key=lambda i: len(sents[i]))
    sents = [sents[i] for i in order]
    scores = []

    batches = []  # (input (T+1, B), targets (T+1, B), mask (T+1, B))
    for i in range(0, len(sents), args.batch_size):
        group = sents[i:i + args.batch_size]
        steps = max(len(s) for s in group) + 1
        inp = torch.full((steps, len(group)), eos, dtype=torch.int64)
        tgt = torch.full((steps, len(group)), eos, dtype=torch.int64)
        mask = torch.zeros((steps, len(group)), dtype=torch.bool)
        for b, s in enumerate(group):
            n = len(s)
            if n:
                inp[1:n + 1, b] = torch.tensor(s, dtype=torch.int64)
                tgt[:n, b] = torch.tensor(s, dtype=torch.int64)
            mask[:n + 1, b] = True
        batches.append((inp, tgt, mask))
    tokens = sum(len(s) + 1 for s in sents)

    total = 0.0
    start = time.time()
    with torch.no_grad():
        for inp, tgt, mask in batches:
            bsz = inp.size(1)
            hidden = (torch.zeros(nlayers, bsz, nhid), torch.zeros(nlayers, bsz, nhid))
            logits, _ = model(inp, hidden)
            lp = torch.log_softmax(logits, dim=-1).gather(2, tgt.unsqueeze(2)).squeeze(2)
            per_sentence = lp.masked_fill(~mask, 0.0).double().sum(0)
            total += float(per_sentence.sum())
            scores.extend(per_sentence.tolist())
    s = time.time() - start
    if args.per_sentence:
        by_line = [0.0] * len(scores)
        for k, i in enumerate(order):
            by_line[i] = scores[k]
        with open(args.per_sentence, 'w') as f:
            f.writelines('%.17g\n' % v for v in by_line)
    print(json.dumps({"impl": "pytorch", "which": which, "batch_size": args.batch_size, "sentences": len(sents),
                      "tokens": tokens, "seconds": s, "sentences_per_second": len(sents) / s,
                      "logprob_sum": total}))


if __name__ == '__main__':
    main()
