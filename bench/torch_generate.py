"""Batch-1 generation speed of PyTorch on a word_language_model checkpoint, as the tutorial generates text.

usage: /usr/bin/python3 bench/torch_generate.py MODEL WORDS fp32|int8 [THREADS [NONLINEARITY]]
prints one JSON line: {"impl": "pytorch", "which": ..., "words": N, "seconds": s, "words_per_second": r}
MODEL is any model bench/anchors reads (LSTM, GRU, RNN_TANH, RNN_RELU; a state_dict or the example's
torch.save(model) file; NONLINEARITY tanh or relu for a state_dict RNN). THREADS defaults to 1, as the
tutorial's timings; int8 is quantize_dynamic({LSTM, GRU, Linear}, qint8) on the onednn engine (Debian's PyTorch
has no fbgemm). Only the sampling loop is timed.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'anchors'))
sys.dont_write_bytecode = True

import torch  # noqa: E402

import rnnlm  # noqa: E402


def main():
    path, words, which = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    nonlinearity = sys.argv[5] if len(sys.argv) > 5 else ''
    torch.set_num_threads(threads)
    model = rnnlm.load(path, nonlinearity)
    if which == 'int8':
        model = rnnlm.quantize_int8(model)
    elif which != 'fp32':
        raise SystemExit('which must be fp32 or int8, got %r' % which)
    torch.manual_seed(1)
    inp = torch.randint(model.ntoken, (1, 1), dtype=torch.long)
    state = model.zero_state(1)
    start = time.time()
    with torch.no_grad():
        for _ in range(words):
            output, state = model(inp, state)
            weights = output.squeeze().div(1.0).exp()
            inp.fill_(torch.multinomial(weights, 1)[0])
    s = time.time() - start
    print(json.dumps({"impl": "pytorch", "which": which, "words": words, "seconds": s, "words_per_second": words / s}))


if __name__ == '__main__':
    main()
