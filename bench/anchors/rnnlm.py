"""The recurrent word LMs of PyTorch's word_language_model example, as lstmq bench's anchors run them.

- LM: Embedding(ntoken, ninp) -> LSTM | GRU | RNN(tanh|relu) (ninp, nhid, nlayers) -> Linear(nhid, ntoken), with
  the example's parameter names (encoder.*, rnn.*, decoder.*). No dropout: the anchors only evaluate.
- load(): a state_dict file (.pth, the kind read from the rows of rnn.weight_hh_l0: 4*nhid LSTM, 3*nhid GRU,
  nhid RNN, whose nonlinearity a state_dict does not record) or the file the example's main.py writes,
  torch.save(model) (.pt), unpickled with the example's model.py (this repository's testdata/torch/rnn/model.py;
  $PYTHONPATH may put the user's own first).
- Corpus, batchify() and evaluate() as the example and the dynamic quantization tutorial define them: the
  dictionary in order of first appearance over train, valid, test, '<eos>' after every line; the loss is
  sum over chunks of len(chunk) * mean cross-entropy, divided by (rows - 1).
"""
import os
import sys

import torch
import torch.nn as nn

BPTT = 25
KINDS = ('LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU')
EXAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'testdata', 'torch', 'rnn')


class LM(nn.Module):
    def __init__(self, kind, ntoken, ninp, nhid, nlayers):
        super().__init__()
        if kind not in KINDS:
            raise ValueError('unknown kind %r (want one of %s)' % (kind, ', '.join(KINDS)))
        self.kind, self.ntoken, self.nhid, self.nlayers = kind, ntoken, nhid, nlayers
        self.encoder = nn.Embedding(ntoken, ninp)
        if kind in ('LSTM', 'GRU'):
            self.rnn = getattr(nn, kind)(ninp, nhid, nlayers)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=kind[4:].lower())
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x, state):
        y, state = self.rnn(self.encoder(x), state)
        return self.decoder(y), state

    def zero_state(self, batch):
        h = torch.zeros(self.nlayers, batch, self.nhid)
        return (h, h.clone()) if self.kind == 'LSTM' else h

    def describe(self):
        ninp = self.encoder.embedding_dim
        return '%s: Embedding(%d, %d), %s(%d, %d, num_layers=%d), Linear(%d, %d)' % (
            self.kind, self.ntoken, ninp, self.kind if self.kind in ('LSTM', 'GRU') else 'RNN', ninp, self.nhid,
            self.nlayers, self.nhid, self.ntoken)


def _unpickle_module(path):
    """torch.save(model) of the example's RNNModel: a full unpickle, with the example's model.py importable and
    its class also reachable as __main__.RNNModel (a copy of the class in the user's training script)."""
    if os.path.isdir(EXAMPLE_DIR) and EXAMPLE_DIR not in sys.path:
        sys.path.append(EXAMPLE_DIR)  # after $PYTHONPATH: a user's own model.py wins
    import __main__
    try:
        import model as example
        if not hasattr(__main__, 'RNNModel'):
            __main__.RNNModel = example.RNNModel
    except ImportError:
        pass
    return torch.load(path, map_location='cpu', weights_only=False)


def read(path):
    """(state_dict, kind or None): kind is the module's own for a torch.save(model) file, None for a state_dict."""
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as first:  # not plain tensors: a pickled module (or not a checkpoint at all)
        try:
            obj = _unpickle_module(path)
        except Exception as second:
            raise SystemExit('%s: neither a state_dict (%s) nor a torch.save(model) file (%s)' % (
                path, str(first).splitlines()[0], second))
    if isinstance(obj, nn.Module):
        rnn = getattr(obj, 'rnn', None)
        if not isinstance(rnn, nn.RNNBase):
            raise SystemExit('%s: a %s without an LSTM, GRU or RNN as .rnn' % (path, type(obj).__name__))
        return obj.state_dict(), rnn.mode
    if not isinstance(obj, dict):
        raise SystemExit('%s: holds a %s, not a state_dict' % (path, type(obj).__name__))
    return obj, None


