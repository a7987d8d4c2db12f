#!/usr/bin/python3
"""Generate the golden PyTorch fixtures in testdata/torch.

Run by hand, never by CI:

    cd testdata/torch && /usr/bin/python3 gen.py

Needs PyTorch (written against Debian's python3-torch 1.13). Everything is
deterministic: the corpus comes from random.Random(SEED), the weights from
torch.manual_seed(SEED). The outputs are small (well under 2 MB in total).

Outputs
  corpus/{train,valid,test}.txt   generated words, vocabulary ~300
  deep.pth, deep_legacy.pth        Embedding(V,12) -> LSTM(12,10,3) -> Linear(10,V)
  deep_f16.pth, deep_bf16.pth, deep_f64.pth   the same weights cast to half/bfloat16/double
  deep_noncontig.pth               the same float32 weights stored as views with
                                   swapped strides, storage offsets and shared storages
  tied.pth, tied_legacy.pth        Embedding(V,16) -> LSTM(16,16,2) -> Linear(16,V),
                                   decoder.weight is encoder.weight (one storage)
  special.pth                      f16/bf16 special values (zeros, subnormals, inf, nan)
  tiny.pth, tiny_legacy.pth        a Linear(3,2) with a tied key and a half key: fuzz seeds
  tiny_p4.pth                      tiny.pth pickled with protocol 4
  deep.json, tied.json             PyTorch's outputs on the test split (see below)
  tensors.json                     per fixture: keys in order, shape, dtype, sum
                                   and sample elements of every tensor, shared storages
  hostile fixtures                 posix_system.pth, posix_system_legacy.pth,
                                   truncated.pth, truncated_legacy.pth,
                                   nontensor.pth
  quantized.pth                    quantize_dynamic(RNNModel(50, 8, 8, 2)) under
                                   qnnpack; not hostile since pth reads quantized
                                   state dicts (fixtures: gen_qckpt.py)

deep.json / tied.json (floats are Python reprs of the float32 values, or
float64 for losses):
  name, files[]           model name; the .pth files holding its weights
  torch_version
  vocab_size, ninp, nhid, nlayers, tied, bptt (25), batch_size (1)
  tokens {train, valid, test}   token counts of the splits (with <eos>)
  vocab[]                 words by id: data.py's Dictionary over train, valid, test
  first_chunk {input[25], target[25], logits_shape [25, V], logits[25*V]}
                          decoder outputs (pre-softmax), row t = time step t,
                          for test[0:25] from a zero hidden state
  final_hidden {shape [nlayers, 1, nhid], h[], c[]}
                          after evaluate() over the whole test split
  test_loss, test_ppl     evaluate() on the test split, and exp of it
  test100_loss            evaluate() on test[:100] (99 targets)

tensors.json: {file: {format "zip"|"legacy", keys[] in file order,
  tensors {key: {shape, dtype, contiguous, storage_offset, stride, sum (float64),
  samples [[flat index, value], ...]}}, shared [[keys sharing a storage], ...]}},
  "special.pth": {key: {dtype, bits[] (float32 bit patterns as int32)}},
  "hostile": {file: substring the loader's error must contain}}

The model is the one of PyTorch's word_language_model example (RNNModel with
an LSTM, eval mode so dropout is off); evaluate() is the example's:
    total += len(chunk) * CrossEntropy(mean)(logits, targets); loss = total / (len(data) - 1)
with bptt 25 and the test split batchified with bsz 1.
"""

import collections
import io
import json
import math
import os
import pickle
import random
import zipfile

import torch
import torch.nn as nn

SEED = 20261129
BPTT = 25
QUANT_ENGINE = "qnnpack"  # torch.backends.quantized.engine used for quantized.pth

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name):
    return os.path.join(HERE, name)


# ---------------------------------------------------------------- corpus

