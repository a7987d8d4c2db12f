"""The PyTorch side of lstmq bench's anchors (anchors.sh runs it; see rnnlm.py for the model and the protocol).

usage: anchor.py export MODEL NONLINEARITY OUT_DIR
           OUT_DIR/meta.json {kind, ntoken, nlayers, nhid, describe}; OUT_DIR/fp32.onnx (the model + LogSoftmax,
           torch.onnx.export); for an LSTM also OUT_DIR/int8.onnx (each LSTM as com.microsoft DynamicQuantizeLSTM, the
           decoder as DynamicQuantizeMatMul). ONNX Runtime has no int8 GRU or RNN: for those there is no int8.onnx.
       anchor.py tokens META.json DATA_DIR ROWS BATCH OUT.bin
           batchify(test, BATCH)[:ROWS] as little-endian int32, row-major [rows, batch], for ort_eval.js
       anchor.py eval fp32|int8 MODEL NONLINEARITY DATA_DIR ROWS BATCH THREADS
           one JSON line {impl, which, kind, loss, seconds, tokens, threads, batch_size}; only the loop is timed
           (not loading, tokenizing or quantize_dynamic). tokens counts the targets scored, (rows - 1) * batch.
NONLINEARITY is '' (a state_dict RNN is tanh, as the example's default), tanh or relu.
"""
import json
import os
import sys
import time

import torch

import rnnlm


def export(path, nonlinearity, out_dir):
    import onnx
    model = rnnlm.load(path, nonlinearity)
    lstm = model.kind == 'LSTM'
    os.makedirs(out_dir, exist_ok=True)

    class Scored(torch.nn.Module):
        """tokens [seq, batch] int64, h0 (and c0) [layers, batch, nhid] -> log-probabilities [seq, batch, ntoken],
        hn (and cn): the loop picks -logprob[target] in JS, where PyTorch's loop has ATen's cross-entropy."""

        def __init__(self):
            super().__init__()
            self.lm = model

        def forward(self, tokens, h0, c0=None):
            logits, state = self.lm(tokens, (h0, c0) if lstm else h0)
            return (torch.log_softmax(logits, -1),) + (tuple(state) if lstm else (state,))

    names_in, names_out = ['tokens', 'h0'], ['logprobs', 'hn']
    if lstm:
        names_in.append('c0')
        names_out.append('cn')
    h0 = torch.zeros(model.nlayers, 2, model.nhid)  # batch 2 at export, so that no size-1 batch gets baked in
    args = (torch.zeros(3, 2, dtype=torch.int64), h0) + ((h0.clone(),) if lstm else ())
    axes = {'tokens': {0: 'seq', 1: 'batch'}, 'logprobs': {0: 'seq', 1: 'batch'}}
    axes.update({n: {1: 'batch'} for n in names_in[1:] + names_out[1:]})
    fp32 = os.path.join(out_dir, 'fp32.onnx')
    with torch.no_grad():
        torch.onnx.export(Scored().eval(), args, fp32, opset_version=14, do_constant_folding=True,
                          input_names=names_in, output_names=names_out, dynamic_axes=axes)
    graph = onnx.load(fp32)
    onnx.checker.check_model(graph)
    if lstm:
        import ort_int8
        q = ort_int8.rewrite(graph, model.nlayers)
        onnx.checker.check_model(q)
        onnx.save(q, os.path.join(out_dir, 'int8.onnx'))
    meta = {'kind': model.kind, 'ntoken': model.ntoken, 'nlayers': model.nlayers, 'nhid': model.nhid,
            'describe': model.describe()}
    with open(os.path.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f)


def tokens(meta_path, data_dir, rows, batch, out):
    with open(meta_path) as f:
        ntoken = json.load(f)['ntoken']
    data = rnnlm.test_data(data_dir, ntoken, batch, rows)
    data.numpy().astype('<i4').tofile(out)


def evaluate(which, path, nonlinearity, data_dir, rows, batch, threads):
    torch.set_num_threads(threads)
    model = rnnlm.load(path, nonlinearity)
    data = rnnlm.test_data(data_dir, model.ntoken, batch, rows)
    if which == 'int8':
        model = rnnlm.quantize_int8(model)
    elif which != 'fp32':
        raise SystemExit('which must be fp32 or int8, got %r' % which)
    start = time.perf_counter()
    loss = rnnlm.evaluate(model, data)
    seconds = time.perf_counter() - start
    print(json.dumps({'impl': 'pytorch', 'which': which, 'kind': model.kind, 'loss': loss, 'seconds': seconds,
                      'tokens': (data.size(0) - 1) * batch, 'threads': threads, 'batch_size': batch}))


def main(argv):
    cmd, args = (argv[1], argv[2:]) if len(argv) > 1 else ('', [])
    if cmd == 'export' and len(args) == 3:
        export(*args)
    elif cmd == 'tokens' and len(args) == 5:
        tokens(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif cmd == 'eval' and len(args) == 7:
        evaluate(args[0], args[1], args[2], args[3], int(args[4]), int(args[5]), int(args[6]))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