def kind_of(sd, nonlinearity, path='model'):
    """The kind from the shapes: rows of rnn.weight_hh_l0 over nhid."""
    if 'rnn.weight_hh_l0' not in sd:
        if any('_packed_params' in k or '_all_weight_values' in k for k in sd):
            raise SystemExit('%s: already quantized; give the float32 model' % path)
        raise SystemExit('%s: no rnn.weight_hh_l0: not a word_language_model checkpoint' % path)
    rows, nhid = sd['rnn.weight_hh_l0'].shape
    gates = {4: 'LSTM', 3: 'GRU', 1: 'RNN'}.get(rows // nhid if rows % nhid == 0 else 0)
    if gates is None:
        raise SystemExit('%s: rnn.weight_hh_l0 has %d rows for hidden size %d' % (path, rows, nhid))
    if gates != 'RNN':
        return gates
    if nonlinearity not in ('', 'tanh', 'relu'):
        raise SystemExit('nonlinearity must be tanh or relu, got %r' % nonlinearity)
    return 'RNN_RELU' if nonlinearity == 'relu' else 'RNN_TANH'


def load(path, nonlinearity=''):
    """LM in eval mode, float32, from either kind of file."""
    sd, kind = read(path)
    shape_kind = kind_of(sd, nonlinearity, path)
    if kind is None:
        kind = shape_kind
    elif nonlinearity and kind.startswith('RNN') and kind != 'RNN_' + nonlinearity.upper():
        raise SystemExit('%s: nonlinearity %r, but the file holds %s' % (path, nonlinearity, kind))
    ntoken, ninp = sd['encoder.weight'].shape
    nhid = sd['rnn.weight_hh_l0'].shape[1]
    nlayers = sum(1 for k in sd if k.startswith('rnn.weight_ih_l'))
    lm = LM(kind, ntoken, ninp, nhid, nlayers)
    lm.load_state_dict({k: v.float() for k, v in sd.items()})  # strict: any other layout is refused here
    return lm.eval()


def dictionary_and_test(data_dir):
    """(number of words, test ids) with the dictionary built over train, valid, test in that order."""
    w2i, test = {}, []
    for name in ('train.txt', 'valid.txt', 'test.txt'):
        with open(os.path.join(data_dir, name), encoding='utf8') as f:
            for line in f:
                for w in line.split() + ['<eos>']:
                    i = w2i.setdefault(w, len(w2i))
                    if name == 'test.txt':
                        test.append(i)
    return len(w2i), torch.tensor(test, dtype=torch.int64)


def batchify(ids, batch):
    """main.py's batchify: [rows, batch], column b the b-th of batch equal slices; the tail is dropped."""
    rows = ids.size(0) // batch
    return ids[:rows * batch].view(batch, rows).t().contiguous()


def test_data(data_dir, ntoken, batch, rows):
    """batchify(test, batch)[:rows] (rows 0: all), after checking the dictionary against the model."""
    nwords, test = dictionary_and_test(data_dir)
    if nwords != ntoken:
        raise SystemExit('%s: the dictionary has %d words, the model %d' % (data_dir, nwords, ntoken))
    data = batchify(test, batch)
    if rows:
        data = data[:rows]
    if data.size(0) < 2:
        raise SystemExit('%s: %d rows at batch size %d; need at least 2' % (data_dir, data.size(0), batch))
    return data


def evaluate(model, data, bptt=BPTT):
    """The tutorial's evaluate(): chunks of bptt rows, state carried, sum(len(chunk) * mean CE) / (rows - 1)."""
    crit = nn.CrossEntropyLoss()
    total, state = 0.0, model.zero_state(data.size(1))
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            n = min(bptt, data.size(0) - 1 - i)
            out, state = model(data[i:i + n], state)
            total += n * crit(out.view(-1, model.ntoken), data[i + 1:i + 1 + n].reshape(-1)).item()
    return total / (data.size(0) - 1)


def quantize_int8(model):
    """quantize_dynamic({LSTM, GRU, Linear}, qint8) on the onednn engine (Debian's PyTorch has no fbgemm).
    quantize_dynamic has no int8 nn.RNN: for RNN_TANH and RNN_RELU only the decoder becomes int8."""
    torch.backends.quantized.engine = 'onednn'
    return torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)
