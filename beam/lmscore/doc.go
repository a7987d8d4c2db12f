// Package lmscore scores text corpora with an lstmq language model on
// Apache Beam: every line of every input file gets the library's sentence
// score (lstmq.Session.Score), written as JSON lines in shards.
//
//	p, s := beam.NewPipeScope()
//	lmscore.Pipeline(s, lmscore.Options{Model: "model.pth", Vocab: "data/wikitext-2",
//		Input: "corpus/*.txt", Output: "out/scores"})
//	res, err := beamx.RunWithMetrics(ctx, p)
//	sum := lmscore.Summarize(res)
//
// # The pipeline
//
// Read matches the input glob through Beam's file systems and reads each
// file whole, in order, so that it can number the lines: Line.Line counts
// from 1, as `lstmq score` numbers its "line". (textio's readers split a
// file at byte offsets and cannot know line numbers.) A line is the text
// up to "\n", without it, as `lstmq score` reads it; a line longer than
// MaxLineBytes is a failure. The lines are then reshuffled, so that the
// scoring spreads over the workers whatever the files' sizes.
//
// Score opens the model in its Setup and keeps it for the life of the
// worker: every DoFn instance of a worker process with the same settings
// shares one immutable lstmq.Model (the llama.cpp split: weights shared,
// a Session of state and scratch per instance). It gathers the lines of a
// bundle, 64 batches' worth at a time, and scores them with one
// Session.Score call, which sorts them by length and runs them in padded
// batches of Options.BatchSize, as `lstmq score` does with its chunks; the
// rest of a bundle is scored in FinishBundle. In float32 the scores do not depend on
// the batch; in int8 the activations' scale is chosen per call over the
// batch, so batched scores move slightly (see the lstmq documentation).
//
// A line that cannot be scored (invalid UTF-8, more words than
// Options.MaxWords, a word outside a vocabulary without <unk>, a line too
// long to read) goes to the dead-letter output with the reason, and the
// job goes on. Only a model that cannot be opened, or an input or output
// that cannot be read or written, fails the job.
//
// # Output
//
// Each scored line becomes one JSON object, the fields of `lstmq score`
// with the line's file and text:
//
//	{"file": "corpus/a.txt", "line": 3, "text": "…", "logprob": -61.2, "tokens": 12, "oov": 0, "ppl": 164.3}
//
// tokens is the number of predicted words, the line's words and the final
// <eos> (n + 1); oov how many of them were scored as <unk>; ppl is
// exp(−logprob / tokens) (lstmq.SentenceScore.Perplexity). A failure is
//
//	{"file": "corpus/a.txt", "line": 7, "text": "…", "error": "…"}
//
// with the text as JSON encodes it (invalid UTF-8 becomes U+FFFD).
//
// The objects are written to Options.Shards files
// OUTPUT-SSSSS-of-NNNNN.jsonl, a line's shard chosen by a hash of its
// object; the order within a shard is not defined (sort by file, line).
// With Options.Cuts {a, b}, the perplexity buckets of CCNet replace that
// output: OUTPUT-head-… (ppl < a), OUTPUT-middle-… (a ≤ ppl < b) and
// OUTPUT-tail-… (ppl ≥ b, or not a number), so that every line is in
// exactly one. Failures go to DEADLETTER-00000-of-00001.jsonl (by default
// OUTPUT-deadletter). So every input line is in exactly one file of
// OUTPUT*: scored, or failed. Every shard file is written, empty or not;
// each is written under a temporary name and renamed when complete.
//
// # Metrics
//
// In the namespace "lstmq": counters sentences (lines scored), words (their
// words, without the <eos> of each), tokens (words + sentences), oov,
// failed (dead-letter lines), models_loaded (lstmq.Open calls: one per
// worker process, not one per bundle or DoFn instance), setups (DoFn
// instances set up), batches (Score calls), nll_micro (−Σ logprob in
// millionths of a nat, for the corpus perplexity); a distribution
// ppl_milli (1000 × each line's perplexity, rounded). Summarize reads them
// from a pipeline's result.
//
// # Model files
//
// Options.Model and Options.Vocab are local paths that every worker can
// read (a shared or baked-in path), or paths on any file system Beam has
// registered (gs://, s3://, memfs:// …): such a file is copied to a
// temporary folder of the worker in Setup, opened, and removed. A corpus
// folder given as the vocabulary is copied as its train.txt, valid.txt and
// test.txt.
package lmscore
