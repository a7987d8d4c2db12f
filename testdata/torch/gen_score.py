#!/usr/bin/python3
"""Golden fixtures for sentence scoring, from PyTorch 1.13.

Run by hand from the repository root (needs Debian's python3-torch):

    /usr/bin/python3 testdata/torch/gen_score.py

It reads testdata/torch/deep.pth, tied.pth and corpus/{train,valid,test}.txt
(all made by gen.py), and the example's GRU (rnn/gru.pt, torch.save(model))
and RNN_RELU (rnn/rnn_relu.pth, a state_dict) made by rnn/gen_rnn.py, and
writes testdata/torch/score/score.json.

Scoring convention (what the Go scorer must reproduce):
  * A sentence is split into words with Python's str.split() (any run of
    whitespace separates words; leading/trailing whitespace is ignored).
  * Each sentence is scored from the zero hidden state (init_hidden(1)) as a
    continuation of '<eos>': the input ids are [<eos>, w1, ..., wn], fed as ONE
    sequence of shape (n+1, 1) in one forward call model(input, hidden), and the
    targets are [w1, ..., wn, <eos>].
  * The per-token log-probability is log_softmax(logits)[target] (natural log),
    computed in float64 from the float32 logits (logits.double().log_softmax(-1)).
    The sentence logprob is the sum of its n+1 per-token log-probabilities,
    summed in float64 in order.
  * A word not in the dictionary is scored as '<unk>' (the fixture dictionary
    has '<unk>'); such words are marked in "unknown".
  * An empty (or whitespace-only) sentence has n = 0: it scores '<eos>' after
    '<eos>' (one term).
The dictionary is the example's data.py Dictionary over train, valid, test in
that order, each line's words being line.split() + ['<eos>'].

Variants, each the whole model evaluated in eval mode:
  fp32     the float32 model
  pytorch  quantize_dynamic(model, {nn.LSTM or nn.GRU or nn.RNN, nn.Linear}, dtype=torch.qint8)
           (PyTorch leaves nn.RNN in float and quantizes the decoder alone)
           under torch.backends.quantized.engine = 'onednn' (reduce_range:
           activations in [0, 127]); lstmq's int8 scheme "pytorch"
  act8     the same under engine 'qnnpack' (activations in [0, 255]); lstmq's
           scheme "act8" (LSTM models only)

score.json layout:
  {"convention": str, "torch_version": str, "dictionary_len": int,
   "has_unk": bool, "unk_id": int,
   "models": {"deep"|"tied"|"gru"|"rnn_relu": {
       "file": "deep.pth"|"tied.pth"|"rnn/gru.pt"|"rnn/rnn_relu.pth",
       "type": "LSTM"|"GRU"|"RNN_RELU", "nonlinearity": ""|"relu",
       "variants": {"fp32"|"pytorch"|"act8": [
           {"text": str, "words": [str], "unknown": [bool per word],
            "ids": [int n+1], "targets": [int n+1],
            "token_logprobs": [float n+1], "logprob": float}, ...]},
       "next": [{"context": str, "ids": [int 5], "words": [str 5],
                 "probs": [float 5]}, ...]}}}
"next" (fp32 only): the 5 most probable next words after the context
"<eos> w1 .. wk" (the context string holds the words w1..wk; the input is
[<eos>, w1, ..., wk] as one sequence from the zero state), probabilities
softmax in float64 of the float32 logits of the last step, highest first
(ties by lower id).

Everything is deterministic (same bytes on every run). Under qnnpack PyTorch
prints a "qnnpack incorrectly ignores reduce_range" warning to stderr for every
quantized call; it is expected (that is what makes "act8" use [0, 255]).
"""
import json
import math
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
OUT = os.path.join(HERE, "score", "score.json")

