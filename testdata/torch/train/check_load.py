#!/usr/bin/python3
"""Check that PyTorch loads checkpoints written by `lstmq train`.

Run by hand, never by CI:

    go test ./train -run TestGoCheckpointLoadsInPyTorch -train.fixtures   # rewrites go_*.pth
    /usr/bin/python3 testdata/torch/train/check_load.py                  # writes check_load.json

For each go_*.pth (one epoch of Go training on testdata/torch/corpus, one
file per model type, LSTM, GRU, RNN_TANH and RNN_RELU, tied and untied) it
checks that torch.load(weights_only=True) reads it, that load_state_dict
(strict) accepts it into the example's RNNModel (testdata/torch/rnn/model.py)
of that type, tied or not, that a tied decoder.weight shares the encoder's
storage, and it runs main.py's evaluate() on the test split (eval batch
size 10, bptt 35, nn.NLLLoss on the model's log_softmax). The losses go to
check_load.json, which the Go test compares with its own.
"""

import json
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "rnn"))
import gen  # noqa: E402  (testdata/torch/gen.py: data.py's Corpus, batchify)
from model import RNNModel  # noqa: E402  (the example's model.py)

EVAL_BATCH_SIZE = 10
BPTT = 35

FIXTURES = [
    # name, rnn_type, emsize, nhid, nlayers, tied
    ("go_tied", "LSTM", 16, 16, 2, True),
    ("go_untied", "LSTM", 12, 16, 2, False),
    ("go_gru_tied", "GRU", 16, 16, 2, True),
    ("go_gru_untied", "GRU", 12, 16, 2, False),
    ("go_rnn_tanh_tied", "RNN_TANH", 16, 16, 2, True),
    ("go_rnn_relu_untied", "RNN_RELU", 12, 16, 2, False),
]


def evaluate(model, source, ntokens):
    """main.py's evaluate()."""
    criterion = nn.NLLLoss()
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(EVAL_BATCH_SIZE)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, BPTT):
            seq_len = min(BPTT, len(source) - 1 - i)
            data, targets = source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)
            output, hidden = model(data, hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(source) - 1)


def main():
    corpus = gen.Corpus(os.path.join(os.path.dirname(HERE), "corpus"))
    V = len(corpus.dictionary.idx2word)
    test = gen.batchify(corpus.test, EVAL_BATCH_SIZE)
    res = {}
    for name, rnn_type, E, H, L, tied in FIXTURES:
        sd = torch.load(os.path.join(HERE, name + ".pth"), weights_only=True)
        model = RNNModel(rnn_type, V, E, H, L, 0.0, tied)
        model.load_state_dict(sd, strict=True)
        if tied:
            assert sd["decoder.weight"].data_ptr() == sd["encoder.weight"].data_ptr(), "not tied"
            assert model.decoder.weight is model.encoder.weight
        loss = evaluate(model, test, V)
        res[name] = loss
        print(f"{name}.pth: torch.load(weights_only=True) + load_state_dict(strict) into RNNModel({rnn_type!r}) OK, "
              f"tied={tied}, test loss {loss!r}")
    with open(os.path.join(HERE, "check_load.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
