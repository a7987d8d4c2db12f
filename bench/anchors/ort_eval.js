'use strict';
// The ONNX Runtime side of lstmq bench's anchors: the tutorial's evaluate() on a graph from `anchor.py export`
// (fp32.onnx or int8.onnx beside its meta.json), over the token rows `anchor.py tokens` wrote.
//
// usage: node ort_eval.js MODEL.onnx TOKENS.bin BATCH THREADS
//   -> one JSON line {impl, which, kind, loss, seconds, tokens, threads, batch_size}
//
// Chunks of 25 rows, the state (h, and c for an LSTM) carried from chunk to chunk; the graph ends in LogSoftmax
// and the loop adds -logprob[target], so loss = sum / batch / (rows - 1), which is the tutorial's
// sum(len(chunk) * mean CE) / (rows - 1). THREADS intra-op threads, one inter-op thread, sequential execution.
// Only the loop is timed, not the session's creation (which prepacks the weights).
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const BPTT = 25;

async function main(modelFile, tokenFile, batchArg, threadsArg) {
  const batch = Number(batchArg), threads = Number(threadsArg);
  if (!(batch >= 1 && threads >= 1)) throw new Error('usage: node ort_eval.js MODEL.onnx TOKENS.bin BATCH THREADS');
  const meta = JSON.parse(fs.readFileSync(path.join(path.dirname(modelFile), 'meta.json'), 'utf8'));
  const which = path.basename(modelFile, '.onnx');
  const session = await ort.InferenceSession.create(modelFile, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', executionMode: 'sequential',
    intraOpNumThreads: threads, interOpNumThreads: 1,
  });
  const buf = fs.readFileSync(tokenFile);
  const ids = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const rows = ids.length / batch;
  if (!Number.isInteger(rows) || rows < 2) throw new Error(`${tokenFile}: ${ids.length} ids do not make >= 2 rows of ${batch}`);

  const zero = () => new ort.Tensor('float32', new Float32Array(meta.nlayers * batch * meta.nhid), [meta.nlayers, batch, meta.nhid]);
  const lstm = meta.kind === 'LSTM';
  let h = zero(), c = lstm ? zero() : null;
  let sum = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < rows - 1; i += BPTT) {
    const n = Math.min(BPTT, rows - 1 - i);
    const x = new BigInt64Array(n * batch);
    for (let k = 0; k < n * batch; k++) x[k] = BigInt(ids[i * batch + k]);
    const feeds = { tokens: new ort.Tensor('int64', x, [n, batch]), h0: h };
    if (lstm) feeds.c0 = c;
    const out = await session.run(feeds);
    const lp = out.logprobs.data, V = meta.ntoken;
    for (let k = 0; k < n * batch; k++) sum -= lp[k * V + ids[(i + 1) * batch + k]];
    h = out.hn;
    if (lstm) c = out.cn;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({
    impl: 'ort', which, kind: meta.kind, loss: sum / batch / (rows - 1), seconds,
    tokens: (rows - 1) * batch, threads, batch_size: batch,
  }));
}

main(...process.argv.slice(2)).catch((e) => { console.error(`ort_eval.js: ${e.message || e}`); process.exit(1); });
