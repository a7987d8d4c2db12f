// Package eval measures a language model's loss as the tutorial's evaluate()
// does: the data is cut into chunks of bptt steps, the hidden state is
// carried from chunk to chunk, and
//
//	loss = Σ_chunks len(chunk) · mean_{targets in chunk} CE  /  (steps − 1)
//
// where CE = log Σ_v exp(logit_v) − logit_target (natural log) and steps is
// the number of rows of the batchified data. Perplexity is exp(loss).
package eval
