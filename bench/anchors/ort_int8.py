"""ONNX Runtime's int8 LSTM LM, derived from the fp32 export: what onnxruntime's dynamic quantizer makes of it,
with the com.microsoft ops its CPU provider runs.

- Each LSTM node becomes DynamicQuantizeLSTM: W and R as int8, transposed to [num_directions, in, 4*nhid] and
  [num_directions, nhid, 4*nhid] as the op wants them; biases, initial states and attributes unchanged.
- The decoder (the MatMul with a constant [nhid, ntoken] weight, and the Add of its bias) becomes one
  DynamicQuantizeMatMul with that bias.
- Weights per tensor, symmetric, as onnxruntime's quantizer does for int8: scale = max|w| / 127, q = round(w /
  scale) clipped to [-127, 127], zero point 0. The activations are quantized to uint8 at run time by the ops.
- The embedding (Gather) stays float32, as in PyTorch's quantize_dynamic({LSTM, Linear}).

ONNX Runtime has no such op for GRU or RNN (onnxruntime#9796): those models have no int8 graph.
"""
import numpy as np
from onnx import helper, numpy_helper


def symmetric_int8(w):
    amax = float(np.max(np.abs(w)))
    scale = np.float32(amax / 127 if amax > 0 else 1)
    return np.clip(np.rint(w / scale), -127, 127).astype(np.int8), scale


def rewrite(model, nlayers):
    """The int8 model (a new graph in model, which is changed in place and returned)."""
    g = model.graph
    weights = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    consumers = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    added, nodes, skip = [], [], set()

    def const(name, array):
        added.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    n_lstm = n_dec = 0
    for node in g.node:
        if node.output and node.output[0] in skip:  # an Add folded into the decoder
            continue
        if node.op_type == 'LSTM':
            ins = list(node.input) + [''] * (8 - len(node.input))
            x, w, r, rest = ins[0], weights[ins[1]], weights[ins[2]], ins[3:8]
            wq, ws = symmetric_int8(w)
            rq, rs = symmetric_int8(r)
            p = 'int8_lstm%d.' % n_lstm
            q = helper.make_node(
                'DynamicQuantizeLSTM',
                [x, const(p + 'W', wq.transpose(0, 2, 1).copy()), const(p + 'R', rq.transpose(0, 2, 1).copy())] + rest +
                [const(p + 'W_scale', [ws]), const(p + 'W_zero_point', np.zeros(1, np.int8)),
                 const(p + 'R_scale', [rs]), const(p + 'R_zero_point', np.zeros(1, np.int8))],
                list(node.output), name=p + 'op', domain='com.microsoft')
            q.attribute.extend(node.attribute)
            nodes.append(q)
            n_lstm += 1
            continue
        if node.op_type == 'MatMul' and weights.get(node.input[1], np.zeros(0)).ndim == 2:
            bq, bs = symmetric_int8(weights[node.input[1]])
            ins = [node.input[0], const('int8_decoder.B', bq), const('int8_decoder.B_scale', bs),
                   const('int8_decoder.B_zero_point', np.int8(0))]
            out = node.output[0]
            users = consumers.get(out, [])
            if len(users) == 1 and users[0].op_type == 'Add':
                other = [i for i in users[0].input if i != out]
                if len(other) == 1 and weights.get(other[0], np.zeros((0, 0))).ndim == 1:
                    ins.append(other[0])
                    out = users[0].output[0]
                    skip.add(out)
            nodes.append(helper.make_node('DynamicQuantizeMatMul', ins, [out], name='int8_decoder.op',
                                          domain='com.microsoft'))
            n_dec += 1
            continue
        nodes.append(node)
    if n_lstm != nlayers or n_dec != 1:
        raise SystemExit('int8 graph: found %d LSTM nodes for %d layers and %d decoder MatMuls; want 1' % (
            n_lstm, nlayers, n_dec))
    used = {i for n in nodes for i in n.input}
    kept = [t for t in g.initializer if t.name in used]  # the float32 LSTM and decoder weights go
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(kept + added)
    model.opset_import.append(helper.make_opsetid('com.microsoft', 1))
    return model
