// Package generate samples text from a language model as the tutorial does:
// the first word is drawn uniformly from the vocabulary, then each next word
// w is drawn with probability softmax(logits / temperature)_w, feeding each
// drawn word back as the next input with the hidden state carried.
package generate