CONVENTION = (
    "words = text.split(); ids = [<eos>] + words; targets = words + [<eos>]; one forward of ids as a (n+1, 1) "
    "sequence from the zero hidden state; token_logprobs[t] = log_softmax(float64(logits[t]))[targets[t]] "
    "(natural log, float64 from float32 logits); logprob = sum of the n+1 token logprobs; out-of-dictionary "
    "words are scored as <unk>; an empty or whitespace-only text scores <eos> after <eos> (1 term)")


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]


def build_dictionary(path):
    d = Dictionary()
    for split in ("train", "valid", "test"):
        with open(os.path.join(path, split + ".txt"), "r", encoding="utf8") as f:
            for line in f:
                for w in line.split() + ["<eos>"]:
                    d.add_word(w)
    return d


class RNNModel(nn.Module):
    """gen.py's RNNModel (word_language_model's, LSTM, no dropout), returning raw logits."""

    def __init__(self, ntoken, ninp, nhid, nlayers, tie_weights=False):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            assert nhid == ninp
            self.decoder.weight = self.encoder.weight
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.encoder(input)
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(output)
        return decoded.view(-1, decoded.size(-1)), hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        return (w.new_zeros(self.nlayers, bsz, self.nhid), w.new_zeros(self.nlayers, bsz, self.nhid))


def load(name, tied):
    sd = torch.load(os.path.join(HERE, name), map_location="cpu")
    ntoken, ninp = sd["encoder.weight"].shape
    nhid = sd["rnn.weight_hh_l0"].shape[1]
    nlayers = sum(k.startswith("rnn.weight_ih_l") for k in sd)
    m = RNNModel(ntoken, ninp, nhid, nlayers, tie_weights=tied)
    m.load_state_dict(sd)
    if tied:
        assert m.decoder.weight.data_ptr() == m.encoder.weight.data_ptr()
    return m.eval()