def make_corpus():
    rng = random.Random(SEED)
    onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "st", "tr", "pl"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou"]
    codas = ["", "n", "r", "s", "l", "th"]
    words = set()
    while len(words) < 290:
        n = rng.choice([1, 2, 2, 3])
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(n)))
    vocab = sorted(words)
    rng.shuffle(vocab)
    vocab = ["the", ",", ".", "<unk>", "of", "and"] + vocab
    weights = [1.0 / (r + 1) ** 1.1 for r in range(len(vocab))]

    def lines(n):
        res = []
        for _ in range(n):
            k = rng.choice([0, 0] + list(range(3, 22)))
            res.append(" ".join(rng.choices(vocab, weights, k=k)))
        return res

    os.makedirs(out("corpus"), exist_ok=True)
    for split, n in (("train", 400), ("valid", 100), ("test", 120)):
        with open(out(os.path.join("corpus", split + ".txt")), "w", encoding="utf8") as f:
            for line in lines(n):
                # Leading space as in wikitext; tokenization is line.split().
                f.write(" " + line + " \n" if line else " \n")


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]


class Corpus:
    """word_language_model/data.py: one dictionary over train, valid, test in that order."""

    def __init__(self, path):
        self.dictionary = Dictionary()
        self.train = self.tokenize(os.path.join(path, "train.txt"))
        self.valid = self.tokenize(os.path.join(path, "valid.txt"))
        self.test = self.tokenize(os.path.join(path, "test.txt"))

    def tokenize(self, path):
        ids = []
        with open(path, "r", encoding="utf8") as f:
            for line in f:
                for word in line.split() + ["<eos>"]:
                    ids.append(self.dictionary.add_word(word))
        return torch.tensor(ids, dtype=torch.int64)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i):
    seq_len = min(BPTT, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].view(-1)


# ---------------------------------------------------------------- model

class RNNModel(nn.Module):
    """word_language_model/model.py RNNModel('LSTM', ...), returning raw logits."""

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


def evaluate(model, source):
    criterion = nn.CrossEntropyLoss()
    model.eval()
    total = 0.0
    hidden = model.init_hidden(1)
    with torch.no_grad():
        for i in range(0, source.size(0) - 1, BPTT):
            data, targets = get_batch(source, i)
            output, hidden = model(data, hidden)
            total += len(data) * criterion(output, targets).item()
    return total / (len(source) - 1), hidden


def floats(t):
    return [float(x) for x in t.detach().double().flatten().tolist()]


