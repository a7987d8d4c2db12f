"""Batch-1 generation speed of PyTorch on a word_language_model checkpoint, as the tutorial generates text.

usage: /usr/bin/python3 bench/torch_generate.py MODEL.pth WORDS fp32|int8
prints one JSON line: {"impl": "pytorch", "which": ..., "words": N, "seconds": s, "words_per_second": r}
One thread, as the tutorial's timings; int8 is quantize_dynamic({LSTM, Linear}, qint8) on the onednn engine
(Debian's PyTorch has no fbgemm). Only the sampling loop is timed.
"""
import json
import sys
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


def main():
    path, words, which = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    sd = torch.load(path, map_location='cpu')
    ntoken, ninp = sd['encoder.weight'].shape
    nhid = sd['rnn.weight_hh_l0'].shape[1]
    nlayers = sum(k.startswith('rnn.weight_ih_l') for k in sd)
    model = LSTMModel(ntoken, ninp, nhid, nlayers)
    model.load_state_dict(sd)
    model.eval()
    if which == 'int8':
        torch.backends.quantized.engine = 'onednn'
        model = torch.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear}, dtype=torch.qint8)
    torch.manual_seed(1)
    inp = torch.randint(ntoken, (1, 1), dtype=torch.long)
    hidden = (torch.zeros(nlayers, 1, nhid), torch.zeros(nlayers, 1, nhid))
    start = time.time()
    with torch.no_grad():
        for _ in range(words):
            output, hidden = model(inp, hidden)
            weights = output.squeeze().div(1.0).exp()
            inp.fill_(torch.multinomial(weights, 1)[0])
    s = time.time() - start
    print(json.dumps({"impl": "pytorch", "which": which, "words": words, "seconds": s, "words_per_second": words / s}))


if __name__ == '__main__':
    main()