class Logits(nn.Module):
    """The example's RNNModel (rnn/model.py) returning the decoder's raw
    logits instead of their log_softmax, as RNNModel above does."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input, hidden):
        output, hidden = self.m.rnn(self.m.encoder(input), hidden)
        decoded = self.m.decoder(output)
        return decoded.view(-1, decoded.size(-1)), hidden

    def init_hidden(self, bsz):
        return self.m.init_hidden(bsz)


def load_example(file):
    import sys
    sys.path.insert(0, os.path.join(HERE, "rnn"))
    import model as example  # noqa: F401  (torch.load of a .pt needs model.RNNModel)
    path = os.path.join(HERE, file)
    if file.endswith(".pt"):
        return Logits(torch.load(path).eval())
    sd = torch.load(path)
    m = example.RNNModel("RNN_RELU", sd["encoder.weight"].shape[0], 16, 16, 2, 0.2)
    m.load_state_dict(sd)
    return Logits(m.eval())


def read_lines(split):
    with open(os.path.join(CORPUS, split + ".txt"), "r", encoding="utf8") as f:
        return [line.rstrip("\n") for line in f]


def sentences(d):
    """~40 held-out texts: test lines 0-21 (line 20 is blank), valid lines 0-11,
    the two longest test lines not yet taken, and synthetic ones."""
    test, valid = read_lines("test"), read_lines("valid")
    texts = test[:22] + valid[:12]
    rest = sorted(range(22, len(test)), key=lambda i: (-len(test[i].split()), i))[:2]
    texts += [test[i] for i in sorted(rest)]
    has_unk = "<unk>" in d.word2idx
    oov = ["zzqxnotaword", "Blorptastic"]
    for w in oov:
        assert w not in d.word2idx
    if has_unk:
        texts.append("the " + oov[0] + " of " + oov[1] + " .")
    texts.append("  \tthe of and , .\t \t ")
    texts.append(" \t ")
    texts.append("")
    return texts


def encode(d, text):
    words = text.split()
    eos = d.word2idx["<eos>"]
    unk = d.word2idx.get("<unk>")
    ids, unknown = [], []
    for w in words:
        if w in d.word2idx:
            ids.append(d.word2idx[w])
            unknown.append(False)
        elif unk is not None:
            ids.append(unk)
            unknown.append(True)
        else:
            raise ValueError("word %r not in the dictionary and no <unk>" % w)
    return words, unknown, [eos] + ids, ids + [eos]


def score(model, d, text):
    words, unknown, inp, tgt = encode(d, text)
    with torch.no_grad():
        logits, _ = model(torch.tensor(inp, dtype=torch.int64).view(-1, 1), model.init_hidden(1))
    lp = logits.double().log_softmax(-1)
    toks = [float(lp[t, tgt[t]]) for t in range(len(tgt))]
    total = 0.0
    for v in toks:
        total += v
    return {"text": text, "words": words, "unknown": unknown, "ids": inp, "targets": tgt,
            "token_logprobs": toks, "logprob": total}


def top5(model, d, words):
    _, _, inp, _ = encode(d, " ".join(words))
    with torch.no_grad():
        logits, _ = model(torch.tensor(inp, dtype=torch.int64).view(-1, 1), model.init_hidden(1))
    p = logits[-1].double().softmax(-1).tolist()
    best = sorted(range(len(p)), key=lambda i: (-p[i], i))[:5]
    return {"context": " ".join(words), "ids": best, "words": [d.idx2word[i] for i in best],
            "probs": [p[i] for i in best]}


def variant(model, name, rnn=nn.LSTM):
    if name == "fp32":
        return model
    torch.backends.quantized.engine = {"pytorch": "onednn", "act8": "qnnpack"}[name]
    return torch.quantization.quantize_dynamic(model, {rnn, nn.Linear}, dtype=torch.qint8)


def main():
    torch.set_num_threads(1)
    d = build_dictionary(CORPUS)
    texts = sentences(d)
    doc = {"convention": CONVENTION, "torch_version": torch.__version__,
           "dictionary_len": len(d.idx2word), "has_unk": "<unk>" in d.word2idx,
           "unk_id": d.word2idx.get("<unk>", -1), "models": {}}
    models = (("deep", "deep.pth", "LSTM", ""), ("tied", "tied.pth", "LSTM", ""),
              ("gru", "rnn/gru.pt", "GRU", ""), ("rnn_relu", "rnn/rnn_relu.pth", "RNN_RELU", "relu"))
    for name, file, typ, nonlinearity in models:
        if typ == "LSTM":
            model, variants = load(file, name == "tied"), ("fp32", "pytorch", "act8")
        else:
            model, variants = load_example(file), ("fp32", "pytorch")
        entry = {"file": file, "type": typ, "nonlinearity": nonlinearity, "variants": {}}
        for v in variants:
            m = variant(model, v, {"GRU": nn.GRU, "RNN_RELU": nn.RNN}.get(typ, nn.LSTM))
            # the engine stays set while the quantized model runs
            entry["variants"][v] = [score(m, d, t) for t in texts]
        # "next": the first 3 words of 5 sentences with at least 3 words, plus an empty context
        prefixes = [t.split()[:3] for t in texts if len(t.split()) >= 3][:5] + [[]]
        entry["next"] = [top5(model, d, p) for p in prefixes]
        doc["models"][name] = entry
        fp = entry["variants"]["fp32"]
        for v in variants[1:]:
            q = entry["variants"][v]
            diff = max(abs(a["logprob"] - b["logprob"]) for a, b in zip(fp, q))
            tdiff = max(abs(x - y) for a, b in zip(fp, q) for x, y in zip(a["token_logprobs"], b["token_logprobs"]))
            print("%s %s: max |logprob - fp32| %.4g, max per-token %.4g" % (name, v, diff, tdiff))
        ntok = sum(len(s["targets"]) for s in fp)
        print("%s fp32: %d sentences, %d tokens, mean logprob/token %.4f (uniform %.4f)" % (
            name, len(fp), ntok, sum(s["logprob"] for s in fp) / ntok, -math.log(len(d.idx2word))))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(OUT, os.path.getsize(OUT))


if __name__ == "__main__":
    main()