def golden(name, model, corpus, files, ninp, nhid, nlayers, tied):
    test = batchify(corpus.test, 1)
    model.eval()
    with torch.no_grad():
        data, targets = get_batch(test, 0)
        logits, _ = model(data, model.init_hidden(1))
    loss, (h, c) = evaluate(model, test)
    loss100, _ = evaluate(model, test[:100])
    doc = collections.OrderedDict([
        ("name", name),
        ("files", files),
        ("torch_version", torch.__version__),
        ("vocab_size", len(corpus.dictionary.idx2word)),
        ("ninp", ninp),
        ("nhid", nhid),
        ("nlayers", nlayers),
        ("tied", tied),
        ("bptt", BPTT),
        ("batch_size", 1),
        ("tokens", {"train": len(corpus.train), "valid": len(corpus.valid), "test": len(corpus.test)}),
        ("vocab", corpus.dictionary.idx2word),
        ("first_chunk", collections.OrderedDict([
            ("input", data.view(-1).tolist()),
            ("target", targets.tolist()),
            ("logits_shape", list(logits.shape)),
            ("logits", floats(logits)),
        ])),
        ("final_hidden", collections.OrderedDict([
            ("shape", list(h.shape)),
            ("h", floats(h)),
            ("c", floats(c)),
        ])),
        ("test_loss", loss),
        ("test_ppl", math.exp(loss)),
        ("test100_loss", loss100),
    ])
    with open(out(name + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return loss


# ---------------------------------------------------------------- manifest

def sample_indices(n):
    return sorted({i for i in (0, 1, n // 7, n // 3, n // 2, (2 * n) // 3, n - 2, n - 1) if 0 <= i < n})


DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64"}


def describe(sd, fmt):
    """What the Go tests check: computed by torch from the tensors as saved."""
    tensors = collections.OrderedDict()
    groups = collections.OrderedDict()
    for k, v in sd.items():
        flat = v.detach().double().flatten()
        n = flat.numel()
        tensors[k] = collections.OrderedDict([
            ("shape", list(v.shape)),
            ("dtype", DTYPES[v.dtype]),
            ("contiguous", v.is_contiguous()),
            ("storage_offset", v.storage_offset()),
            ("stride", list(v.stride())),
            ("sum", float(flat.sum())),
            ("samples", [[i, float(flat[i])] for i in sample_indices(n)]),
        ])
        groups.setdefault(v.storage().data_ptr(), []).append(k)
    return collections.OrderedDict([
        ("format", fmt),
        ("keys", list(sd.keys())),
        ("tensors", tensors),
        ("shared", [g for g in groups.values() if len(g) > 1]),
    ])


def save(sd, name, manifest, legacy=False):
    torch.save(sd, out(name), _use_new_zipfile_serialization=not legacy)
    # Check that the file round-trips through torch before describing it.
    back = torch.load(out(name))
    assert list(back.keys()) == list(sd.keys())
    for k in sd:
        assert torch.equal(back[k], sd[k]), (name, k)
    manifest[name] = describe(sd, "legacy" if legacy else "zip")


# ---------------------------------------------------------------- hostile

class Evil:
    def __reduce__(self):
        return (os.system, ("echo this pickle must never run",))


def legacy_header():
    b = io.BytesIO()
    pickle.dump(0x1950a86a20f9469cfc6c, b, protocol=2)
    pickle.dump(1001, b, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, b, protocol=2)
    return b.getvalue()


def hostile(manifest):
    evil = pickle.dumps(collections.OrderedDict([("w", Evil())]), protocol=2)
    assert b"posix\nsystem" in evil
    with zipfile.ZipFile(out("posix_system.pth"), "w", zipfile.ZIP_STORED) as z:
        # fixed dates keep the file byte-identical between runs
        z.writestr(zipfile.ZipInfo("posix_system/data.pkl", (1980, 1, 1, 0, 0, 0)), evil)
        z.writestr(zipfile.ZipInfo("posix_system/version", (1980, 1, 1, 0, 0, 0)), "3\n")
    with open(out("posix_system_legacy.pth"), "wb") as f:
        f.write(legacy_header() + evil + pickle.dumps([], protocol=2))

    deep = open(out("deep.pth"), "rb").read()
    with open(out("truncated.pth"), "wb") as f:
        f.write(deep[: len(deep) // 2])
    legacy = open(out("deep_legacy.pth"), "rb").read()
    with open(out("truncated_legacy.pth"), "wb") as f:
        f.write(legacy[: len(legacy) - 100])

    torch.save(collections.OrderedDict([("encoder.weight", torch.ones(2, 3)), ("epoch", 3)]), out("nontensor.pth"))

    torch.backends.quantized.engine = QUANT_ENGINE
    torch.manual_seed(SEED)
    m = RNNModel(50, 8, 8, 2)
    q = torch.quantization.quantize_dynamic(m, {nn.LSTM, nn.Linear}, torch.qint8)
    torch.save(q.state_dict(), out("quantized.pth"))

    manifest["hostile"] = collections.OrderedDict([
        ("posix_system.pth", "refusing to load global posix.system"),
        ("posix_system_legacy.pth", "refusing to load global posix.system"),
        ("truncated.pth", "truncated"),
        ("truncated_legacy.pth", "truncated"),
        ("nontensor.pth", "epoch"),
    ])


# ---------------------------------------------------------------- main

def noncontig(sd):
    """The same values as sd, stored as strided views of other storages."""
    nc = collections.OrderedDict()
    shared = torch.cat([sd["rnn.bias_ih_l2"], sd["rnn.bias_hh_l2"]])
    for k, v in sd.items():
        if k == "rnn.weight_ih_l0":
            v = v.t().contiguous().t()  # strides swapped: (1, rows)
        elif k == "encoder.weight":
            wide = torch.full((v.size(0), v.size(1) + 3), -7.0)
            wide[:, 2:2 + v.size(1)] = v
            v = wide[:, 2:2 + v.size(1)]  # offset 2, row stride cols+3
        elif k == "rnn.weight_hh_l1":
            big = torch.full((v.numel() + 7,), -9.0)
            big[7:] = v.flatten()
            v = big[7:].view(v.shape)  # offset 7, storage longer than the tensor
        elif k == "rnn.bias_ih_l2":
            v = shared[: v.numel()]
        elif k == "rnn.bias_hh_l2":
            v = shared[v.numel():]  # same storage as bias_ih_l2, offset 40
        nc[k] = v
    for k in sd:
        assert torch.equal(nc[k], sd[k])
    assert not nc["rnn.weight_ih_l0"].is_contiguous()
    assert not nc["encoder.weight"].is_contiguous()
    return nc


def main():
    torch.set_num_threads(1)
    make_corpus()
    corpus = Corpus(out("corpus"))
    V = len(corpus.dictionary.idx2word)
    print("vocab", V, "tokens", len(corpus.train), len(corpus.valid), len(corpus.test))
    manifest = collections.OrderedDict()

    torch.manual_seed(SEED)
    deep = RNNModel(V, 12, 10, 3)
    sd = deep.state_dict()
    save(sd, "deep.pth", manifest)
    save(sd, "deep_legacy.pth", manifest, legacy=True)
    save(collections.OrderedDict((k, v.half()) for k, v in sd.items()), "deep_f16.pth", manifest)
    save(collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items()), "deep_bf16.pth", manifest)
    save(collections.OrderedDict((k, v.double()) for k, v in sd.items()), "deep_f64.pth", manifest)
    save(noncontig(sd), "deep_noncontig.pth", manifest)
    check = RNNModel(V, 12, 10, 3)
    check.load_state_dict(torch.load(out("deep_noncontig.pth")))
    print("deep loss", golden("deep", deep, corpus, ["deep.pth", "deep_legacy.pth", "deep_noncontig.pth"], 12, 10, 3, False))
    assert evaluate(check, batchify(corpus.test, 1))[0] == evaluate(deep, batchify(corpus.test, 1))[0]

    torch.manual_seed(SEED + 1)
    tied = RNNModel(V, 16, 16, 2, tie_weights=True)
    sd = tied.state_dict()
    assert sd["decoder.weight"].data_ptr() == sd["encoder.weight"].data_ptr()
    save(sd, "tied.pth", manifest)
    save(sd, "tied_legacy.pth", manifest, legacy=True)
    print("tied loss", golden("tied", tied, corpus, ["tied.pth", "tied_legacy.pth"], 16, 16, 2, True))

    # tiny: seeds for the Go fuzzers (a few hundred bytes each)
    torch.manual_seed(SEED + 2)
    lin = nn.Linear(3, 2)
    tiny = collections.OrderedDict([("weight", lin.weight.data), ("bias", lin.bias.data),
                                    ("tied", lin.weight.data), ("half", lin.bias.data.half())])
    save(tiny, "tiny.pth", manifest)
    save(tiny, "tiny_legacy.pth", manifest, legacy=True)
    # pickle protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL
    torch.save(tiny, out("tiny_p4.pth"), pickle_protocol=4)
    manifest["tiny_p4.pth"] = describe(tiny, "zip")

    special = [0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 6.103515625e-05, 5.960464477539063e-08,
               -5.960464477539063e-08, 3.0517578125e-05, 1e-3, 0.1, 1.0 / 3.0,
               float("inf"), float("-inf"), float("nan"), 1e30, 1e-40, 3.3895313892515355e+38]
    src = torch.tensor(special, dtype=torch.float64)
    sp = collections.OrderedDict([("f16", src.half()), ("bf16", src.bfloat16())])
    save_special = collections.OrderedDict()
    torch.save(sp, out("special.pth"))
    for k, v in sp.items():
        # float32 bit patterns of the values torch holds (exact, nan included)
        save_special[k] = {"dtype": DTYPES[v.dtype], "bits": v.float().view(torch.int32).tolist()}
    manifest["special.pth"] = save_special

    hostile(manifest)
    with open(out("tensors.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
